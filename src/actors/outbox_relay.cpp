#include "actors/outbox_relay.hpp"

#include "core/log.hpp"

namespace medflow::actors {

namespace {

class kafka_port : public outbox_port {
 public:
  kafka_port(bus::kafka_log& l, std::shared_ptr<store::lease> lease)
      : log_(l), lease_(std::move(lease)) {}
  std::vector<bus::outbox_row> peek(size_t max) override { return log_.outbox_peek(max); }
  void send(const std::vector<bus::message>& msgs) override { log_.produce_and_wait(msgs); }
  void ack(const std::vector<int64_t>& ids) override { log_.outbox_ack(ids); }
  bool claim() override { return !lease_ || lease_->held(); }
  void unclaim() override {
    if (lease_) lease_->release();
  }

 private:
  bus::kafka_log& log_;
  std::shared_ptr<store::lease> lease_;
};

using self_ptr = caf::stateful_actor<outbox_relay_state>*;

// Sends one batch. Returns true when more rows may be waiting.
bool relay_once(self_ptr self) {
  auto& st = self->state;
  auto rows = st.port->peek(st.settings.batch);
  if (rows.empty()) return false;
  std::vector<bus::message> msgs;
  std::vector<int64_t> ids;
  msgs.reserve(rows.size());
  ids.reserve(rows.size());
  for (auto& r : rows) {
    msgs.push_back(r.msg);
    ids.push_back(r.id);
  }
  st.port->send(msgs);
  st.port->ack(ids);
  st.relayed += rows.size();
  st.m_relayed->inc(rows.size());
  return rows.size() == st.settings.batch;
}

void run(self_ptr self) {
  auto& st = self->state;
  if (st.retry_scheduled) return;  // a failure backoff is running; its timer resumes us
  try {
    if (!st.port->claim()) return;  // another instance relays; the tick asks again
    if (relay_once(self)) self->send(self, wake_atom::value);  // yield between batches
    st.retry_delay = std::chrono::milliseconds{0};
  } catch (const std::exception& e) {
    ++st.failures;
    st.m_failures->inc();
    st.retry_delay = st.retry_delay.count() == 0
                         ? st.settings.retry_initial
                         : std::min(st.retry_delay * 2, st.settings.retry_max);
    log::warn("relay", "forwarding the outbox failed (", e.what(), "); retrying in ",
              st.retry_delay.count(), " ms");
    st.retry_scheduled = true;
    self->delayed_send(self, st.retry_delay, restart_atom::value);
  }
}

}  // namespace

std::unique_ptr<outbox_port> make_outbox_port(bus::kafka_log& log,
                                              std::shared_ptr<store::lease> lease) {
  return std::make_unique<kafka_port>(log, std::move(lease));
}

caf::behavior outbox_relay(caf::stateful_actor<outbox_relay_state>* self,
                           std::shared_ptr<outbox_port> port, relay_settings settings) {
  auto& st = self->state;
  st.port = std::move(port);
  st.settings = settings;
  auto& reg = metrics::registry::global();
  st.m_relayed = &reg.get_counter("medflow_relay_rows_total", "outbox rows forwarded to Kafka");
  st.m_failures = &reg.get_counter("medflow_relay_failures_total", "failed forwarding rounds");
  self->send(self, wake_atom::value);  // rows left by an earlier run
  self->delayed_send(self, settings.poll_interval, tick_atom::value);
  return {
      [self](wake_atom) { run(self); },
      [self](tick_atom) {
        run(self);
        self->delayed_send(self, self->state.settings.poll_interval, tick_atom::value);
      },
      [self](restart_atom) {
        self->state.retry_scheduled = false;
        run(self);
      },
      [self](drain_atom) {
        // Forward what is left, then stop. A broker that is down keeps it for the next start.
        auto& st = self->state;
        st.draining = true;
        try {
          if (st.port->claim())
            while (relay_once(self)) {
            }
        } catch (const std::exception& e) {
          log::warn("relay", "stopping with rows left in the outbox: ", e.what());
        }
        st.port->unclaim();  // another instance's relay takes over at once
        self->quit();
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{{"relayed", std::to_string(st.relayed)},
                                                  {"failures", std::to_string(st.failures)}};
      },
  };
}

}  // namespace medflow::actors
