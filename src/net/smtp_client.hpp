// Sends one plain-text e-mail over SMTP with libcurl: blocking, bounded by a timeout, errors as
// values. Plain SMTP, STARTTLS (required, not opportunistic) or implicit TLS (smtps).
//
// The message is built here (RFC 5322): Date, Message-ID, From, To, Subject (RFC 2047
// encoded-word when not ASCII), MIME-Version, a text/plain UTF-8 body (7bit when it is ASCII
// with short lines, base64 otherwise), CRLF line ends. Header injection is refused: a CR, LF
// or NUL in the subject or an address, or an address that is not a bare local@domain, is an
// "invalid_message" error and nothing is sent.
//
// Errors (medflow::error):
//   "invalid_message"   the message was refused before sending (status 0)
//   "smtp_rejected"     the server answered 4xx/5xx (status = its reply code, e.g. 550)
//   "timeout", "connect_failed", "transport_failed" (status 0): see net/curl_easy.hpp
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace medflow::smtp {

enum class security {
  none,      // smtp://, never TLS (loopback relays, tests)
  starttls,  // smtp:// and STARTTLS, refused if the server does not offer it
  implicit,  // smtps://, TLS from the first byte (port 465)
};

struct options {
  std::string host = "127.0.0.1";
  int port = 25;
  security tls = security::starttls;
  bool verify_peer = true;  // check the server's certificate and name
  std::string ca_file;      // extra CA bundle (PEM); empty: the system's
  std::string username;     // AUTH when set
  std::string password;
  std::string helo_name = "medflow.local";  // the name sent with EHLO
  int64_t timeout_ms = 15000;               // the whole exchange
  int64_t connect_timeout_ms = 5000;
  size_t max_body_bytes = 1024 * 1024;  // largest text body accepted
};

struct message {
  std::string from;             // local@domain
  std::vector<std::string> to;  // 1..100 recipients, each local@domain
  std::string subject;          // UTF-8, one line
  std::string text;             // UTF-8 body; LF or CRLF line ends
  // The Message-ID's left part (letters and digits); empty: a random one. A message sent again
  // (a retry after a crash cut off its record) keeps its id, so receivers see one message.
  std::string id;
};

// The RFC 5322 text of m as it would be sent at time `now` with Message-ID <id@domain of from>,
// or "invalid_message".
result<std::string> render(const message& m, std::time_t now, const std::string& id);

class client {
 public:
  // Throws std::invalid_argument for an empty host, a port outside 1..65535 or a host/helo
  // name with characters a URL cannot carry.
  explicit client(options opts);
  status send(const message& m) const;

 private:
  options opts_;
};

}  // namespace medflow::smtp
