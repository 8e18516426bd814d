// periodic: runs a task every `interval` (scheduled maintenance: retention, TTL cleanups,
// expiries). The task may block on the store, so spawn it detached. A task that throws is
// logged and tried again at the next interval.
#pragma once

#include "actors/protocol.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace medflow::actors {

struct periodic_state {
  static inline const char* name = "periodic";
  std::string task_name;
  std::function<void()> task;
  std::chrono::milliseconds interval{60000};
  uint64_t runs = 0;
  uint64_t failures = 0;
};

caf::behavior periodic(caf::stateful_actor<periodic_state>* self, std::string task_name,
                       std::chrono::milliseconds interval, std::function<void()> task);

// at_drain: runs `task` once when drained (drain_atom), then quits. Owned before the actors
// whose end it follows (the daemon drains its owned actors newest first), e.g. to give a store
// lease up once the work it guarded has stopped. Spawn it detached when the task blocks.
caf::behavior at_drain(caf::event_based_actor* self, std::function<void()> task);

}  // namespace medflow::actors
