#include "core/http1.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace medflow::http1 {

namespace {
bool is_tchar(char c);
}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

namespace {

constexpr uint64_t max_u64 = std::numeric_limits<uint64_t>::max();
// A Content-Length body reserves at most this up front: the header is the peer's word, not
// memory we have agreed to hand out.
constexpr size_t max_reserve = 1024 * 1024;
// reset() keeps the body's buffer for the next response unless it grew beyond this.
constexpr size_t max_kept_capacity = 1024 * 1024;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `lower_name` is lowercase already.
bool iequals(std::string_view a, std::string_view lower_name) {
  if (a.size() != lower_name.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower_name[i]) return false;
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
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

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls f(element) for each non-empty element of a comma-separated list, OWS trimmed (empty
// elements are allowed and ignored, RFC 9110 5.6.1). Stops when f returns false.
template <typename F>
bool for_each_element(std::string_view list, F f) {
  while (true) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !f(element)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

// The hex digits a chunk-size line starts with, as `size`; `digits` says how many there were
// (0: none). False when the value overflows.
bool chunk_size_digits(std::string_view line, uint64_t& size, size_t& digits) {
  size = 0;
  for (digits = 0; digits < line.size(); ++digits) {
    int h = hex_value(line[digits]);
    if (h < 0) break;
    if (size > (max_u64 >> 4)) return false;
    size = size << 4 | static_cast<unsigned>(h);
  }
  return true;
}

enum class line_result : uint8_t { complete, partial, too_long };

// Takes the next line (without its LF, and without a CR before it) from [p, end), or from what
// an earlier feed left in `held` plus that. A line longer than `room` bytes with its
// terminator is too_long. A partial line is moved to `held`, and p to end. `line` may point
// into `held`: the caller clears `held` once done with it.
line_result take_line(std::string& held, const char*& p, const char* end, size_t room,
                      std::string_view& line, size_t& raw) {
  size_t avail = static_cast<size_t>(end - p);
  const char* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
  if (!nl) {
    if (held.size() + avail + 1 > room) return line_result::too_long;
    held.append(p, avail);
    p = end;
    return line_result::partial;
  }
  size_t len = static_cast<size_t>(nl - p);
  raw = held.size() + len + 1;
  if (raw > room) return line_result::too_long;
  if (held.empty()) {
    line = std::string_view(p, len);
  } else {
    held.append(p, len);
    line = held;
  }
  p = nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line_result::complete;
}

// A Content-Length value: digits only (no sign, no inner space), within 64 bits. Repeated
// identical values (in one list or several headers, `has` and `length` carry over) are
// tolerated, as RFC 9112 6.3 allows; anything else could be read differently by another hop.
// Returns an error text, or nullptr.
const char* parse_content_length(std::string_view value, bool& has, uint64_t& length) {
  const char* err = nullptr;
  bool any = false;
  for_each_element(value, [&](std::string_view digits) {
    uint64_t v = 0;
    for (char c : digits) {
      if (!is_digit(c)) { err = "invalid Content-Length"; return false; }
      unsigned d = static_cast<unsigned>(c - '0');
      if (v > (max_u64 - d) / 10) { err = "invalid Content-Length"; return false; }
      v = v * 10 + d;
    }
    if (has && v != length) { err = "conflicting Content-Length"; return false; }
    has = true;
    length = v;
    any = true;
    return true;
  });
  if (err) return err;
  return any ? nullptr : "invalid Content-Length";
}

// A request's header or trailer line, `name ":" OWS value OWS` (RFC 9112 5), held to the
// grammar: a line a server reads one way and another hop another is how requests get
// smuggled. Returns an error text, or nullptr with `name` and `value` (OWS trimmed) set.
// `line` is not empty.
const char* split_field_line(std::string_view line, std::string_view& name,
                             std::string_view& value) {
  // obs-fold (RFC 9112 5.2): hops differ on whether they join the lines.
  if (is_ows(line.front())) return "folded header line";
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "malformed header line";
  name = line.substr(0, colon);
  // RFC 9112 5.1 says reject: a proxy may take "Content-Length : 5" as the real thing.
  if (!name.empty() && is_ows(name.back())) return "whitespace before colon in header";
  if (!is_token(name)) return "malformed header line";
  value = trim_ows(line.substr(colon + 1));
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return "invalid header value";  // obs-text is fine
  }
  return nullptr;
}

}  // namespace

bool write_request(std::string& out, std::string_view method, std::string_view target,
                   std::string_view host,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   std::string_view body, bool send_length) {
  // Validate everything before appending anything, so a refusal leaves `out` as it was.
  if (method.empty() || target.empty()) return false;
  if (has_line_break(method) || has_line_break(target) || has_line_break(host)) return false;
  if (method.find_first_of(" \t") != std::string_view::npos) return false;
  if (target.find_first_of(" \t") != std::string_view::npos) return false;
  size_t size = method.size() + 1 + target.size() + 11 + 6 + host.size() + 2 + 2 + body.size();
  for (const auto& [name, value] : headers) {
    if (name.empty() || has_line_break(name) || has_line_break(value)) return false;
    if (name.find_first_of(": \t") != std::string::npos) return false;
    size += name.size() + 2 + value.size() + 2;
  }
  char digits[24];
  size_t ndigits = 0;
  if (send_length) {
    ndigits = static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, body.size()).ptr -
                                  digits);
    size += 16 + ndigits + 2;
  }
  out.reserve(out.size() + size);
  out.append(method).append(" ", 1).append(target).append(" HTTP/1.1\r\nHost: ", 17);
  out.append(host).append("\r\n", 2);
  for (const auto& [name, value] : headers) {
    // An empty value as "Name:", the way curl sends it (no trailing space to trim).
    out.append(name).append(value.empty() ? ":" : ": ").append(value).append("\r\n", 2);
  }
  if (send_length)
    out.append("Content-Length: ", 16).append(digits, ndigits).append("\r\n", 2);
  out.append("\r\n", 2).append(body);
  return true;
}

