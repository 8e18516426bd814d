#include "core/http1.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace medflow::http1 {

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

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
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

// Takes the next line (without its LF, and without a CR before it) from [p, end), or from what
// an earlier feed left in line_ plus that. A line longer than `room` bytes with its terminator
// is too_long. A partial line is moved to line_, and p to end. `line` may point into line_:
// the caller clears line_ once done with it.
response_parser::line_result response_parser::take_line(const char*& p, const char* end,
                                                        size_t room, std::string_view& line,
                                                        size_t& raw) {
  size_t avail = static_cast<size_t>(end - p);
  const char* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
  if (!nl) {
    if (line_.size() + avail + 1 > room) return line_result::too_long;
    line_.append(p, avail);
    p = end;
    return line_result::partial;
  }
  size_t len = static_cast<size_t>(nl - p);
  raw = line_.size() + len + 1;
  if (raw > room) return line_result::too_long;
  if (line_.empty()) {
    line = std::string_view(p, len);
  } else {
    line_.append(p, len);
    line = line_;
  }
  p = nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line_result::complete;
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
        // Repeated identical values (in one list or several headers) are tolerated, as RFC
        // 9112 6.3 allows; anything else could be read differently by another hop.
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
          if (has_cl_ && v != content_length_) { err = "conflicting Content-Length"; return false; }
          has_cl_ = true;
          content_length_ = v;
          any = true;
          return true;
        });
        if (err) return err;
        if (!any) return "invalid Content-Length";
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
        line_result r = take_line(p, end, limits_.max_head - section_bytes_, line, raw);
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
        line_result r = take_line(p, end, limits_.max_head, line, raw);
        if (r == line_result::too_long) return fail("chunk size line too long");
        if (r == line_result::partial) return state::need_more;
        uint64_t size = 0;
        size_t i = 0;
        for (; i < line.size(); ++i) {
          int h = hex_value(line[i]);
          if (h < 0) break;
          if (size > (max_u64 >> 4)) return fail("invalid chunk size");
          size = size << 4 | static_cast<unsigned>(h);
        }
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
        line_result r = take_line(p, end, limits_.max_head - section_bytes_, line, raw);
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

}  // namespace medflow::http1
