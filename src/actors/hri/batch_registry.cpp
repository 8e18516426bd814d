#include "actors/hri/batch_registry.hpp"

namespace medflow::actors {

namespace {

using self_ptr = caf::stateful_actor<batch_registry_state>*;

// The batch's actor, started if needed. `counted`: a message will be sent to it (the idle
// handshake compares what was sent with what it handled).
batch_registry_state::entry& route(self_ptr self, const std::string& tenant,
                                   const std::string& id, bool counted = true) {
  auto& st = self->state;
  auto k = batch_registry_state::key(tenant, id);
  auto it = st.batches.find(k);
  if (it == st.batches.end()) {
    // Linked: batch actors go down with the registry; their own exits reach the handler.
    auto a = self->spawn<caf::linked>(batch_state, st.svc, tenant, id,
                                      caf::actor_cast<caf::actor>(self), st.now);
    st.by_actor[a.address()] = k;
    it = st.batches.emplace(k, batch_registry_state::entry{a, 0}).first;
    st.m_live->set(static_cast<int64_t>(st.batches.size()));
  }
  if (counted) ++it->second.sent;
  return it->second;
}

// Draining: quits once no batch actor is left.
void quit_if_drained(self_ptr self) {
  if (self->state.draining && self->state.batches.empty()) self->quit();
}

// A message for a batch while draining is followed by a drain of its actor (which may be new).
void send_draining(self_ptr self, const caf::actor& a) {
  if (self->state.draining) self->send(a, drain_atom::value);
}

void drop(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto it = st.batches.find(key);
  if (it == st.batches.end()) return;
  st.by_actor.erase(it->second.actor.address());
  self->unlink_from(it->second.actor);
  self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
  st.batches.erase(it);
  st.m_live->set(static_cast<int64_t>(st.batches.size()));
  quit_if_drained(self);
}

}  // namespace

caf::behavior batch_registry(caf::stateful_actor<batch_registry_state>* self,
                             std::shared_ptr<flows::hri::service> svc, now_fn now) {
  auto& st = self->state;
  st.svc = std::move(svc);
  st.now = std::move(now);
  st.m_live = &metrics::registry::global().get_gauge("medflow_hri_batch_actors",
                                                     "live batch_state actors");
  self->set_exit_handler([self](caf::exit_msg& em) {
    auto& st = self->state;
    auto it = st.by_actor.find(em.source);
    if (it == st.by_actor.end()) {
      if (em.reason) self->quit(em.reason);
      return;
    }
    // A batch actor that stopped is started again (from the store) on its next message.
    st.batches.erase(it->second);
    st.by_actor.erase(it);
    st.m_live->set(static_cast<int64_t>(st.batches.size()));
    quit_if_drained(self);
  });
  return {
      [self](batch_record_atom, batch_record& r) {
        auto& e = route(self, r.judged.tenant, r.judged.batch_id.value_or(""));
        self->send(e.actor, batch_record_atom::value, std::move(r));
        send_draining(self, e.actor);
      },
      [self](batch_action_atom, batch_action& a) {
        auto& e = route(self, a.tenant, a.batch_id);
        self->send(e.actor, batch_action_atom::value, std::move(a));
        send_draining(self, e.actor);
      },
      [self](wake_atom, const std::string& tenant, const std::string& id) {
        // Starting the actor is enough: it resumes pending completions and timeouts.
        send_draining(self, route(self, tenant, id, false).actor);
      },
      [self](idle_atom, const std::string& key, uint64_t handled) {
        auto& st = self->state;
        auto it = st.batches.find(key);
        // Only if everything sent to it was handled: otherwise messages are on their way.
        if (it != st.batches.end() && it->second.sent == handled) drop(self, key);
      },
      [self](forget_atom, const std::string& tenant) {
        auto& st = self->state;
        std::vector<std::string> keys;
        for (auto& [k, e] : st.batches)
          if (k.rfind(tenant + "/", 0) == 0) keys.push_back(k);
        for (auto& k : keys) drop(self, k);
      },
      [self](drain_atom) {
        // Each batch actor commits what it holds and stops; its exit reaches the handler.
        auto& st = self->state;
        st.draining = true;
        for (auto& [k, e] : st.batches) self->send(e.actor, drain_atom::value);
        quit_if_drained(self);
      },
  };
}

}  // namespace medflow::actors
