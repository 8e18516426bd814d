#include "actors/aggregation/splitter.hpp"

#include "actors/aggregation/aggregator.hpp"
#include "actors/aggregation/source_worker.hpp"

namespace medflow::actors {

caf::behavior splitter(caf::stateful_actor<splitter_state>* self,
                       std::shared_ptr<const fan_out> job) {
  auto agg = self->spawn(aggregator, job);
  for (size_t i = 0; i < job->calls.size(); ++i) self->spawn(source_worker, job, i, agg);
  self->quit();
  return {};
}

}  // namespace medflow::actors
