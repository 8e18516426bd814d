// result_worker: handles the result files its results_scanner hands it, one at a time: read,
// apply, move (flows/exams/results.hpp). Each call blocks on the disk or S3 and on the store's
// group commit, so workers are spawned detached, and several run in parallel: their store units
// then share commits.
#pragma once

#include "actors/exams/messages.hpp"

#include <memory>

namespace medflow::actors {

struct result_worker_state {
  static inline const char* name = "result_worker";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<exams::inbox> inbox;
  exams::apply_fn apply;
  size_t max_file_bytes = 0;
};

caf::behavior result_worker(caf::stateful_actor<result_worker_state>* self,
                            std::shared_ptr<exams::inbox> inbox, exams::apply_fn apply,
                            size_t max_file_bytes);

}  // namespace medflow::actors
