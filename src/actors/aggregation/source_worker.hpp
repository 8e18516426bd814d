// source_worker: one call to one source system (per-call timeout), or a fresh cached answer
// instead; on a failure a cached answer may stand in. Reports to the aggregator and stops.
// The call itself is made by the asynchronous HTTP client, so no thread waits for it.
#pragma once

#include "actors/aggregation/messages.hpp"

#include <memory>

namespace medflow::actors {

struct source_worker_state {
  static inline const char* name = "source_worker";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<const fan_out> job;
  size_t index = 0;
  caf::actor aggregator;
  std::string cache_key;
};

caf::behavior source_worker(caf::stateful_actor<source_worker_state>* self,
                            std::shared_ptr<const fan_out> job, size_t index,
                            caf::actor aggregator);

}  // namespace medflow::actors
