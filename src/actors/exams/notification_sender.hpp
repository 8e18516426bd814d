// notification_sender: delivers the exams flow's notification outbox (flows/exams/
// notifications.hpp). Woken by wake_atom after a commit that added a row, and by its own timer
// at the earliest retry time; with nothing pending it has no timer and costs nothing (unless
// idle_poll_ms: several instances on one store).
//
// E-mails are sent one per message with the blocking SMTP client (spawn it detached; a drain
// waits for one e-mail at most); SMS go through the asynchronous HTTP client, several at once,
// each answer coming back as sms_done_atom. Every attempt is recorded in the outbox (sent, retry later, failed) as soon as
// it ends. A row being sent is never taken again until its attempt is recorded.
#pragma once

#include "actors/exams/messages.hpp"
#include "core/metrics.hpp"
#include "flows/exams/notifications.hpp"
#include "net/http_client.hpp"
#include "net/smtp_client.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medflow::actors {

// The two ways out. The app binds them to net/smtp_client and net/http_client; tests fake them.
struct notification_transports {
  // Sends one e-mail and returns when the server answered (bounded by the client's timeout).
  std::function<status(const smtp::message&)> send_mail;
  // Starts one call to the SMS gateway; `done` runs exactly once, on any thread.
  std::function<void(net::http_client::request, std::function<void(net::http_client::response)>)>
      call;
};

struct sender_settings {
  std::string mail_from = "results@medflow.local";
  std::string sms_url;  // empty: no gateway, an SMS attempt fails (and is retried)
  int64_t sms_timeout_ms = 8000;
  size_t batch = 100;             // rows looked at per round (SMS started) before yielding
  size_t max_sms_in_flight = 64;  // gateway calls at once
  std::function<int64_t()> now;   // wall clock in ms (virtual in tests)
  // Several instances on one store (exams.notify.claim_ms there): a round at least this often
  // even with nothing of its own pending, so that rows another instance claimed and died with
  // are sent once their claim ended (nobody wakes this sender for them). 0: only when woken or
  // due (one instance, as before).
  int64_t idle_poll_ms = 0;
};

struct notification_sender_state {
  static inline const char* name = "notification_sender";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<exams::notifications> outbox;
  notification_transports transports;
  sender_settings settings;

  // -- member variables --------------------------------------------------------------------------
  std::vector<int64_t> sms_in_flight;  // row ids
  int64_t timer_at = 0;                // when the pending tick fires (0: none)
  bool draining = false;

  // -- probes ------------------------------------------------------------------------------------
  uint64_t sent = 0, retried = 0, failed = 0;
  metrics::counter* m_sent = nullptr;
  metrics::counter* m_retried = nullptr;
  metrics::counter* m_failed = nullptr;
};

caf::behavior notification_sender(caf::stateful_actor<notification_sender_state>* self,
                                  std::shared_ptr<exams::notifications> outbox,
                                  notification_transports transports, sender_settings settings);

}  // namespace medflow::actors
