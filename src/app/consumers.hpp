// Spawns one supervised partition consumer per partition of a topic (shared by flows).
#pragma once

#include "actors/partition_consumer.hpp"
#include "app/flow.hpp"

#include <string>

namespace medflow::app {

struct consumer_group_spec {
  std::string group;
  std::string topic;
  int32_t partitions = 1;
  int max_attempts = 3;
  std::shared_ptr<const actors::record_handlers> handlers;
};

// Spawns and registers (runtime::own) a supervisor per partition, and returns them.
std::vector<caf::actor> start_consumers(runtime& rt, const consumer_group_spec& spec);

}  // namespace medflow::app
