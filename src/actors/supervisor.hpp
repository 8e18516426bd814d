// supervisor: keeps one child actor alive. A child that stops with an error is restarted
// after a capped exponential backoff; more than `max_restarts` restarts within `window`
// escalates: the supervisor reports a problem to `health` (the daemon is then not ready) and
// keeps retrying at the maximum delay until the child survives a whole window again.
// Killing the supervisor kills the child (they are linked).
#pragma once

#include "actors/protocol.hpp"
#include "core/health.hpp"
#include "core/metrics.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <string>

namespace medflow::actors {

struct restart_policy {
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
  size_t max_restarts = 10;
  std::chrono::milliseconds window{60000};
};

struct supervisor_state {
  static inline const char* name = "supervisor";

  // -- constants -------------------------------------------------------------------------------
  std::string child_name;
  restart_policy policy;
  std::function<caf::actor(caf::actor_system&)> factory;
  health* health_registry = nullptr;

  // -- member variables --------------------------------------------------------------------------
  caf::actor child;
  std::deque<caf::actor_clock::time_point> failures;  // within the window
  size_t consecutive = 0;          // failures since the child last lived a whole window
  caf::actor_clock::time_point started;
  bool escalated = false;
  bool draining = false;
  uint64_t restarts = 0;
  metrics::counter* m_restarts = nullptr;
  metrics::gauge* m_escalated = nullptr;  // 1 while escalated (the daemon not ready)

  // -- helpers -----------------------------------------------------------------------------------
  std::chrono::milliseconds next_delay() const;
};

// `factory` spawns the child (called again for every restart).
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, std::string child_name,
                         std::function<caf::actor(caf::actor_system&)> factory,
                         restart_policy policy, health* h);

}  // namespace medflow::actors
