// lookup: runs one aggregated request's engagement lookup and request list (the flow service's
// step after its checks, flows::aggregation::run_fn) on a scheduler thread, so that the HTTP
// connection's thread never waits for SQLite or for a patient's thousands of engagements;
// what it runs then answers at once or hands the fan-out to a splitter. Stops when done.
#pragma once

#include "actors/aggregation/messages.hpp"

#include <functional>

namespace medflow::actors {

struct lookup_state {
  static inline const char* name = "lookup";
};

caf::behavior lookup(caf::stateful_actor<lookup_state>* self, std::function<void()> step);

// A run_fn for the service: each step on a lookup actor of its own.
flows::aggregation::run_fn run_on_lookup(caf::actor_system& sys);

}  // namespace medflow::actors
