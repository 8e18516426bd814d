// The one file of medflowd that includes Boost.Beast (see http1.hpp).
//
// Both readers subclass Beast's basic_parser rather than use request_parser<string_body> and
// response_parser<string_body>: string_body reserves the whole announced Content-Length before
// a byte of the body has come (up to the body limit: http.max_body_bytes for a request, 256
// MiB for a response), so a peer could make every connection allocate that much with one
// header line; here a body reserves at most 1 MiB up front and grows as it arrives. The
// subclass also writes straight into net::request (no second copy of each header), keeps
// trailer fields out of the headers, and sees each field as Beast reads it (where the checks
// below live). Measured, it costs the same as request_parser<string_body> plus the copy into
// net::request (≈ 0.2 µs for a 48-byte GET, ≈ 1.1 µs for a 255-byte POST on this VM).
#include "net/http1.hpp"

#include "core/log.hpp"
#include "core/strings.hpp"
#include "net/status.hpp"

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <optional>

namespace medflow::net {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using beast::error_code;
using bhttp::error;

namespace {

// A Content-Length body reserves at most this up front: the header is the peer's word, not
// memory we have agreed to hand out.
constexpr size_t max_reserve = 1024 * 1024;
// reset() keeps a body's buffer for the next message unless it grew beyond this.
constexpr size_t max_kept_capacity = 1024 * 1024;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// A Host value (RFC 9110 7.2): uri-host [":" port], or empty. Checked for its characters
// (RFC 3986's unreserved, pct-encoded, sub-delims, and ':' '[' ']' of ports and IP literals):
// no space, '@', '/', or anything else that would make it another URI part.
bool valid_host(std::string_view v) {
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok && (c == '\0' || std::strchr("-._~%!$&'()*+,;=:[]", c) == nullptr)) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty element of a comma-separated list, OWS trimmed.
template <typename F>
void for_each_element(std::string_view list, F f) {
  for (;;) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// An obs-fold (RFC 9112 5.2) in the field Beast has just read, whose name starts at `name` in
// the input ending at `end`: its first line end is followed by SP or HT. Beast joins such
// lines into one value; hops that do not would read another header, so they are refused.
bool folded(const char* name, const char* end) {
  auto* lf = static_cast<const char*>(std::memchr(name, '\n', static_cast<size_t>(end - name)));
  return lf && lf + 1 < end && is_ows(lf[1]);
}

// A message head's fields, allocated from a buffer on the writer's stack: an answer's few
// headers cost no heap allocation.
using arena_fields = bhttp::basic_fields<std::pmr::polymorphic_allocator<char>>;
constexpr size_t arena_bytes = 2048;

// Appends the head Beast writes for `h` (start line, fields, the empty line) to `out`, then
// the body as is (its framing is the Content-Length in the head). Beast's fields writer, not
// its serializer: for an answer like /healthz's the serializer's buffer views cost ≈ 1.2 µs,
// the writer ≈ 0.3 µs (a 2-core VM, -O2), and no body here needs chunking.
template <bool is_request>
void write_message(std::string& out, const bhttp::header<is_request, arena_fields>& h,
                   std::string_view body) {
  auto writer = [&] {
    if constexpr (is_request) return arena_fields::writer(h, h.version(), h.method());
    else return arena_fields::writer(h, h.version(), h.result_int());
  }();
  auto buffers = writer.get();
  size_t size = body.size();
  for (auto b : beast::buffers_range_ref(buffers)) size += b.size();
  out.reserve(out.size() + size);
  for (auto b : beast::buffers_range_ref(buffers))
    out.append(static_cast<const char*>(b.data()), b.size());
  out.append(body);
}

// The request line's version, when it is well-formed and names one we do not speak (505)
// rather than being malformed (400): "METHOD target HTTP/<digit>.<digit>", not 1.0 or 1.1.
bool other_version(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return false;
  std::string_view v = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (v.size() != 8 || v.compare(0, 5, "HTTP/") != 0 || !digit(v[5]) || v[6] != '.' ||
      !digit(v[7]))
    return false;
  return !(v[5] == '1' && (v[7] == '0' || v[7] == '1'));
}

enum class head_scan { more, complete, broken, too_large };

// Looks for the end of a head's fields (the empty line) in [p, p + n), which starts where the
// fields do (after the start line), from `from` on; `from` is then where the next call on the
// same bytes (and more) resumes. Beast is handed the fields only when they are whole: given
// part of them it parses what lines it can and defers the rest until their end comes, so the
// error a malformed head gets would depend on how the reads split it, and a line end broken
// by a lone CR or LF would hold the connection until its read timeout. `len`: the fields'
// length with the empty line (complete), or the bytes up to a lone CR or LF (broken: Beast,
// given those, reports the first error in them; RFC 9112 2.2 lets us refuse a bare LF).
head_scan scan_head(const char* p, size_t n, size_t& from, size_t& len) {
  for (size_t i = from; i < n; ++i) {
    if (p[i] == '\r') {
      if (i + 1 == n) {
        from = i;  // its LF may come with the next read
        return head_scan::more;
      }
      if (p[i + 1] != '\n') {
        len = i + 2;
        return head_scan::broken;
      }
    } else if (p[i] == '\n') {
      len = i + 1;
      if (i == 0 || p[i - 1] != '\r') return head_scan::broken;
      if (i == 1 || (p[i - 2] == '\n' && p[i - 3] == '\r')) return head_scan::complete;
    }
  }
  from = n;
  return head_scan::more;
}

// scan_head for a reader `o` (request or response) whose head may take o.lim.max_head bytes, of
// which o.head_bytes are taken: too_large when the fields would pass that. A malformed line
// within the allowance was there first, so Beast is given what fits, and its error, if any,
// goes to `on_error` before too_large is returned.
template <class Reader, class OnError>
head_scan scan_head_within(Reader& o, const char* at, const char* end, size_t& len,
                           OnError on_error) {
  size_t avail = static_cast<size_t>(end - at);
  head_scan r = scan_head(at, avail, o.scanned, len);
  size_t room = o.lim.max_head - std::min(o.head_bytes, o.lim.max_head);
  if (r == head_scan::more ? avail <= room : len <= room) return r;
  boost::beast::error_code ec;
  o.put(at, at + std::min(avail, room), ec);
  if (o.st == decltype(o.st)::need_more && ec && ec != bhttp::error::need_more) on_error(ec);
  return head_scan::too_large;
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// -- request_reader -------------------------------------------------------------------------

struct request_reader::impl {
  // Beast's parser, its callbacks writing into the impl. One per request: Beast's parsers
  // are not reusable.
  class parser : public bhttp::basic_parser<true> {
   public:
    explicit parser(impl& o) : o_(o) {}

   private:
    void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                         int version, error_code&) override {
      o_.req.method.assign(method.data(), method.size());
      o_.req.target.assign(target.data(), target.size());
      o_.req.version = version;
    }
    void on_response_impl(int, beast::string_view, int, error_code&) override {}
    void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value,
                       error_code& ec) override {
      if (folded(name.data(), o_.in_end)) return o_.refuse(ec, 400, "folded header line");
      if (o_.head_complete) return;  // a trailer: held to the grammar by Beast, then dropped
      std::string_view v(value.data(), value.size());
      if (f == bhttp::field::content_length) {
        o_.has_cl = true;
      } else if (f == bhttp::field::transfer_encoding) {
        o_.has_te = true;
        for_each_element(v, [this](std::string_view coding) {
          if (o_.te_chunked_last) o_.te_chunked_early = true;
          o_.te_chunked_last = strings::iequals(coding, "chunked");
          if (!o_.te_chunked_last) o_.te_other = true;
        });
      } else if (f == bhttp::field::host) {
        ++o_.hosts;
        if (!valid_host(v)) o_.bad_host = true;
      } else if (f == bhttp::field::expect) {
        if (strings::iequals(trim_ows(v), "100-continue")) o_.expect = true;
      } else if (f == bhttp::field::connection) {
        // Ours rather than Beast's keep_alive(): that one also reads Proxy-Connection, and
        // keeps an HTTP/1.0 "keep-alive, close" open.
        for_each_element(v, [this](std::string_view token) {
          if (strings::iequals(token, "close")) o_.conn_close = true;
          else if (strings::iequals(token, "keep-alive")) o_.conn_keep_alive = true;
        });
      }
      o_.req.headers.emplace_back(std::string(name.data(), name.size()), std::string(v));
    }
    void on_header_impl(error_code& ec) override {
      o_.head_complete = true;
      // What Beast lets through and request smuggling needs closed (RFC 9112 6.1, 6.3): hops
      // that frame a request by different headers read different requests.
      if (o_.has_te) {
        if (o_.has_cl) return o_.refuse(ec, 400, "both Content-Length and Transfer-Encoding");
        if (o_.req.version == 10)
          return o_.refuse(ec, 400, "Transfer-Encoding in HTTP/1.0 request");
        // Without chunked last, exactly once, the length cannot be known: 400. A coding we
        // cannot decode is 501.
        if (!o_.te_chunked_last || o_.te_chunked_early)
          return o_.refuse(ec, 400, "invalid Transfer-Encoding");
        if (o_.te_other) return o_.refuse(ec, 501, "transfer coding not supported");
      }
      // RFC 9112 3.2: which host a request is for may not be left to guess, nor be two.
      if (o_.hosts > 1) return o_.refuse(ec, 400, "more than one Host header");
      if (o_.hosts == 0 && o_.req.version == 11) return o_.refuse(ec, 400, "missing Host header");
      if (o_.bad_host) return o_.refuse(ec, 400, "invalid Host header");
      // The announced body leases its bytes now, before any comes (or a 100 Continue asks
      // for them). Beast has held the length to max_body: it fits a size_t. Chunked bodies
      // lease each chunk's size as its line comes.
      auto length = content_length();
      if (length && !o_.lease.grow(static_cast<size_t>(*length)))
        return o_.refuse(ec, 503, "too many request bodies in flight");
      bool http11 = o_.req.version == 11;
      o_.keep_alive = !o_.conn_close && (http11 || o_.conn_keep_alive);
      o_.expect_continue = http11 && o_.expect;
      o_.at_chunk_line = o_.has_te;
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
      if (!length) return;
      o_.req.body.reserve(static_cast<size_t>(std::min<uint64_t>(*length, max_reserve)));
    }
    size_t on_body_impl(beast::string_view body, error_code&) override {
      o_.req.body.append(body.data(), body.size());
      return body.size();
    }
    void on_chunk_header_impl(std::uint64_t size, beast::string_view, error_code& ec) override {
      o_.at_chunk_line = false;
      // Beast holds the chunks' total to max_body.
      if (!o_.lease.grow(static_cast<size_t>(size)))
        return o_.refuse(ec, 503, "too many request bodies in flight");
    }
    size_t on_chunk_body_impl(std::uint64_t remain, beast::string_view body,
                              error_code&) override {
      o_.req.body.append(body.data(), body.size());
      if (remain == body.size()) o_.at_chunk_line = o_.crlf_first = true;  // the chunk is whole
      return body.size();
    }
    void on_finish_impl(error_code&) override {}

    impl& o_;
  };

  explicit impl(limits l) : lim(l), lease(l.body_budget) { start(); }

  void start() {
    parser_.emplace(*this);
    parser_->header_limit(static_cast<std::uint32_t>(std::min<size_t>(lim.max_head, UINT32_MAX)));
    parser_->body_limit(lim.max_body);
    parser_->eager(false);  // set after the head, whose size is counted on its own
  }

  void clear() {
    st = state::need_more;
    req.method.clear();
    req.target.clear();
    req.raw_path.clear();
    req.path.clear();
    req.version = 11;
    req.headers.clear();
    req.params.clear();
    // A moved-from body is valid but unspecified; one that grew large is not worth keeping.
    if (req.body.capacity() > max_kept_capacity) req.body = std::string();
    req.body.clear();
    req.remote_addr.clear();
    req.remote_port = -1;
    head_complete = received_any = line_seen = false;
    head_bytes = scanned = 0;
    keep_alive = true;
    expect_continue = expect = conn_close = conn_keep_alive = has_cl = has_te = false;
    te_chunked_last = te_chunked_early = te_other = false;
    at_chunk_line = crlf_first = false;
    trailers_scanned = 0;
    hosts = 0;
    bad_host = false;
    error_status = 0;
    error_text.clear();
    lease.release();
    start();
  }

  void refuse(error_code& ec, int status, const char* why) {
    fail(status, why);
    ec = error::bad_value;  // stops Beast; the status and text above are what counts
  }
  void fail(int status, const char* why) {
    if (st == state::error) return;
    st = state::error;
    error_status = status;
    error_text = why;
  }

  size_t feed(const char* data, size_t n);
  bool take_line(const char*& at, const char* end);
  size_t take_head(const char* at, const char* end);
  const char* chunk_line_end(const char* at, const char* end);
  size_t put(const char* at, const char* end, error_code& ec);
  void fail_from(const error_code& ec, const char* at, const char* end);

  limits lim;
  budget_lease lease;  // on lim.body_budget, for the body being read
  std::optional<parser> parser_;
  const char* in_end = nullptr;  // of the bytes the running put() was given, for the callbacks
  state st = state::need_more;
  request req;
  bool head_complete = false;
  bool received_any = false;
  bool line_seen = false;  // the request line is whole in the input: Beast may take it
  size_t head_bytes = 0;   // towards max_head: empty lines before the request line, the head
  size_t scanned = 0;      // of the head in the input, looked at for its end already
  bool keep_alive = true;
  bool expect_continue = false;
  bool expect = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool has_cl = false;
  bool has_te = false;
  bool te_chunked_last = false;   // the last coding so far is chunked
  bool te_chunked_early = false;  // a chunked followed by another coding
  bool te_other = false;          // a coding other than chunked
  int hosts = 0;                  // Host fields
  bool bad_host = false;          // one of them is not a host[:port]
  // Chunked: the input is at a chunk-size line (after the CRLF ending the last chunk's data
  // when crlf_first), and how far the trailers after a last chunk were looked at.
  bool at_chunk_line = false;
  bool crlf_first = false;
  size_t trailers_scanned = 0;
  int error_status = 0;
  std::string error_text;
};

// The request line: skips the empty lines before it, holds it to its own bound (414, which
// Beast does not have), and hands it to Beast once whole. False: more bytes are needed, or it
// failed.
bool request_reader::impl::take_line(const char*& at, const char* end) {
  while (at < end && (*at == '\n' || *at == '\r')) {
    size_t eol = 1;
    if (*at == '\r') {
      if (end - at < 2) return false;  // CR LF split across reads
      if (at[1] != '\n') break;        // Beast refuses the line
      eol = 2;
    }
    at += eol;
    head_bytes += eol;
    if (head_bytes > lim.max_head) return fail(431, "request header fields too large"), false;
  }
  if (at == end) return false;
  size_t room = lim.max_request_line + 2;  // with its CRLF
  size_t avail = static_cast<size_t>(end - at);
  auto* lf = static_cast<const char*>(std::memchr(at, '\n', std::min(avail, room)));
  if (!lf) {
    if (avail >= room) fail(414, "request line too long");
    return false;
  }
  size_t len = static_cast<size_t>(lf - at);
  if (len > 0 && at[len - 1] == '\r') --len;
  if (len > lim.max_request_line) return fail(414, "request line too long"), false;
  // The line alone: Beast parses a whole start line at once, whatever follows.
  error_code ec;
  size_t k = put(at, lf + 1, ec);
  if (st == state::error) return false;
  if (ec && ec != error::need_more) return fail_from(ec, at, end), false;
  if (k != static_cast<size_t>(lf + 1 - at)) return fail(400, "malformed request line"), false;
  at += k;
  head_bytes += k;
  line_seen = true;
  return true;
}

size_t request_reader::impl::put(const char* at, const char* end, error_code& ec) {
  in_end = end;
  return parser_->put(boost::asio::const_buffer(at, static_cast<size_t>(end - at)), ec);
}

// The head, to Beast in one piece once it is whole (see scan_head). Returns the bytes taken.
size_t request_reader::impl::take_head(const char* at, const char* end) {
  size_t len = 0;
  head_scan r = scan_head_within(*this, at, end, len,
                                 [&](const error_code& ec) { fail_from(ec, at, end); });
  if (r == head_scan::too_large) {
    head_complete = false;
    fail(431, "request header fields too large");
    return 0;
  }
  if (r == head_scan::more) return 0;
  error_code ec;
  size_t k = put(at, at + len, ec);  // not eager: stops at the head's end
  if (st == state::error) return k;  // refused in a callback
  if (ec && ec != error::need_more) {
    fail_from(ec, at, end);
    return k;
  }
  if (r == head_scan::broken || !parser_->is_header_done()) {
    fail(400, "malformed line ending");
    return k;
  }
  head_bytes += k;
  return k;
}

size_t request_reader::impl::feed(const char* data, size_t n) {
  if (n == 0 || st != state::need_more) return 0;
  received_any = true;
  const char* at = data;
  const char* const end = data + n;
  if (!parser_->is_header_done()) {
    if (!line_seen && !take_line(at, end)) return static_cast<size_t>(at - data);
    at += take_head(at, end);
    if (st != state::need_more || !parser_->is_header_done()) return static_cast<size_t>(at - data);
    if (parser_->is_done()) {
      st = state::done;
      return static_cast<size_t>(at - data);
    }
    parser_->eager(true);  // the body, in as few calls as the reads allow
  }
  while (at < end && st == state::need_more) {
    const char* until = end;
    if (at_chunk_line && !(until = chunk_line_end(at, end))) break;
    error_code ec;
    at += put(at, until, ec);
    if (st == state::error) break;  // refused in a callback
    if (ec == error::need_more) break;
    if (ec) {
      fail_from(ec, at, end);
      break;
    }
    if (parser_->is_done()) st = state::done;
  }
  return static_cast<size_t>(at - data);
}

// At a chunk-size line: how far Beast may be given the input. Each chunk-size line has a
// bound (Beast has none); the last chunk goes with its trailers, once they are whole and within
// max_head (Beast would look for their end in all it is given), as a head's fields do.
// nullptr: wait for more, or failed.
const char* request_reader::impl::chunk_line_end(const char* at, const char* end) {
  const char* line = at;
  if (crlf_first) {
    if (end - at < 2) return nullptr;
    if (at[0] != '\r' || at[1] != '\n') return end;  // Beast refuses it
    line += 2;
  }
  size_t room = lim.max_request_line + 2;
  size_t avail = static_cast<size_t>(end - line);
  auto* lf = static_cast<const char*>(std::memchr(line, '\n', std::min(avail, room)));
  if (!lf) {
    if (avail >= room) fail(400, "chunk size line too long");
    return nullptr;
  }
  if (lf == line || lf[-1] != '\r') return fail(400, "malformed line ending"), nullptr;
  if (static_cast<size_t>(lf - 1 - line) > lim.max_request_line)
    return fail(400, "chunk size line too long"), nullptr;
  size_t zeros = 0;
  while (line + zeros < lf && line[zeros] == '0') ++zeros;
  bool hex = line + zeros < lf && std::isxdigit(static_cast<unsigned char>(line[zeros]));
  if (zeros == 0 || hex) return lf + 1;  // not the last chunk: Beast reads the line alone
  const char* trailers = lf + 1;
  size_t len = 0;
  size_t have = static_cast<size_t>(end - trailers);
  head_scan r = scan_head(trailers, have, trailers_scanned, len);
  if (r == head_scan::more ? have > lim.max_head : len > lim.max_head)
    return fail(431, "trailer fields too large"), nullptr;
  if (r == head_scan::more) return nullptr;
  if (r == head_scan::broken) {
    // Beast reports an error in the trailers before the broken line end, if any; else it is
    // that line end's.
    error_code ec;
    put(at, trailers + len, ec);
    if (st == state::need_more) {
      if (ec && ec != error::need_more) fail_from(ec, at, end);
      else fail(400, "malformed line ending");
    }
    return nullptr;
  }
  return trailers + len;
}

// The status and text for an error of Beast's. `at` is where Beast stopped: for an error in
// the request line, its start.
void request_reader::impl::fail_from(const error_code& ec, const char* at, const char* end) {
  if (ec == error::header_limit) {
    if (head_complete) return fail(431, "trailer fields too large");
    return fail(431, "request header fields too large");
  }
  if (ec == error::body_limit) return fail(413, "request body too large");
  if (ec == error::bad_method || ec == error::bad_target)
    return fail(400, "malformed request line");
  if (ec == error::bad_version) {
    if (req.method.empty()) {  // in the request line, which Beast left at `at`
      auto* lf = static_cast<const char*>(std::memchr(at, '\n', static_cast<size_t>(end - at)));
      std::string_view line(at, lf ? static_cast<size_t>(lf - at) : static_cast<size_t>(end - at));
      if (other_version(line)) return fail(505, "HTTP version not supported");
    }
    return fail(400, "malformed request line");
  }
  if (ec == error::bad_field) return fail(400, "malformed header line");
  if (ec == error::bad_value) return fail(400, "invalid header value");
  if (ec == error::bad_line_ending) return fail(400, "malformed line ending");
  if (ec == error::bad_content_length) {
    if (has_te) return fail(400, "both Content-Length and Transfer-Encoding");
    return fail(400, "invalid Content-Length");
  }
  if (ec == error::bad_transfer_encoding) {
    if (has_cl) return fail(400, "both Content-Length and Transfer-Encoding");
    return fail(400, "invalid Transfer-Encoding");
  }
  if (ec == error::bad_chunk) return fail(400, "malformed chunk");
  if (ec == error::bad_chunk_extension) return fail(400, "invalid chunk extension");
  if (ec == error::bad_obs_fold) return fail(400, "folded header line");
  fail(400, "malformed request");
}

request_reader::request_reader() : request_reader(limits{}) {}
request_reader::request_reader(limits l) : impl_(std::make_unique<impl>(l)) {}
request_reader::~request_reader() = default;
request_reader::request_reader(request_reader&&) noexcept = default;
request_reader& request_reader::operator=(request_reader&&) noexcept = default;

void request_reader::reset() { impl_->clear(); }
size_t request_reader::feed(const char* data, size_t n) { return impl_->feed(data, n); }
request_reader::state request_reader::current() const { return impl_->st; }
bool request_reader::head_complete() const { return impl_->head_complete; }
bool request_reader::received_any() const { return impl_->received_any; }
request& request_reader::req() { return impl_->req; }
bool request_reader::keep_alive() const { return impl_->keep_alive; }
bool request_reader::expect_continue() const { return impl_->expect_continue; }
int request_reader::error_status() const { return impl_->error_status; }
const std::string& request_reader::error() const { return impl_->error_text; }
budget_lease request_reader::take_lease() { return std::move(impl_->lease); }

// -- write_answer -----------------------------------------------------------------------------

namespace {

// The head of an answer, for write_answer and write_stream_head: the status line, the
// response's own headers (but the engine's), Content-Type and Date.
void fill_head(bhttp::response_header<arena_fields>& msg, const response& res, int status,
               std::string_view date) {
  msg.result(static_cast<unsigned>(status));
  msg.reason(reason_phrase(status));
  msg.version(11);
  bool typed = !res.content_type.empty();
  for (auto& [name, value] : res.headers) {
    auto f = bhttp::string_to_field(name);
    if (f == bhttp::field::content_length || f == bhttp::field::transfer_encoding ||
        f == bhttp::field::connection || f == bhttp::field::date ||
        (typed && f == bhttp::field::content_type))
      continue;
    if (!is_token(name) || has_line_break(value)) {
      log::warn("http", "header ", name, " dropped from an answer: it would break the framing");
      continue;
    }
    msg.insert(f, name, value);
  }
  if (typed && !has_line_break(res.content_type))
    msg.insert(bhttp::field::content_type, res.content_type);
  msg.insert(bhttp::field::date, beast::string_view(date.data(), date.size()));
}

void set_connection(bhttp::response_header<arena_fields>& msg, bool keep_alive, bool http10) {
  if (!keep_alive) msg.insert(bhttp::field::connection, "close");
  else if (http10) msg.insert(bhttp::field::connection, "keep-alive");
}

template <typename Buffers>
void append_buffers(std::string& out, const Buffers& buffers) {
  size_t size = 0;
  for (auto b : beast::buffers_range_ref(buffers)) size += b.size();
  out.reserve(out.size() + size);
  for (auto b : beast::buffers_range_ref(buffers))
    out.append(static_cast<const char*>(b.data()), b.size());
}

}  // namespace

void write_answer(std::string& out, const response& res, bool head, bool keep_alive, bool http10,
                  std::string_view date) {
  int status = res.status;
  if (status < 100 || status > 999) status = 500;
  bool no_body = status < 200 || status == 204 || status == 304;
  alignas(std::max_align_t) char arena[arena_bytes];
  std::pmr::monotonic_buffer_resource memory(arena, sizeof arena);
  bhttp::response_header<arena_fields> msg{arena_fields(&memory)};
  fill_head(msg, res, status, date);
  if (!no_body) msg.insert(bhttp::field::content_length, std::to_string(res.body.size()));
  set_connection(msg, keep_alive, http10);
  write_message(out, msg, head || no_body ? std::string_view() : std::string_view(res.body));
}

void write_stream_head(std::string& out, const response& res, bool chunked, bool keep_alive,
                       std::string_view date) {
  int status = res.status;
  if (status < 200 || status > 999 || status == 204 || status == 304) status = 500;
  alignas(std::max_align_t) char arena[arena_bytes];
  std::pmr::monotonic_buffer_resource memory(arena, sizeof arena);
  bhttp::response_header<arena_fields> msg{arena_fields(&memory)};
  fill_head(msg, res, status, date);
  if (chunked) msg.insert(bhttp::field::transfer_encoding, "chunked");
  set_connection(msg, chunked && keep_alive, false);
  write_message(out, msg, std::string_view());
}

void write_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // a chunk of size 0 is the last one
  append_buffers(out, bhttp::make_chunk(boost::asio::const_buffer(data.data(), data.size())));
}

void write_last_chunk(std::string& out) { append_buffers(out, bhttp::make_chunk_last()); }

// -- write_request ----------------------------------------------------------------------------

bool write_request(std::string& out, std::string_view method, std::string_view target,
                   std::string_view host, const fields& headers, std::string_view body,
                   bool send_length) {
  // Everything is checked before anything is written, so a refusal leaves `out` as it was.
  if (!is_token(method) || target.empty() || has_line_break(target) || has_line_break(host))
    return false;
  if (target.find_first_of(" \t") != std::string_view::npos) return false;
  for (const auto& [name, value] : headers) {
    if (!is_token(name) || has_line_break(value)) return false;
    auto f = bhttp::string_to_field(name);
    if (f == bhttp::field::content_length || f == bhttp::field::transfer_encoding) return false;
  }
  alignas(std::max_align_t) char arena[arena_bytes];
  std::pmr::monotonic_buffer_resource memory(arena, sizeof arena);
  bhttp::request_header<arena_fields> msg{arena_fields(&memory)};
  msg.method_string(beast::string_view(method.data(), method.size()));
  msg.target(beast::string_view(target.data(), target.size()));
  msg.version(11);
  msg.insert(bhttp::field::host, beast::string_view(host.data(), host.size()));
  for (const auto& [name, value] : headers) msg.insert(name, value);
  if (send_length) msg.insert(bhttp::field::content_length, std::to_string(body.size()));
  write_message(out, msg, body);
  return true;
}

// -- response_reader --------------------------------------------------------------------------

struct response_reader::impl {
  class parser : public bhttp::basic_parser<false> {
   public:
    explicit parser(impl& o) : o_(o) {}

