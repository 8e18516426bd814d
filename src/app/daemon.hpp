// medflowd itself: opens the store, the bus and the actor system, starts every flow and the
// HTTP server, and stops them in the right order.
#pragma once

#include "core/config.hpp"
#include "core/health.hpp"

#include <caf/all.hpp>

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
  // Graceful stop: stop accepting HTTP, let in-flight requests finish, drain consumers (they
  // finish and commit their batches), forward the outbox, close the store.
  void stop();
  int port() const;
  bool ready() const { return health_.ready(); }

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
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace medflow::app
