// keyed_sequencer: one mailbox per key. Records with the same key are handled one at a time
// in arrival order by that key's key_worker; different keys run in parallel. A worker that has
// nothing to do for `idle` is reclaimed; at most `max_keys` workers live at once — when full,
// the least recently idle one is reclaimed, and if none is idle new keys wait (in order).
// Completions and failures are reported to the owner (the partition consumer).
#pragma once

#include "actors/protocol.hpp"
#include "core/metrics.hpp"

#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

namespace medflow::actors {

struct sequencer_limits {
  size_t max_keys = 10000;
  std::chrono::milliseconds idle{10000};
};

struct keyed_sequencer_state {
  static inline const char* name = "keyed_sequencer";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<const record_handlers> handlers;
  caf::actor owner;
  sequencer_limits limits;

  // -- member variables --------------------------------------------------------------------------
  struct entry {
    caf::actor worker;
    std::deque<int64_t> inflight;  // offsets dispatched and not yet handled, in order
    caf::actor_clock::time_point idle_since{};  // valid while idle
    std::list<std::string>::iterator idle_pos;
    bool idle = false;
  };
  std::unordered_map<std::string, entry> keys;
  std::map<caf::actor_addr, std::string> by_worker;
  std::list<std::string> idle_lru;  // idle keys, oldest first
  // One reclaim timer at a time, due when the oldest idle key has been idle for `idle`
  // (not one timer per handled record).
  bool sweep_pending = false;
  std::deque<std::pair<std::string, work_item>> waiting;  // keys that found no free slot
  std::multiset<std::string> waiting_keys;
  uint64_t reclaimed = 0;
  uint64_t spawned = 0;
  // A record failed: the owner is about to restart from its committed offset. Nothing more is
  // started meanwhile, or a later record of the failed key could overtake it.
  bool failed = false;

  // -- probes ------------------------------------------------------------------------------------
  metrics::gauge* m_live = nullptr;
  metrics::gauge* m_waiting = nullptr;

  // -- helpers -----------------------------------------------------------------------------------
  void mark_busy(entry& e);
  void mark_idle(const std::string& key, entry& e, caf::actor_clock::time_point now);
};

// `label` names the sequencer in metrics (e.g. "medical_events/3").
caf::behavior keyed_sequencer(caf::stateful_actor<keyed_sequencer_state>* self,
                              std::shared_ptr<const record_handlers> handlers, caf::actor owner,
                              sequencer_limits limits, std::string label);

}  // namespace medflow::actors