   private:
    void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                         error_code&) override {}
    void on_response_impl(int code, beast::string_view, int version, error_code& ec) override {
      if (code < 100 || code > 599) {
        ec = error::bad_status;
        return;
      }
      o_.status = code;
      o_.version = version;
      o_.line_done = true;
    }
    // The framing is Beast's business (keep_alive(), chunked(), need_eof()), but for what
    // would let this connection's next response be read at the wrong place; a client has no
    // use for the other headers.
    void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value,
                       error_code& ec) override {
      if (folded(name.data(), o_.in_end)) {
        o_.fail("malformed header line");
        ec = error::bad_obs_fold;
        return;
      }
      if (f == bhttp::field::content_length) o_.has_cl = true;
      if (f == bhttp::field::transfer_encoding) o_.has_te = true;
    }
    void on_header_impl(error_code& ec) override {
      // Beast frames such a body by its Content-Length when the coding is not chunked; RFC
      // 9112 6.3 by the close. A server sending both is broken or lying: no guessing.
      if (o_.has_te && o_.has_cl) {
        o_.fail("both Content-Length and Transfer-Encoding");
        ec = error::bad_transfer_encoding;
      }
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
      if (length) o_.body.reserve(static_cast<size_t>(std::min<uint64_t>(*length, max_reserve)));
    }
    size_t on_body_impl(beast::string_view body, error_code&) override {
      o_.body.append(body.data(), body.size());
      return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
      o_.body.append(body.data(), body.size());
      return body.size();
    }
    void on_finish_impl(error_code&) override {}

