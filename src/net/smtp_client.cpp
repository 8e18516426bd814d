#include "net/smtp_client.hpp"

#include "core/base64.hpp"
#include "core/ids.hpp"
#include "net/curl_easy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace medflow::smtp {

namespace curl = medflow::net::curl;

namespace {

constexpr size_t max_recipients = 100;
constexpr size_t max_subject_bytes = 1000;
constexpr size_t max_line = 998;  // RFC 5322 2.1.1

error invalid(std::string message) {
  return {0, "invalid_message", std::move(message), {}};
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

// A bare addr-spec: dot-atom local part, a host name as domain. No display names, comments,
// quoted strings, angle brackets, spaces or commas: nothing that could add a recipient or a
// header line.
bool valid_address(std::string_view a) {
  if (a.size() < 3 || a.size() > 254 || has_line_break(a)) return false;
  auto at = a.find('@');
  if (at == std::string_view::npos || at != a.rfind('@')) return false;
  auto local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.empty() || local.size() > 64 || domain.empty()) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return false;
  if (!std::all_of(local.begin(), local.end(), [](char c) { return c == '.' || is_atext(c); }))
    return false;
  if (domain.front() == '.' || domain.back() == '.' || domain.front() == '-' ||
      domain.find("..") != std::string_view::npos)
    return false;
  return std::all_of(domain.begin(), domain.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

bool is_ascii_printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// RFC 2047 B encoded-words of at most 45 bytes of text each (60 base64 characters), never
// splitting a UTF-8 sequence, folded onto continuation lines.
std::string encode_subject(std::string_view s) {
  if (is_ascii_printable(s) && s.size() <= 70) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::min<size_t>(45, s.size() - i);
    // Back off to the start of a UTF-8 sequence (a continuation byte is 10xxxxxx).
    while (n > 0 && i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min<size_t>(45, s.size() - i);  // not UTF-8: split anyway
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64::encode(s.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::string rfc5322_date(std::time_t now) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm t{};
  gmtime_r(&now, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[t.tm_wday],
                t.tm_mday, months[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

// Body lines with CRLF ends (a lone CR or LF is a line end too).
std::vector<std::string> body_lines(std::string_view text) {
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      lines.emplace_back();
    } else {
      lines.back() += c;
    }
  }
  if (lines.size() > 1 && lines.back().empty()) lines.pop_back();
  return lines;
}

struct upload {
  std::string data;
  size_t pos = 0;
  static size_t read(char* buf, size_t size, size_t nitems, void* self) {
    auto* u = static_cast<upload*>(self);
    size_t n = std::min(size * nitems, u->data.size() - u->pos);
    std::memcpy(buf, u->data.data() + u->pos, n);
    u->pos += n;
    return n;
  }
};

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  if (h.front() == '[' && h.back() == ']')
    return std::all_of(h.begin() + 1, h.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

}  // namespace

result<std::string> render(const message& m, std::time_t now, const std::string& id) {
  if (!valid_address(m.from)) return invalid("invalid sender address");
  if (m.to.empty() || m.to.size() > max_recipients)
    return invalid("a message needs 1 to 100 recipients");
  for (auto& to : m.to)
    if (!valid_address(to)) return invalid("invalid recipient address");
  if (has_line_break(m.subject)) return invalid("line break in the subject");
  if (m.subject.size() > max_subject_bytes) return invalid("subject longer than 1000 bytes");
  if (m.text.find('\0') != std::string::npos) return invalid("NUL byte in the body");
  if (!std::all_of(id.begin(), id.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }) ||
      id.empty())
    return invalid("message id must be letters and digits");

  std::string to_list;
  for (auto& to : m.to) to_list += (to_list.empty() ? "" : ",\r\n ") + to;
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "Message-ID: <" + id + "@" + m.from.substr(m.from.find('@') + 1) + ">\r\n";
  out += "From: " + m.from + "\r\n";
  out += "To: " + to_list + "\r\n";
  out += "Subject: " + encode_subject(m.subject) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";

  auto lines = body_lines(m.text);
  bool seven_bit = std::all_of(m.text.begin(), m.text.end(),
                               [](char c) { return static_cast<unsigned char>(c) < 0x80; }) &&
                   std::all_of(lines.begin(), lines.end(),
                               [](const std::string& l) { return l.size() <= max_line; });
  if (seven_bit) {
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    for (auto& l : lines) out += l + "\r\n";
  } else {
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    std::string canonical;
    for (auto& l : lines) canonical += l + "\r\n";
    auto b64 = base64::encode(canonical);
    for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  }
  return out;
}

client::client(options opts) : opts_(std::move(opts)) {
  if (!valid_host(opts_.host)) throw std::invalid_argument("smtp host is empty or invalid");
  if (opts_.port < 1 || opts_.port > 65535) throw std::invalid_argument("smtp port out of range");
  if (opts_.helo_name.empty() || !valid_host(opts_.helo_name))
    throw std::invalid_argument("smtp helo name must be a host name");
  if (opts_.timeout_ms <= 0 || opts_.connect_timeout_ms <= 0)
    throw std::invalid_argument("smtp timeouts must be positive");
  curl::global_init();
}

status client::send(const message& m) const {
  if (m.text.size() > opts_.max_body_bytes)
    return invalid("body larger than " + std::to_string(opts_.max_body_bytes) + " bytes");
  upload body;
  {
    auto text = render(m, std::time(nullptr), m.id.empty() ? ids::random_hex(16) : m.id);
    if (!text) return text.err();
    body.data = std::move(*text);
  }
  auto h = curl::make_easy("smtp,smtps", static_cast<long>(opts_.timeout_ms),
                           static_cast<long>(opts_.connect_timeout_ms));
  CURL* c = h.get();
  std::string url = std::string(opts_.tls == security::implicit ? "smtps://" : "smtp://") +
                    opts_.host + ":" + std::to_string(opts_.port) + "/" + opts_.helo_name;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   opts_.tls == security::starttls ? static_cast<long>(CURLUSESSL_ALL)
                                                   : static_cast<long>(CURLUSESSL_NONE));
  if (!opts_.verify_peer) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!opts_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opts_.ca_file.c_str());
  if (!opts_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, opts_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, opts_.password.c_str());
  }
  std::string from = "<" + m.from + ">";
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl::slist rcpt;
  for (auto& to : m.to)
    if (!curl::append(rcpt, "<" + to + ">")) throw std::bad_alloc();
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.data.size()));
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &upload::read);
  curl_easy_setopt(c, CURLOPT_READDATA, &body);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return ok_status();
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  if (reply >= 400 && rc != CURLE_OPERATION_TIMEDOUT)
    return error{
        static_cast<int>(reply), "smtp_rejected", *errbuf ? errbuf : curl_easy_strerror(rc), {}};
  return curl::transfer_error(rc, errbuf, false);
}

}  // namespace medflow::smtp
