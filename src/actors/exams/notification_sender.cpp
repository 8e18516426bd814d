#include "actors/exams/notification_sender.hpp"

#include "actors/completion_runner.hpp"
#include "core/log.hpp"
#include "flows/exams/delivery.hpp"

#include <algorithm>

namespace medflow::actors {

namespace {

using self_ptr = caf::stateful_actor<notification_sender_state>*;

void record(self_ptr self, int64_t id, const exams::attempt_outcome& out) {
  auto& st = self->state;
  auto now = st.settings.now();
  auto s = st.outbox->record_attempt(id, out.error, out.permanent, now);
  switch (s) {
    case exams::notification_status::sent:
      ++st.sent;
      st.m_sent->inc();
      break;
    case exams::notification_status::pending:
      ++st.retried;
      st.m_retried->inc();
      // The error text is the server's, which may quote the address or number: at debug
      // only (the outbox keeps it with the notification).
      log::info("exams", "notification ", id, " not delivered; retrying");
      log::debug("exams", "notification ", id, " not delivered: ", out.error);
      break;
    default:
      ++st.failed;
      st.m_failed->inc();
      log::warn("exams", "notification ", id, " failed for good (its last error is kept with it)");
      log::debug("exams", "notification ", id, " failed for good: ", out.error);
      break;
  }
}

// Arms the timer for the earliest pending attempt, unless one fires sooner already.
void schedule_next(self_ptr self) {
  auto& st = self->state;
  auto next = st.outbox->next_attempt_ms(st.sms_in_flight);
  if (st.settings.idle_poll_ms > 0) {
    int64_t poll_at = st.settings.now() + st.settings.idle_poll_ms;
    if (!next || *next > poll_at) next = poll_at;
  }
  if (!next) return;
  if (st.timer_at != 0 && st.timer_at <= *next) return;
  st.timer_at = *next;
  auto delay = std::max<int64_t>(0, *next - st.settings.now());
  self->delayed_send(self, std::chrono::milliseconds(delay), tick_atom::value);
}

void start_sms(self_ptr self, const exams::notification& n) {
  auto& st = self->state;
  st.sms_in_flight.push_back(n.id);
  if (st.settings.sms_url.empty()) {
    self->send(self, sms_done_atom::value, n.id,
               std::string("sms: no gateway configured (exams.notify.sms_url)"), false);
    return;
  }
  caf::actor me = caf::actor_cast<caf::actor>(self);
  int64_t id = n.id;
  st.transports.call(exams::sms_request_of(n, st.settings.sms_url, st.settings.sms_timeout_ms),
                     [me, id](net::http_client::response r) {
                       auto out = exams::judge_sms(r);
                       post(me, sms_done_atom::value, id, std::move(out.error), out.permanent);
                     });
}

// One round: the due rows, up to a batch; SMS calls are started, but at most one e-mail is
// sent (it blocks up to the SMTP timeout), so a drain or an SMS answer never waits behind a
// whole batch of them. Yields (wake to itself) while more may be due.
void run(self_ptr self) {
  auto& st = self->state;
  if (st.draining) return;
  auto rows = st.outbox->due(st.settings.now(), st.settings.batch, st.sms_in_flight);
  bool more = rows.size() == st.settings.batch;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& n = rows[i];
    if (n.via == exams::channel::email) {
      record(self, n.id,
             exams::judge_mail(st.transports.send_mail(exams::mail_of(n, st.settings.mail_from))));
      more = more || i + 1 < rows.size();
      break;
    }
    if (n.via == exams::channel::none) {
      record(self, n.id, {"no channel", true});
      continue;
    }
    if (st.sms_in_flight.size() >= st.settings.max_sms_in_flight) {
      more = false;  // the answers of those in flight run the next round
      break;
    }
    start_sms(self, n);
  }
  if (more)
    self->send(self, wake_atom::value);
  else
    schedule_next(self);
}

}  // namespace

caf::behavior notification_sender(caf::stateful_actor<notification_sender_state>* self,
                                  std::shared_ptr<exams::notifications> outbox,
                                  notification_transports transports, sender_settings settings) {
  auto& st = self->state;
  st.outbox = std::move(outbox);
  st.transports = std::move(transports);
  st.settings = std::move(settings);
  auto& reg = metrics::registry::global();
  st.m_sent = &reg.get_counter("medflow_exam_notifications_sent_total",
                               "exam notifications delivered (e-mail or SMS)");
  st.m_retried = &reg.get_counter("medflow_exam_notification_retries_total",
                                  "failed notification attempts that will be retried");
  st.m_failed = &reg.get_counter("medflow_exam_notifications_failed_total",
                                 "exam notifications given up (permanent refusal or attempts "
                                 "used up)");
  self->send(self, wake_atom::value);  // rows left by an earlier run
  return {
      [self](wake_atom) { run(self); },
      [self](tick_atom) {
        self->state.timer_at = 0;
        run(self);
      },
      [self](sms_done_atom, int64_t id, const std::string& error, bool permanent) {
        auto& st = self->state;
        st.sms_in_flight.erase(std::remove(st.sms_in_flight.begin(), st.sms_in_flight.end(), id),
                               st.sms_in_flight.end());
        record(self, id, {error, permanent});
        if (st.draining) {
          if (st.sms_in_flight.empty()) self->quit();
          return;
        }
        run(self);
      },
      [self](drain_atom) {
        // Answers of SMS calls in flight are recorded first (the calls have a timeout); rows
        // still pending wait for the next start.
        auto& st = self->state;
        st.draining = true;
        if (st.sms_in_flight.empty()) self->quit();
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{{"sent", std::to_string(st.sent)},
                                                  {"retried", std::to_string(st.retried)},
                                                  {"failed", std::to_string(st.failed)}};
      },
  };
}

}  // namespace medflow::actors