    impl& o_;
  };

  explicit impl(limits l) : lim(l) { clear(false); }

  void start_head() {
    parser_.emplace(*this);
    parser_->header_limit(static_cast<std::uint32_t>(std::min<size_t>(lim.max_head, UINT32_MAX)));
    parser_->body_limit(lim.max_body);
    parser_->skip(head_request);
    parser_->eager(false);  // set after the head: a 1xx head is followed by another head
    head_bytes = scanned = 0;
    line_done = has_cl = has_te = false;
  }
  void clear(bool head) {
    head_request = head;
    st = state::need_more;
    received_any = excess = false;
    status = 0;
    version = 11;
    pending.clear();
    if (body.capacity() > max_kept_capacity) body = std::string();
    body.clear();
    error_text.clear();
    start_head();
  }
  state fail(const char* why) {
    if (st != state::error) {
      st = state::error;
      error_text = why;
    }
    return st;
  }

  state feed(const char* data, size_t n);
  size_t consume(const char* at, const char* end);
  size_t take_head(const char* at, const char* end);
  size_t put(const char* at, const char* end, error_code& ec);
  void fail_from(const error_code& ec);
  state eof();

  limits lim;
  std::optional<parser> parser_;
  bool head_request = false;
  state st = state::need_more;
  bool received_any = false;
  bool excess = false;
  int status = 0;
  int version = 11;
  bool line_done = false;  // the status line of the current head was read
  bool has_cl = false;
  bool has_te = false;
  size_t head_bytes = 0;  // of the current head taken so far (its status line)
  size_t scanned = 0;     // of the fields at the start of the input, looked at for their end
  const char* in_end = nullptr;  // of the bytes the running put() was given, for the callbacks
  std::string pending;  // bytes Beast could not take yet (a line not complete)
  std::string body;
  std::string error_text;
};

