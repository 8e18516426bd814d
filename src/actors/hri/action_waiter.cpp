#include "actors/hri/action_waiter.hpp"

#include "core/ids.hpp"
#include "core/log.hpp"
#include "flows/hri/batch_topic.hpp"

namespace medflow::actors {

namespace hri = flows::hri;

namespace {

using self_ptr = caf::stateful_actor<action_waiter_state>*;

void schedule_poll(self_ptr self) {
  auto& st = self->state;
  if (st.poll_scheduled || st.by_request.empty()) return;
  st.poll_scheduled = true;
  self->delayed_send(self, st.poll_interval, poll_atom::value);
}

void poll(self_ptr self) {
  auto& st = self->state;
  st.poll_scheduled = false;
  auto now = st.now();
  for (auto it = st.by_request.begin(); it != st.by_request.end();) {
    auto& w = it->second;
    std::optional<hri::action_outcome> o;
    if (w.appended) {
      try {
        o = st.svc->find_outcome(it->first);
      } catch (const std::exception& e) {
        log::warn("hri", "reading the outcome of a batch action: ", e.what());
      }
    }
    if (o) {
      w.reply(o->status, o->message);
    } else if (now >= w.deadline_ms) {
      w.reply(504, "the batch's owner did not apply the action within " +
                       std::to_string(st.timeout.count()) + " ms");
    } else {
      ++it;
      continue;
    }
    it = st.by_request.erase(it);
  }
  schedule_poll(self);
}

}  // namespace

caf::behavior action_waiter(caf::stateful_actor<action_waiter_state>* self,
                            std::shared_ptr<flows::hri::service> svc, caf::actor forwarder,
                            now_fn now, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds poll_interval) {
  auto& st = self->state;
  st.svc = std::move(svc);
  st.forwarder = std::move(forwarder);
  st.now = std::move(now);
  st.timeout = timeout;
  st.poll_interval = poll_interval;
  return {
      [self](batch_relay_atom, batch_action& a) {
        auto& st = self->state;
        if (st.by_request.size() >= action_waiter_state::max_waiting) {
          a.reply(503, "too many batch actions are waiting for their batch's owner");
          return;
        }
        hri::action_entry e{a.tenant, a.batch_id, ids::random_hex(16), std::move(a.request),
                            std::move(a.who)};
        auto id = e.request_id;
        st.by_request[id] = {std::move(a.reply), st.now() + st.timeout.count(), false};
        auto me = caf::actor_cast<caf::actor>(self);
        self->send(st.forwarder, batch_forward_atom::value,
                   batch_entry_out{hri::action_message(e), [me, id](std::exception_ptr err) {
                                     caf::anon_send(me, batch_relay_atom::value, id,
                                                    err == nullptr);
                                   }});
        schedule_poll(self);
      },
      [self](batch_relay_atom, const std::string& id, bool ok) {
        auto& st = self->state;
        auto it = st.by_request.find(id);
        if (it == st.by_request.end()) return;  // answered already (timeout)
        if (ok) {
          it->second.appended = true;
          return;
        }
        it->second.reply(503, "the action could not be handed to the batch's owner");
        st.by_request.erase(it);
      },
      [self](poll_atom) { poll(self); },
      [self](drain_atom) {
        // The HTTP server is stopped before the actors drain: nobody waits for these answers.
        for (auto& [id, w] : self->state.by_request) w.reply(503, "medflowd is shutting down");
        self->quit();
      },
  };
}

}  // namespace medflow::actors
