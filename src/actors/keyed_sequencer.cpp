#include "actors/keyed_sequencer.hpp"

#include "actors/key_worker.hpp"

#include <algorithm>

namespace medflow::actors {

void keyed_sequencer_state::mark_busy(entry& e) {
  if (e.idle) {
    idle_lru.erase(e.idle_pos);
    e.idle = false;
  }
}

void keyed_sequencer_state::mark_idle(const std::string& key, entry& e,
                                      caf::actor_clock::time_point now) {
  if (!e.idle) {
    e.idle_pos = idle_lru.insert(idle_lru.end(), key);
    e.idle = true;
    e.idle_since = now;
  }
}

namespace {

using self_ptr = caf::stateful_actor<keyed_sequencer_state>*;

// `key` by value: callers pass idle_lru.front(), whose node this erases.
void reclaim(self_ptr self, std::string key) {
  auto& st = self->state;
  auto it = st.keys.find(key);
  if (it == st.keys.end()) return;
  auto& e = it->second;
  if (e.idle) st.idle_lru.erase(e.idle_pos);
  st.by_worker.erase(e.worker.address());
  self->unlink_from(e.worker);
  self->send_exit(e.worker, caf::exit_reason::user_shutdown);
  st.keys.erase(it);
  ++st.reclaimed;
  st.m_live->set(static_cast<int64_t>(st.keys.size()));
}

// Arms the reclaim timer for the oldest idle key unless one is armed.
void schedule_sweep(self_ptr self) {
  auto& st = self->state;
  if (st.sweep_pending || st.idle_lru.empty()) return;
  auto due = st.keys.at(st.idle_lru.front()).idle_since + st.limits.idle;
  auto now = self->clock().now();
  self->delayed_send(self, due > now ? due - now : caf::actor_clock::duration_type{0},
                     reclaim_atom::value);
  st.sweep_pending = true;
}

// Hands the item to its key's worker, spawning one if there is a free slot. Returns false
// when the key has to wait for a slot.
bool route(self_ptr self, const std::string& key, work_item& item) {
  auto& st = self->state;
  auto it = st.keys.find(key);
  if (it == st.keys.end()) {
    if (st.keys.size() >= st.limits.max_keys) {
      if (st.idle_lru.empty()) return false;
      reclaim(self, st.idle_lru.front());
    }
    keyed_sequencer_state::entry e;
    // Linked: workers die with the sequencer; a worker's death reaches the exit handler.
    e.worker = self->spawn<caf::linked>(key_worker, key, st.handlers,
                                        caf::actor_cast<caf::actor>(self));
    st.by_worker[e.worker.address()] = key;
    it = st.keys.emplace(key, std::move(e)).first;
    ++st.spawned;
    st.m_live->set(static_cast<int64_t>(st.keys.size()));
  }
  auto& e = it->second;
  st.mark_busy(e);
  e.inflight.push_back(item.rec.offset);
  self->send(e.worker, dispatch_atom::value, std::move(item));
  return true;
}

// Routes waiting items, oldest first, as long as slots allow.
void drain_waiting(self_ptr self) {
  auto& st = self->state;
  if (st.failed) return;  // after a failure nothing more is started (see the header)
  while (!st.waiting.empty()) {
    auto& [key, item] = st.waiting.front();
    if (!route(self, key, item)) return;
    st.waiting_keys.erase(st.waiting_keys.find(key));
    st.waiting.pop_front();
  }
  st.m_waiting->set(0);
}

}  // namespace

caf::behavior keyed_sequencer(caf::stateful_actor<keyed_sequencer_state>* self,
                              std::shared_ptr<const record_handlers> handlers, caf::actor owner,
                              sequencer_limits limits, std::string label) {
  auto& st = self->state;
  st.handlers = std::move(handlers);
  st.owner = std::move(owner);
  st.limits = limits;
  auto& reg = metrics::registry::global();
  st.m_live = &reg.get_gauge("medflow_sequencer_live_keys", "live per-key actors",
                             {{"sequencer", label}});
  st.m_waiting = &reg.get_gauge("medflow_sequencer_waiting", "records waiting for a key slot",
                                {{"sequencer", label}});
  st.m_live->set(0);

  self->set_exit_handler([self](caf::exit_msg& em) {
    auto& st = self->state;
    auto w = st.by_worker.find(em.source);
    if (w == st.by_worker.end()) {
      // Not a live worker: the owner (or anyone else linked) going down takes us along, and
      // our workers with us. Linked actors ignore a normal exit, so an idle worker would
      // otherwise outlive us, and a completion still holding it would keep the actor
      // system's shutdown waiting for it (seen with Kafka: SIGTERM within sequencer.idle_ms
      // of a processed job hung medflowd).
      if (em.source == st.owner.address() || em.reason) {
        for (auto& [key, e] : st.keys)
          if (e.worker) self->send_exit(e.worker, caf::exit_reason::user_shutdown);
        self->quit(em.reason);
      }
      return;
    }
    auto key = w->second;
    st.by_worker.erase(w);
    auto it = st.keys.find(key);
    int64_t offset = -1;
    if (it != st.keys.end() && !it->second.inflight.empty()) offset = it->second.inflight.front();
    if (it != st.keys.end()) {
      if (it->second.idle) st.idle_lru.erase(it->second.idle_pos);
      st.keys.erase(it);
    }
    st.m_live->set(static_cast<int64_t>(st.keys.size()));
    st.failed = true;
    self->send(st.owner, record_failed_atom::value, offset,
               "key " + key + ": " + describe(em.reason));
  });

  return {
      [self](dispatch_atom, const std::string& key, work_item& item) {
        auto& st = self->state;
        if (st.failed) return;  // delivered again after the owner's restart
        // A key that already waits keeps its order behind the waiting items.
        if (st.waiting_keys.count(key) || !route(self, key, item)) {
          st.waiting_keys.insert(key);
          st.waiting.emplace_back(key, std::move(item));
          st.m_waiting->set(static_cast<int64_t>(st.waiting.size()));
        }
      },
      [self](handled_atom, const std::string& key, int64_t offset) {
        auto& st = self->state;
        self->send(st.owner, record_done_atom::value, offset);
        auto it = st.keys.find(key);
        if (it == st.keys.end()) return;
        auto& e = it->second;
        auto pos = std::find(e.inflight.begin(), e.inflight.end(), offset);
        if (pos != e.inflight.end()) e.inflight.erase(pos);
        if (e.inflight.empty()) {
          st.mark_idle(key, e, self->clock().now());
          schedule_sweep(self);
          if (!st.waiting.empty()) drain_waiting(self);
        }
      },
      [self](reclaim_atom) {
        auto& st = self->state;
        st.sweep_pending = false;
        auto now = self->clock().now();
        // Oldest first: stop at the first key not idle long enough.
        while (!st.idle_lru.empty() &&
               st.keys.at(st.idle_lru.front()).idle_since + st.limits.idle <= now)
          reclaim(self, st.idle_lru.front());
        schedule_sweep(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{
            {"live", std::to_string(st.keys.size())},
            {"idle", std::to_string(st.idle_lru.size())},
            {"waiting", std::to_string(st.waiting.size())},
            {"spawned", std::to_string(st.spawned)},
            {"reclaimed", std::to_string(st.reclaimed)}};
      },
  };
}

}  // namespace medflow::actors
