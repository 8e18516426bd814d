// A flow plugged into the daemon: its migrations, and what it starts (topics, actors, HTTP
// routes). src/app/ is the composition root: the only place that knows every layer.
#pragma once

#include "actors/supervisor.hpp"
#include "store/database.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace medflow {
class config;
class health;
namespace bus {
class log;
}
namespace http {
class server;
}
}  // namespace medflow

namespace medflow::app {

// What a flow gets to start with.
struct runtime {
  const config& cfg;
  store::database& db;
  bus::log& bus;
  caf::actor_system& sys;
  health& h;
  http::server& http;
  actors::restart_policy restart;
  // Registers a top-level actor the daemon drains (drain_atom) and waits for at shutdown.
  std::function<void(caf::actor)> own;
};

class flow {
 public:
  virtual ~flow() = default;
  virtual std::string name() const = 0;
  virtual std::vector<store::migration> migrations() const = 0;
  virtual void start(runtime& rt) = 0;
};

}  // namespace medflow::app
