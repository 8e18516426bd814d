#include "actors/partition_owner.hpp"

#include "core/log.hpp"

namespace medflow::actors {

namespace {

using self_ptr = caf::stateful_actor<partition_owner_state>*;

void spawn_consumer(self_ptr self, int32_t p) {
  auto& st = self->state;
  auto a = st.spawn_partition(self->system(), p);
  // Monitored for the bookkeeping; linked so that the consumers go down with the owner.
  self->monitor(a);
  self->link_to(a);
  st.by_addr[a.address()] = p;
  st.partitions[p] = {a, false};
  st.m_owned->set(static_cast<int64_t>(st.partitions.size()));
}

void drain_consumer(self_ptr self, int32_t p) {
  auto it = self->state.partitions.find(p);
  if (it == self->state.partitions.end() || it->second.draining) return;
  it->second.draining = true;
  self->send(it->second.actor, drain_atom::value);
}

void maybe_quit(self_ptr self) {
  if (self->state.draining && self->state.partitions.empty()) self->quit();
}

}  // namespace

caf::behavior partition_owner(
    caf::stateful_actor<partition_owner_state>* self, std::string topic,
    std::function<caf::actor(caf::actor_system&, int32_t)> spawn_partition,
    std::chrono::milliseconds release_timeout) {
  auto& st = self->state;
  st.topic = std::move(topic);
  st.spawn_partition = std::move(spawn_partition);
  st.release_timeout = release_timeout;
  st.m_owned = &metrics::registry::global().get_gauge(
      "medflow_consumer_owned_partitions", "partitions of the topic this instance consumes",
      {{"topic", st.topic}});

  // A consumer's exit arrives as a down message too; anyone else's takes the owner down.
  self->set_exit_handler([self](caf::exit_msg& em) {
    if (self->state.by_addr.count(em.source)) return;
    if (em.reason) self->quit(em.reason);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto at = st.by_addr.find(dm.source);
    if (at == st.by_addr.end()) return;
    int32_t p = at->second;
    st.by_addr.erase(at);
    auto it = st.partitions.find(p);
    if (it != st.partitions.end() && it->second.actor.address() == dm.source) {
      if (!it->second.draining)
        log::warn("consumer", st.topic, "/", p, " stopped on its own: ", describe(dm.reason));
      st.partitions.erase(it);
    }
    st.m_owned->set(static_cast<int64_t>(st.partitions.size()));
    for (auto r = st.releases.begin(); r != st.releases.end();) {
      r->second.waiting.erase(p);
      if (r->second.waiting.empty()) {
        r->second.token.release();
        r = st.releases.erase(r);
      } else {
        ++r;
      }
    }
    if (st.reassigned.erase(p) && !st.draining) spawn_consumer(self, p);
    maybe_quit(self);
  });

  return {
      [self](assign_atom, const std::vector<int32_t>& ps) {
        auto& st = self->state;
        if (st.draining) return;
        for (auto p : ps) {
          auto it = st.partitions.find(p);
          if (it == st.partitions.end())
            spawn_consumer(self, p);
          else if (it->second.draining)
            st.reassigned.insert(p);
        }
        log::info("consumer", st.topic, ": ", st.partitions.size(), " partitions owned");
      },
      [self](revoke_atom, const std::vector<int32_t>& ps, partition_release& token) {
        auto& st = self->state;
        partition_owner_state::pending_release r;
        for (auto p : ps) {
          st.reassigned.erase(p);
          if (st.partitions.count(p)) {
            r.waiting.insert(p);
            drain_consumer(self, p);
          }
        }
        if (r.waiting.empty()) {
          token.release();
          return;
        }
        r.token = std::move(token);
        uint64_t id = st.next_release++;
        st.releases.emplace(id, std::move(r));
        self->delayed_send(self, st.release_timeout, revoke_atom::value, id);
      },
      [self](revoke_atom, uint64_t id) {
        auto& st = self->state;
        auto r = st.releases.find(id);
        if (r == st.releases.end()) return;
        // Nothing of a released partition may run here any more: stop what did not drain.
        for (auto p : r->second.waiting) {
          log::error("consumer", st.topic, "/", p, " did not drain within ",
                     st.release_timeout.count(), " ms; stopping it");
          auto it = st.partitions.find(p);
          if (it != st.partitions.end()) {
            auto& a = it->second.actor;
            self->demonitor(a);
            self->unlink_from(a);
            self->send_exit(a, caf::exit_reason::kill);
            st.by_addr.erase(a.address());
            st.partitions.erase(it);
          }
        }
        st.m_owned->set(static_cast<int64_t>(st.partitions.size()));
        r->second.token.release();
        st.releases.erase(r);
        maybe_quit(self);
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        st.reassigned.clear();
        for (auto& [p, r] : st.partitions) drain_consumer(self, p);
        maybe_quit(self);
      },
      [self](status_atom) {
        std::vector<int32_t> owned;
        for (auto& [p, r] : self->state.partitions)
          if (!r.draining) owned.push_back(p);
        return owned;
      },
  };
}

}  // namespace medflow::actors