response_parser::response_parser(limits l) : limits_(l) {}

void response_parser::reset(bool head_request) {
  phase_ = phase::status_line;
  head_request_ = head_request;
  received_any_ = false;
  close_delimited_ = false;
  excess_ = false;
  chunk_cr_ = false;
  status_ = 0;
  remaining_ = 0;
  start_head();
  line_.clear();
  // A moved-from body is valid but unspecified; one that grew large is not worth keeping.
  if (body_.capacity() > max_kept_capacity) body_ = std::string();
  body_.clear();
  error_.clear();
}

void response_parser::start_head() {
  http10_ = false;
  conn_close_ = false;
  conn_keep_alive_ = false;
  has_te_ = false;
  te_chunked_ = false;
  has_cl_ = false;
  fold_framing_ = false;
  content_length_ = 0;
  section_bytes_ = 0;
}

response_parser::state response_parser::fail(const char* why) {
  phase_ = phase::error;
  error_ = why;
  line_.clear();
  return state::error;
}

bool response_parser::keep_alive() const {
  if (phase_ != phase::done || excess_ || close_delimited_ || conn_close_) return false;
  if (http10_ && (!conn_keep_alive_ || has_te_)) return false;  // RFC 9112 6.1 for TE in 1.0
  return !(has_te_ && has_cl_);  // a smuggling attempt or a broken server: don't reuse
}

// HTTP/1.x SP 3DIGIT [SP reason-phrase]; a missing reason (no space either) is common enough.
bool response_parser::parse_status_line(std::string_view line) {
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || !is_digit(line[7]) ||
      line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]))
    return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  if (line.find_first_of(std::string_view("\r\0", 2), 12) != std::string_view::npos) return false;
  int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return false;
  status_ = status;
  http10_ = line[7] == '0';
  return true;
}

