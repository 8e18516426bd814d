#include "flows/exams/delivery.hpp"

#include "core/crypto.hpp"

#include <nlohmann/json.hpp>

namespace medflow::exams {

smtp::message mail_of(const notification& n, const std::string& from) {
  // One Message-ID per exam's notification: a repeat after a kill -9 (between the server's
  // answer and its record) is the same message to the receiver, not a second one.
  return {from, {n.address}, n.subject, n.text + "\n",
          crypto::sha256_hex("medflow exam result notification " + n.exam_id).substr(0, 32)};
}

net::http_client::request sms_request_of(const notification& n, const std::string& url,
                                         int64_t timeout_ms) {
  net::http_client::request r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = nlohmann::json{{"to", n.address}, {"text", n.text}, {"reference", n.exam_id}}.dump();
  r.timeout_ms = timeout_ms;
  r.connect_timeout_ms = std::min<int64_t>(timeout_ms, 2000);
  return r;
}

attempt_outcome judge_mail(const status& sent) {
  if (sent) return {};
  const auto& e = sent.err();
  std::string why = "smtp: " + e.code + (e.message.empty() ? "" : " (" + e.message + ")");
  bool permanent = e.code == "invalid_message" || (e.code == "smtp_rejected" && e.status >= 500);
  return {why, permanent};
}

attempt_outcome judge_sms(const net::http_client::response& r) {
  using outcome = net::http_client::response::outcome;
  if (r.result != outcome::ok) {
    const char* what = r.result == outcome::timeout          ? "timeout"
                       : r.result == outcome::connect_failed ? "connect_failed"
                                                             : "failed";
    return {std::string("sms gateway: ") + what + (r.error.empty() ? "" : " (" + r.error + ")"),
            false};
  }
  if (r.status >= 200 && r.status < 300) return {};
  bool permanent = r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429;
  return {"sms gateway: HTTP " + std::to_string(r.status), permanent};
}

}  // namespace medflow::exams
