// How one notification goes out, and what an attempt's outcome means for the outbox. No I/O:
// the notification_sender actor sends, these build the messages and judge the answers.
//
// E-mail: a plain-text message over SMTP (net/smtp_client). SMS: a POST of
//   {"to": "<cellphone>", "text": "<message>", "reference": "<exam id>"}
// (application/json) to the gateway's URL; any 2xx is sent.
//
// Permanent failures (not retried): an SMTP 5xx reply or a message refused before sending;
// a gateway 4xx other than 408 and 429. Everything else (timeouts, refused connections, SMTP
// 4xx, gateway 5xx, 408, 429) is retried with backoff.
#pragma once

#include "flows/exams/notifications.hpp"
#include "net/http_client.hpp"
#include "net/smtp_client.hpp"

#include <string>

namespace medflow::exams {

struct attempt_outcome {
  std::string error;  // empty: delivered
  bool permanent = false;
};

smtp::message mail_of(const notification& n, const std::string& from);
net::http_client::request sms_request_of(const notification& n, const std::string& url,
                                         int64_t timeout_ms);

attempt_outcome judge_mail(const status& sent);
attempt_outcome judge_sms(const net::http_client::response& r);

}  // namespace medflow::exams
