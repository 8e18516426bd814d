// medflowd itself: opens the store, the bus and the actor system, starts every flow and the
// HTTP server, and stops them in the right order.
#pragma once

#include "core/config.hpp"
#include "core/health.hpp"

#include <caf/all.hpp>

#include <chrono>

#include <memory>
#include <mutex>
#include <vector>

namespace medflow::store {
class database;
}
namespace medflow::bus {
class log;
}
namespace medflow::http {
class server;
}

namespace medflow::app {

class flow;
struct runtime;

class daemon {
 public:
  explicit daemon(config cfg);
  ~daemon();
  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  // Starts everything; throws with a clear message when something cannot start.
  void start();
  // First step of a stop: /readyz answers 503 from now on, everything else still serves.
  void begin_stop();
  // Graceful stop: stop accepting HTTP, let in-flight requests finish, drain consumers (they
  // finish and commit their batches), forward the outbox, close the store. The HTTP drain and
  // the actors' drains end by `deadline` (what is still running then is cut off).
  void stop(std::chrono::steady_clock::time_point deadline);
  // Same, by shutdown.timeout_ms from now.
  void stop();
  int port() const;
  bool ready() const { return health_.ready(); }
  // Liveness for a watchdog: the store answers and an actor answers a message within `limit`.
  // Not readiness: a broker that is down leaves medflowd alive.
  bool alive(std::chrono::milliseconds limit);

 private:
  config cfg_;
  health health_;
  std::unique_ptr<store::database> db_;
  std::unique_ptr<bus::log> bus_;
  uint64_t lag_collector_ = 0;  // medflow_consumer_lag's, removed before bus_ goes
  std::unique_ptr<caf::actor_system_config> caf_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<http::server> http_;
  std::vector<std::unique_ptr<flow>> flows_;
  std::unique_ptr<runtime> runtime_;  // flows keep it: streams start consumers later
  std::mutex owned_mutex_;
  std::vector<caf::actor> owned_;  // drained in reverse order at stop
  caf::actor relay_;
  caf::actor heartbeat_;  // answers alive()'s pings
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace medflow::app
