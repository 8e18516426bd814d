// aggregator: collects the outcome of every source call of one aggregated request and answers
// once: when all have reported, or when the aggregate timeout fires (sources still out are
// "not answered": NoDataSynchFailed "Unknown error", or DataFromCacheSynchFailed when the
// service's cache holds an earlier answer of theirs). Every expected source gets exactly one
// processing-status record. When the aggregate timeout is longer than the per-call timeout,
// every call has ended before it, so no timer is needed.
#pragma once

#include "actors/aggregation/messages.hpp"
#include "core/metrics.hpp"

#include <memory>
#include <vector>

namespace medflow::actors {

struct aggregator_state {
  static inline const char* name = "aggregator";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<const fan_out> job;

  // -- member variables --------------------------------------------------------------------------
  std::vector<flows::aggregation::source_result> results;
  std::vector<bool> reported;
  size_t missing = 0;
  bool answered = false;
};

// medflow_agp_aggregate_timeouts_total (registered by the first call: the flow calls it at
// start so that the series is there before the first timeout).
metrics::counter& aggregate_timeouts();

caf::behavior aggregator(caf::stateful_actor<aggregator_state>* self,
                         std::shared_ptr<const fan_out> job);

}  // namespace medflow::actors