response_reader::state response_reader::impl::feed(const char* data, size_t n) {
  if (st == state::done) {
    if (n > 0) excess = true;  // a later read brought more than the response
    return st;
  }
  if (st == state::error || n == 0) return st;
  received_any = true;
  if (pending.empty()) {
    size_t took = consume(data, data + n);
    if (st == state::need_more) pending.assign(data + took, n - took);
  } else {
    pending.append(data, n);
    size_t took = consume(pending.data(), pending.data() + pending.size());
    if (st == state::need_more) pending.erase(0, took);
    else pending = std::string();
  }
  return st;
}

size_t response_reader::impl::put(const char* at, const char* end, error_code& ec) {
  in_end = end;
  return parser_->put(boost::asio::const_buffer(at, static_cast<size_t>(end - at)), ec);
}

// A head: its status line to Beast once whole, then its fields once whole (see scan_head).
// Returns the bytes taken.
size_t response_reader::impl::take_head(const char* const from, const char* end) {
  const char* at = from;
  if (!line_done) {
    size_t avail = static_cast<size_t>(end - at);
    auto* lf = static_cast<const char*>(std::memchr(at, '\n', std::min(avail, lim.max_head)));
    if (!lf) {
      if (avail >= lim.max_head) fail("response head too large");
      return 0;
    }
    size_t n = static_cast<size_t>(lf + 1 - at);
    error_code ec;
    // "HTTP/1.1 200" without the space before an empty reason, as some servers send it: Beast
    // wants the space (RFC 9112 4), so the line goes to it with one.
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (n == 14 && at[12] == '\r' && std::memcmp(at, "HTTP/1.", 7) == 0 && digit(at[7]) &&
        at[8] == ' ' && digit(at[9]) && digit(at[10]) && digit(at[11])) {
      char line[15];
      std::memcpy(line, at, 12);
      std::memcpy(line + 12, " \r\n", 3);
      put(line, line + 15, ec);
    } else {
      put(at, lf + 1, ec);
    }
    if (st == state::error) return 0;
    if (ec && ec != error::need_more) return fail_from(ec), 0;
    if (!line_done) return fail("malformed status line"), 0;  // Beast wanted more of a line
    at += n;
    head_bytes = n;
  }
  size_t len = 0;
  head_scan r = scan_head_within(*this, at, end, len, [&](const error_code& ec) { fail_from(ec); });
  if (r == head_scan::too_large) {
    fail("response head too large");
    return static_cast<size_t>(at - from);
  }
  if (r == head_scan::more) return static_cast<size_t>(at - from);
  error_code ec;
  at += put(at, at + len, ec);  // not eager: stops at the head's end
  if (st == state::error) return static_cast<size_t>(at - from);  // refused in a callback
  if (ec && ec != error::need_more) fail_from(ec);
  else if (r == head_scan::broken || !parser_->is_header_done()) fail("malformed header line");
  return static_cast<size_t>(at - from);
}

