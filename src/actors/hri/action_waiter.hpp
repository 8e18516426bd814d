// action_waiter: the HTTP actions on batches (sendComplete, terminate, processingComplete,
// fail) when several instances share the batches (README "HRI batches across instances"). The
// batch may be owned by another instance: each action is appended, under a new request id, to
// the batch's key of the internal topic (through the batch_forwarder), in order with the
// batch's records; the owner applies it and writes the outcome under the request id in the same
// transaction. This actor looks for the outcomes in the store every `poll_interval` and answers
// with them, or 504 once `timeout` has passed without one.
#pragma once

#include "actors/hri/batch_state.hpp"

#include <chrono>
#include <map>
#include <string>

namespace medflow::actors {

struct action_waiter_state {
  static inline const char* name = "action_waiter";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<flows::hri::service> svc;
  caf::actor forwarder;
  now_fn now;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds poll_interval{20};
  static constexpr size_t max_waiting = 10000;  // more at once: 503

  // -- member variables --------------------------------------------------------------------------
  struct waiting {
    std::function<void(int, std::string)> reply;
    int64_t deadline_ms = 0;
    bool appended = false;  // the forwarder's append was acknowledged
  };
  std::map<std::string, waiting> by_request;
  bool poll_scheduled = false;
};

caf::behavior action_waiter(caf::stateful_actor<action_waiter_state>* self,
                            std::shared_ptr<flows::hri::service> svc, caf::actor forwarder,
                            now_fn now, std::chrono::milliseconds timeout,
                            std::chrono::milliseconds poll_interval);

}  // namespace medflow::actors