// Returns an error text, or nullptr. Only the framing headers (Content-Length,
// Transfer-Encoding, Connection) are looked at, and only they are held to the grammar; other
// malformed lines are skipped (see the class comment).
const char* response_parser::parse_header(std::string_view line) {
  if (is_ows(line.front())) {
    // obs-fold: a continuation of the previous line, which we drop. Folding a framing header
    // leaves its value ambiguous (other hops may join the lines or not).
    if (fold_framing_) return "obsolete header line folding";
    return has_line_break(line) ? "invalid header line" : nullptr;
  }
  fold_framing_ = false;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos)
    return has_line_break(line) ? "invalid header line" : nullptr;  // not a header: skipped
  std::string_view name = line.substr(0, colon);
  bool token = !name.empty();
  for (char c : name) {
    if (!is_tchar(c)) {
      token = false;
      break;
    }
  }
  if (!token) {
    if (has_line_break(line)) return "invalid header line";
    // "Content-Length : 5": some hops would take it as the framing header (RFC 9112 5.1).
    std::string_view bare = name;
    while (!bare.empty() && is_ows(bare.back())) bare.remove_suffix(1);
    if (bare.size() < name.size() &&
        (iequals(bare, "content-length") || iequals(bare, "transfer-encoding") ||
         iequals(bare, "connection")))
      return "invalid header name";
    return nullptr;  // skipped
  }
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos)
    return "invalid header value";

  switch (name.size()) {
    case 10:
      if (iequals(name, "connection")) {
        fold_framing_ = true;
        for_each_element(value, [this](std::string_view token) {
          if (iequals(token, "close")) conn_close_ = true;
          else if (iequals(token, "keep-alive")) conn_keep_alive_ = true;
          return true;
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        fold_framing_ = true;
        if (const char* err = parse_content_length(value, has_cl_, content_length_)) return err;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        fold_framing_ = true;
        // Several headers make one list; only the last coding decides the framing.
        bool any = false;
        for_each_element(value, [&](std::string_view coding) {
          coding = trim_ows(coding.substr(0, coding.find(';')));  // drop parameters
          te_chunked_ = iequals(coding, "chunked");
          any = true;
          return true;
        });
        if (!any) return "invalid Transfer-Encoding";
        has_te_ = true;
      }
      break;
    default:
      break;
  }
  return nullptr;
}

// Decides the body's framing (RFC 9112 6.3). Returns an error text, or nullptr.
const char* response_parser::end_of_head() {
  if (status_ < 200) {
    // We never ask for an upgrade, so a 101 would hand the connection to a protocol we don't
    // speak. Other 1xx are interim: the final response follows on the same stream.
    if (status_ == 101) return "unexpected 101 response";
    phase_ = phase::status_line;
    start_head();
    return nullptr;
  }
  if (head_request_ || status_ == 204 || status_ == 304) {
    phase_ = phase::done;
  } else if (has_te_) {
    // Transfer-Encoding overrides Content-Length; not ending in chunked, only the close ends it.
    if (te_chunked_) {
      phase_ = phase::chunk_size;
    } else {
      phase_ = phase::close_body;
      close_delimited_ = true;
    }
  } else if (has_cl_) {
    if (content_length_ > limits_.max_body) return "response body too large";
    remaining_ = content_length_;
    if (remaining_ == 0) {
      phase_ = phase::done;
    } else {
      body_.reserve(static_cast<size_t>(std::min<uint64_t>(remaining_, max_reserve)));
      phase_ = phase::fixed_body;
    }
  } else {
    phase_ = phase::close_body;
    close_delimited_ = true;
  }
  section_bytes_ = 0;  // now counts the trailers, if any
  return nullptr;
}

response_parser::state response_parser::feed(const char* data, size_t n) {
  if (phase_ == phase::done) {
    if (n > 0) excess_ = true;  // a later read brought more than the response
    return state::done;
  }
  if (phase_ == phase::error) return state::error;
  if (n == 0) return state::need_more;
  received_any_ = true;
  const char* p = data;
  const char* const end = data + n;
  while (p < end) {
    switch (phase_) {
      case phase::status_line:
      case phase::headers: {
        std::string_view line;
        size_t raw = 0;
        line_result r = take_line(line_, p, end, limits_.max_head - section_bytes_, line, raw);
        if (r == line_result::too_long) return fail("response head too large");
        if (r == line_result::partial) return state::need_more;
        section_bytes_ += raw;
        const char* err = nullptr;
        if (phase_ == phase::status_line) {
          if (!parse_status_line(line)) err = "malformed status line";
          else phase_ = phase::headers;
        } else if (line.empty()) {
          err = end_of_head();
        } else {
          err = parse_header(line);
        }
        line_.clear();
        if (err) return fail(err);
        break;
      }
      case phase::fixed_body: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, end - p));
        body_.append(p, take);
        p += take;
        remaining_ -= take;
        if (remaining_ == 0) phase_ = phase::done;
        break;
      }
      case phase::chunk_size: {
        // chunk-size [ BWS ";" chunk-ext ] CRLF; extensions are ignored.
        std::string_view line;
        size_t raw = 0;
        line_result r = take_line(line_, p, end, limits_.max_head, line, raw);
        if (r == line_result::too_long) return fail("chunk size line too long");
        if (r == line_result::partial) return state::need_more;
        uint64_t size = 0;
        size_t i = 0;
        if (!chunk_size_digits(line, size, i)) return fail("invalid chunk size");
        bool ok = i > 0;
        while (i < line.size() && is_ows(line[i])) ++i;
        if (i < line.size() && line[i] != ';') ok = false;
        line_.clear();
        if (!ok) return fail("invalid chunk size");
        if (size == 0) {
          phase_ = phase::trailers;
        } else {
          if (size > limits_.max_body - body_.size()) return fail("response body too large");
          remaining_ = size;
          phase_ = phase::chunk_data;
        }
        break;
      }
      case phase::chunk_data: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, end - p));
        body_.append(p, take);
        p += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          phase_ = phase::chunk_end;
          chunk_cr_ = false;
        }
        break;
      }
      case phase::chunk_end: {
        char c = *p++;
        if (c == '\r' && !chunk_cr_) chunk_cr_ = true;
        else if (c == '\n') phase_ = phase::chunk_size;
        else return fail("malformed chunk");
        break;
      }
      case phase::trailers: {
        std::string_view line;
        size_t raw = 0;
        line_result r = take_line(line_, p, end, limits_.max_head - section_bytes_, line, raw);
        if (r == line_result::too_long) return fail("response trailers too large");
        if (r == line_result::partial) return state::need_more;
        section_bytes_ += raw;
        bool ok = line.empty() ||
                  (!is_ows(line.front()) && line.find(':') != std::string_view::npos &&
                   line.front() != ':');
        if (line.empty()) phase_ = phase::done;
        line_.clear();
        if (!ok) return fail("malformed trailer line");
        break;
      }
      case phase::close_body: {
        size_t take = static_cast<size_t>(end - p);
        if (take > limits_.max_body - body_.size()) return fail("response body too large");
        body_.append(p, take);
        p = end;
        break;
      }
      case phase::done:
        // Bytes left after the response in this read: the response stands, [p, end) is
        // dropped and the connection is not reused.
        excess_ = true;
        return state::done;
      case phase::error:
        return state::error;
    }
  }
  return phase_ == phase::done ? state::done : state::need_more;
}

