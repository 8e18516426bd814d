// batch_state: the one owner of an HRI batch's status and counters. Records of the batch's
// input topic (whatever partition they came from) and the API's actions reach it in one
// mailbox; it decides with the pure tracker (flows/hri) and commits the new state, the
// records it forwards or rejects, and the notification of every status change in one store
// transaction, so no decision is ever visible without its notification or vice versa.
// Decisions made between two flushes are committed together (group commit per batch).
#pragma once

#include "actors/hri/messages.hpp"
#include "flows/hri/service.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace medflow::actors {

// Where batch actors read the time (ms since the epoch) from: the wall clock in the daemon; a
// test gives the deterministic scheduler's virtual time, so completion delays and stuck
// timeouts run on it.
using now_fn = std::function<int64_t()>;

struct batch_state_state {
  static inline const char* name = "batch_state";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<flows::hri::service> svc;
  std::string tenant;
  std::string id;
  caf::actor registry;
  now_fn now;
  // Idle this long without work or timers, a batch actor offers to be reclaimed.
  static constexpr std::chrono::seconds idle_after{30};

  // -- member variables --------------------------------------------------------------------------
  std::optional<flows::hri::batch> b;  // nullopt: no such batch
  uint64_t handled = 0;                // messages handled (the registry's idle handshake)
  uint64_t timer_generation = 0;       // a check scheduled before a newer one is ignored
  bool timer_pending = false;

  // What the next flush commits.
  bool dirty = false;
  std::vector<flows::hri::batch> notifications;  // one per status change, in order
  std::vector<bus::message> records;
  std::vector<done_fn> dones;
  std::vector<std::function<void(int, std::string)>> replies;
  std::vector<flows::hri::action_outcome> outcomes;  // of relayed actions
  // Relayed actions applied and not yet known to be committed: a redelivery of one of them is
  // recognised here until then, in the store (hri_action_outcomes) after.
  std::set<std::string> applied_requests;
  bool flush_scheduled = false;
  size_t commits_in_flight = 0;
  bool draining = false;  // stops once nothing is buffered or being committed
};

caf::behavior batch_state(caf::stateful_actor<batch_state_state>* self,
                          std::shared_ptr<flows::hri::service> svc, std::string tenant,
                          std::string id, caf::actor registry, now_fn now);

}  // namespace medflow::actors
