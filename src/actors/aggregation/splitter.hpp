// splitter: starts one aggregated request's fan-out: an aggregator, then one source_worker per
// source call, all in parallel. It is the bridge from the synchronous HTTP request (which waits
// for the reply, bounded by AGGREGATED_SERVICE_TIMEOUT_MS) to the asynchronous calls.
#pragma once

#include "actors/protocol.hpp"

#include <memory>

namespace medflow::actors {

struct splitter_state {
  static inline const char* name = "splitter";
};

caf::behavior splitter(caf::stateful_actor<splitter_state>* self, std::shared_ptr<const fan_out> job);

}  // namespace medflow::actors