response_parser::state response_parser::eof() {
  switch (phase_) {
    case phase::done:
      return state::done;
    case phase::error:
      return state::error;
    case phase::close_body:
      phase_ = phase::done;
      return state::done;
    default:
      return fail(received_any_ ? "connection closed before the response was complete"
                                : "connection closed before any response");
  }
}

request_parser::request_parser(limits l) : limits_(l) {}

void request_parser::reset() {
  phase_ = phase::request_line;
  head_complete_ = false;
  received_any_ = false;
  conn_close_ = false;
  conn_keep_alive_ = false;
  expect_ = false;
  has_cl_ = false;
  has_te_ = false;
  te_chunked_last_ = false;
  te_chunked_early_ = false;
  te_other_ = false;
  chunk_cr_ = false;
  error_status_ = 0;
  content_length_ = 0;
  remaining_ = 0;
  section_bytes_ = 0;
  line_.clear();
  // Field by field, so that a keep-alive connection reuses the buffers.
  req_.method.clear();
  req_.target.clear();
  req_.minor_version = 1;
  req_.headers.clear();
  // A moved-from body is valid but unspecified; one that grew large is not worth keeping.
  if (req_.body.capacity() > max_kept_capacity) req_.body = std::string();
  req_.body.clear();
  req_.keep_alive = true;
  req_.expect_continue = false;
  error_.clear();
}

