// splitter: starts one aggregated request's fan-out: an aggregator, then one source_worker per
// source call, all in parallel, and stops. The flow's service hands it the fan-out; the
// aggregator's reply answers the HTTP request, which no thread waits for (its responder has a
// deadline of AGGREGATED_SERVICE_TIMEOUT_MS).
#pragma once

#include "actors/aggregation/messages.hpp"

#include <memory>

namespace medflow::actors {

struct splitter_state {
  static inline const char* name = "splitter";
};

caf::behavior splitter(caf::stateful_actor<splitter_state>* self,
                       std::shared_ptr<const fan_out> job);

}  // namespace medflow::actors