// Hands [from, end) to Beast; returns how much it took (the rest waits in `pending`).
size_t response_reader::impl::consume(const char* const from, const char* end) {
  const char* at = from;
  while (at < end && st == state::need_more) {
    if (!parser_->is_header_done()) {
      at += take_head(at, end);
      if (st != state::need_more || !parser_->is_header_done()) break;
      if (status < 200) {
        // We never ask for an upgrade, so a 101 would hand the connection to a protocol we
        // don't speak. Other 1xx are interim: the final response follows on the same stream.
        if (status == 101) {
          fail("unexpected 101 response");
          break;
        }
        start_head();
        continue;
      }
      if (parser_->is_done()) {
        st = state::done;
        break;
      }
      parser_->eager(true);
      continue;
    }
    error_code ec;
    at += put(at, end, ec);
    if (st == state::error) break;
    if (ec == error::need_more) {
      // Beast waits on a chunk-size line or the trailers: neither may grow without bound.
      if (static_cast<size_t>(end - at) > lim.max_head) fail("malformed chunk");
      break;
    }
    if (ec) {
      fail_from(ec);
      break;
    }
    if (parser_->is_done()) st = state::done;
  }
  if (st == state::done && at < end) excess = true;  // the response stands; the rest is dropped
  return static_cast<size_t>(at - from);
}