request_parser::state request_parser::current() const {
  if (phase_ == phase::done) return state::done;
  return phase_ == phase::error ? state::error : state::need_more;
}

void request_parser::fail(int status, const char* why) {
  phase_ = phase::error;
  error_status_ = status;
  error_ = why;
  line_.clear();
}

size_t request_parser::feed(const char* data, size_t n) {
  if (n == 0 || phase_ == phase::done || phase_ == phase::error) return 0;
  // Even bytes refused at once (a line over a limit) were sent: an error, not an idle close.
  received_any_ = true;
  const char* p = data;
  const char* const end = data + n;
  // Never past the end of the request: what follows is the next one's (pipelining).
  while (p < end && phase_ != phase::done && phase_ != phase::error) step(p, end);
  return static_cast<size_t>(p - data);
}

// Consumes one line, one run of body bytes or one byte after a chunk's data.
void request_parser::step(const char*& p, const char* end) {
  if (phase_ == phase::fixed_body || phase_ == phase::chunk_data) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, end - p));
    req_.body.append(p, take);
    p += take;
    remaining_ -= take;
    if (remaining_ == 0) {
      phase_ = phase_ == phase::fixed_body ? phase::done : phase::chunk_end;
      chunk_cr_ = false;
    }
    return;
  }
  if (phase_ == phase::chunk_end) {
    // CRLF or LF; anything else means the chunk was longer than its size said.
    char c = *p++;
    if (c == '\r' && !chunk_cr_) chunk_cr_ = true;
    else if (c == '\n') phase_ = phase::chunk_size;
    else fail(400, "malformed chunk");
    return;
  }

  // The head's lines, then the trailers', share a budget (with their line ends). The request
  // line and each chunk-size line also have their own bound (+2: room for CRLF), checked on
  // partial lines too, so that no bound lets us buffer without limit.
  size_t section_room = limits_.max_head - section_bytes_;
  size_t line_room = limits_.max_request_line + 2;
  size_t room = phase_ == phase::chunk_size     ? line_room
                : phase_ == phase::request_line ? std::min(section_room, line_room)
                                                : section_room;
  std::string_view line;
  size_t raw = 0;
  line_result r = take_line(line_, p, end, room, line, raw);
  if (r == line_result::partial) return;
  bool own_bound = phase_ == phase::request_line || phase_ == phase::chunk_size;
  if (r == line_result::too_long || (own_bound && line.size() > limits_.max_request_line)) {
    switch (phase_) {
      case phase::request_line:
        // After many empty lines it can be the head's budget that ran out first.
        if (r == line_result::too_long && section_room < line_room)
          return fail(431, "request header fields too large");
        return fail(414, "request line too long");
      case phase::chunk_size:
        return fail(400, "chunk size line too long");
      case phase::trailers:
        return fail(431, "trailer fields too large");
      default:
        return fail(431, "request header fields too large");
    }
  }
  if (phase_ != phase::chunk_size) section_bytes_ += raw;
  // What one hop takes for a line end and another does not.
  if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos)
    return fail(400, "bare CR or NUL");
  switch (phase_) {
    case phase::request_line:
      if (!line.empty()) parse_request_line(line);  // empty lines before it: skipped (2.2)
      break;
    case phase::headers:
      if (line.empty()) end_of_head();
      else parse_header(line);
      break;
    case phase::chunk_size:
      parse_chunk_size(line);
      break;
    default: {  // trailers: held to the header grammar, then dropped
      std::string_view name, value;
      if (line.empty()) phase_ = phase::done;
      else if (const char* err = split_field_line(line, name, value)) fail(400, err);
      break;
    }
  }
  line_.clear();
}

