#include "actors/hri/batch_registry.hpp"

#include "core/log.hpp"

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
  auto& st = self->state;
  if (st.draining && st.batches.empty() && st.releasing.empty()) self->quit();
}

// A message for a batch whose actor drains for a revocation waits for it to be down.
bool hold(self_ptr self, const std::string& key, batch_registry_state::held_message& m) {
  auto& st = self->state;
  if (!st.releasing.count(key)) return false;
  st.held[key].push_back(std::move(m));
  return true;
}

void deliver(self_ptr self, batch_registry_state::held_message& m);

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

namespace {

// Records in log order: each run of one batch's records goes on as one message (held one by
// one, as deliver holds them, while the batch's actor is being released).
void deliver_all(self_ptr self, std::vector<batch_record>& records) {
  using held_message = batch_registry_state::held_message;
  auto id_of = [](const batch_record& r) { return r.judged.batch_id.value_or(""); };
  for (size_t i = 0; i < records.size();) {
    std::string tenant = records[i].judged.tenant, id = id_of(records[i]);
    size_t end = i + 1;
    while (end < records.size() && records[end].judged.tenant == tenant && id_of(records[end]) == id)
      ++end;
    if (self->state.releasing.count(batch_registry_state::key(tenant, id))) {
      for (; i < end; ++i) {
        held_message m{held_message::kind::record, std::move(records[i]), {}};
        deliver(self, m);
      }
      continue;
    }
    auto& e = route(self, tenant, id);
    batch_records run;
    run.items.reserve(end - i);
    for (; i < end; ++i) run.items.push_back(std::move(records[i]));
    self->send(e.actor, batch_records_atom::value, std::move(run));
    send_draining(self, e.actor);
  }
}

void deliver(self_ptr self, batch_registry_state::held_message& m) {
  using kind = batch_registry_state::held_message::kind;
  switch (m.k) {
    case kind::record: {
      auto& tenant = m.record.judged.tenant;
      auto id = m.record.judged.batch_id.value_or("");
      if (hold(self, batch_registry_state::key(tenant, id), m)) return;
      auto& e = route(self, tenant, id);
      self->send(e.actor, batch_record_atom::value, std::move(m.record));
      send_draining(self, e.actor);
      return;
    }
    case kind::action: {
      auto k = batch_registry_state::key(m.action.tenant, m.action.batch_id);
      if (hold(self, k, m)) return;
      auto& e = route(self, m.action.tenant, m.action.batch_id);
      self->send(e.actor, batch_action_atom::value, std::move(m.action));
      send_draining(self, e.actor);
      return;
    }
    case kind::wake: {
      auto tenant = m.action.tenant, id = m.action.batch_id;
      if (hold(self, batch_registry_state::key(tenant, id), m)) return;
      // Starting the actor is enough: it resumes pending completions and timeouts.
      send_draining(self, route(self, tenant, id, false).actor);
      return;
    }
  }
}

}  // namespace

caf::behavior batch_registry(caf::stateful_actor<batch_registry_state>* self,
                             std::shared_ptr<flows::hri::service> svc, now_fn now,
                             batch_partition_fn partition_of,
                             std::chrono::milliseconds release_timeout) {
  auto& st = self->state;
  st.svc = std::move(svc);
  st.now = std::move(now);
  st.partition_of = std::move(partition_of);
  st.release_timeout = release_timeout;
  st.m_live = &metrics::registry::global().get_gauge("medflow_hri_batch_actors",
                                                     "live batch_state actors");
  self->set_exit_handler([self](caf::exit_msg& em) {
    auto& st = self->state;
    auto it = st.by_actor.find(em.source);
    if (it == st.by_actor.end()) {
      if (em.reason) self->quit(em.reason);
      return;
    }
    auto rel = st.releasing.find(it->second);
    if (rel != st.releasing.end() && rel->second.address() == em.source) {
      // Drained for a revocation: release once the partition's last actor is down, then hand
      // what waited for it to a new actor (which starts from the committed state).
      auto key = it->second;
      st.releasing.erase(rel);
      st.by_actor.erase(it);
      for (auto r = st.releases.begin(); r != st.releases.end();) {
        r->second.keys.erase(key);
        if (r->second.keys.empty()) {
          r->second.token.release();
          r = st.releases.erase(r);
        } else {
          ++r;
        }
      }
      auto h = st.held.find(key);
      if (h != st.held.end()) {
        auto msgs = std::move(h->second);
        st.held.erase(h);
        for (auto& m : msgs) deliver(self, m);
      }
      quit_if_drained(self);
      return;
    }
    // A batch actor that stopped is started again (from the store) on its next message.
    st.batches.erase(it->second);
    st.by_actor.erase(it);
    st.m_live->set(static_cast<int64_t>(st.batches.size()));
    quit_if_drained(self);
  });
  using held_message = batch_registry_state::held_message;
  return {
      [self](batch_record_atom, batch_record& r) {
        held_message m{held_message::kind::record, std::move(r), {}};
        deliver(self, m);
      },
      [self](batch_records_atom, batch_records& rs) { deliver_all(self, rs.items); },
      [self](batch_action_atom, batch_action& a) {
        held_message m{held_message::kind::action, {}, std::move(a)};
        deliver(self, m);
      },
      [self](wake_atom, const std::string& tenant, const std::string& id) {
        held_message m{held_message::kind::wake, {}, {}};
        m.action.tenant = tenant;
        m.action.batch_id = id;
        deliver(self, m);
      },
      [self](revoke_atom, const std::vector<int32_t>& ps, partition_release& token) {
        auto& st = self->state;
        batch_registry_state::pending_release r;
        if (st.partition_of) {
          std::set<int32_t> revoked(ps.begin(), ps.end());
          std::vector<std::string> keys;
          for (auto& [k, e] : st.batches)
            if (revoked.count(st.partition_of(k))) keys.push_back(k);
          for (auto& k : keys) {
            auto it = st.batches.find(k);
            st.releasing[k] = it->second.actor;
            self->send(it->second.actor, drain_atom::value);
            st.batches.erase(it);
            r.keys.insert(k);
          }
          st.m_live->set(static_cast<int64_t>(st.batches.size()));
        }
        if (r.keys.empty()) {
          token.release();
          return;
        }
        r.token = std::move(token);
        auto id = st.next_release++;
        st.releases.emplace(id, std::move(r));
        self->delayed_send(self, st.release_timeout, revoke_atom::value, id);
      },
      [self](revoke_atom, uint64_t id) {
        // Too late: nothing of a released partition may run here any more.
        auto& st = self->state;
        auto r = st.releases.find(id);
        if (r == st.releases.end()) return;
        auto keys = std::move(r->second.keys);
        auto token = std::move(r->second.token);
        st.releases.erase(r);
        for (auto& k : keys) {
          log::error("hri", "batch ", k, " did not drain within ", st.release_timeout.count(),
                     " ms; stopping it");
          auto a = st.releasing.find(k);
          if (a == st.releasing.end()) continue;
          // Unlinked first: a kill reaching the registry through the link would kill it too.
          self->unlink_from(a->second);
          self->send_exit(a->second, caf::exit_reason::kill);
          st.by_actor.erase(a->second.address());
          st.releasing.erase(a);
        }
        token.release();
        for (auto& k : keys) {
          auto h = st.held.find(k);
          if (h == st.held.end()) continue;
          auto msgs = std::move(h->second);
          st.held.erase(h);
          for (auto& m : msgs) deliver(self, m);
        }
        quit_if_drained(self);
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