void response_reader::impl::fail_from(const error_code& ec) {
  if (ec == error::header_limit) return void(fail("response head too large"));
  if (!line_done) return void(fail("malformed status line"));
  if (ec == error::body_limit) return void(fail("response body too large"));
  if (ec == error::bad_version || ec == error::bad_status || ec == error::bad_reason)
    return void(fail("malformed status line"));
  if (ec == error::bad_field || ec == error::bad_line_ending || ec == error::bad_obs_fold)
    return void(fail("malformed header line"));
  if (ec == error::bad_value) return void(fail("invalid header value"));
  // Beast refuses the second of the two framing headers as it comes (with its own code).
  const char* both = "both Content-Length and Transfer-Encoding";
  if (ec == error::bad_content_length) return void(fail(has_te ? both : "invalid Content-Length"));
  if (ec == error::bad_transfer_encoding)
    return void(fail(has_cl ? both : "invalid Transfer-Encoding"));
  if (ec == error::bad_chunk || ec == error::bad_chunk_extension)
    return void(fail("malformed chunk"));
  fail("malformed response");
}

response_reader::state response_reader::impl::eof() {
  if (st != state::need_more) return st;
  if (pending.empty() && parser_->got_some() && parser_->is_header_done() &&
      parser_->need_eof()) {
    error_code ec;
    parser_->put_eof(ec);
    if (!ec) return st = state::done;
  }
  return fail(received_any ? "connection closed before the response was complete"
                           : "connection closed before any response");
}

response_reader::response_reader() : response_reader(limits{}) {}
response_reader::response_reader(limits l) : impl_(std::make_unique<impl>(l)) {}
response_reader::~response_reader() = default;
response_reader::response_reader(response_reader&&) noexcept = default;
response_reader& response_reader::operator=(response_reader&&) noexcept = default;

void response_reader::reset(bool head_request) { impl_->clear(head_request); }
response_reader::state response_reader::feed(const char* data, size_t n) {
  return impl_->feed(data, n);
}
response_reader::state response_reader::eof() { return impl_->eof(); }
bool response_reader::received_any() const { return impl_->received_any; }
int response_reader::status() const { return impl_->status; }
bool response_reader::keep_alive() const {
  auto& i = *impl_;
  if (i.st != state::done || i.excess || !i.parser_->keep_alive()) return false;
  return !(i.version == 10 && i.parser_->chunked());  // RFC 9112 6.1: faulty framing in 1.0
}
bool response_reader::excess() const { return impl_->excess; }
std::string& response_reader::body() { return impl_->body; }
const std::string& response_reader::error() const { return impl_->error_text; }

}  // namespace medflow::net