// method SP request-target SP HTTP-version, with single spaces (RFC 9112 3).
void request_parser::parse_request_line(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  bool ok = is_token(method) &&
            !target.empty() && version.size() == 8 && version.compare(0, 5, "HTTP/") == 0 &&
            is_digit(version[5]) && version[6] == '.' && is_digit(version[7]);
  for (char c : target) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) ok = false;
  }
  if (!ok) return fail(400, "malformed request line");
  // A higher 1.x is still HTTP/1.1 to us (RFC 9110 2.5); another major is another protocol.
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  req_.method.assign(method);
  req_.target.assign(target);
  req_.minor_version = version[7] == '0' ? 0 : 1;
  phase_ = phase::headers;
}

void request_parser::parse_header(std::string_view line) {
  std::string_view name, value;
  if (const char* err = split_field_line(line, name, value)) return fail(400, err);
  req_.headers.emplace_back(name, value);
  switch (name.size()) {
    case 6:
      if (iequals(name, "expect") && iequals(value, "100-continue")) expect_ = true;
      break;
    case 10:
      if (iequals(name, "connection")) {
        for_each_element(value, [this](std::string_view token) {
          if (iequals(token, "close")) conn_close_ = true;
          else if (iequals(token, "keep-alive")) conn_keep_alive_ = true;
          return true;
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        if (const char* err = parse_content_length(value, has_cl_, content_length_))
          return fail(400, err);
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        // Several headers make one list; an empty one is caught at the end of the head.
        has_te_ = true;
        for_each_element(value, [this](std::string_view coding) {
          if (te_chunked_last_) te_chunked_early_ = true;
          te_chunked_last_ = iequals(coding, "chunked");
          if (!te_chunked_last_) te_other_ = true;
          return true;
        });
      }
      break;
    default:
      break;
  }
}

// Decides the body's framing (RFC 9112 6.3, server side).
void request_parser::end_of_head() {
  head_complete_ = true;
  bool http11 = req_.minor_version == 1;
  req_.keep_alive = !conn_close_ && (http11 || conn_keep_alive_);
  req_.expect_continue = http11 && expect_;
  if (has_te_) {
    // Hops that frame by different headers are how requests get smuggled: RFC 9112 6.1 lets a
    // server reject both together, and a Transfer-Encoding in HTTP/1.0 (its sender may not
    // know chunked).
    if (has_cl_) return fail(400, "both Content-Length and Transfer-Encoding");
    if (!http11) return fail(400, "Transfer-Encoding in HTTP/1.0 request");
    // Without chunked last, exactly once, the length cannot be known (6.3): 400. A coding we
    // cannot decode is 501 (6.1).
    if (!te_chunked_last_ || te_chunked_early_) return fail(400, "invalid Transfer-Encoding");
    if (te_other_) return fail(501, "transfer coding not supported");
    phase_ = phase::chunk_size;
  } else if (content_length_ > 0) {
    // Before any body byte: the server can answer 413 instead of 100 Continue.
    if (content_length_ > limits_.max_body) return fail(413, "request body too large");
    req_.body.reserve(static_cast<size_t>(std::min<uint64_t>(content_length_, max_reserve)));
    remaining_ = content_length_;
    phase_ = phase::fixed_body;
  } else {
    phase_ = phase::done;
  }
}

// chunk-size [ BWS ";" chunk-ext ]; the extensions are ignored.
void request_parser::parse_chunk_size(std::string_view line) {
  uint64_t size = 0;
  size_t i = 0;
  if (!chunk_size_digits(line, size, i)) return fail(400, "invalid chunk size");
  size_t ext = i;
  while (ext < line.size() && is_ows(line[ext])) ++ext;
  if (i == 0 || (i < line.size() && (ext == line.size() || line[ext] != ';')))
    return fail(400, "invalid chunk size");
  if (size == 0) {
    phase_ = phase::trailers;
    section_bytes_ = 0;
  } else if (size > limits_.max_body - req_.body.size()) {
    fail(413, "request body too large");
  } else {
    remaining_ = size;
    phase_ = phase::chunk_data;
  }
}

}  // namespace medflow::http1
