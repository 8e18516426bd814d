// Starts the consumers of a topic (shared by flows): a partition owner that spawns one
// supervised partition consumer per partition the consumer group gives this instance.
#pragma once

#include "actors/partition_consumer.hpp"
#include "actors/partition_owner.hpp"
#include "app/flow.hpp"
#include "bus/log.hpp"

#include <functional>
#include <memory>
#include <string>

namespace medflow::app {

struct consumer_group_spec {
  std::string group;
  std::string topic;
  int max_attempts = 3;
  std::shared_ptr<const actors::record_handlers> handlers;
  // Every partition on this instance, whatever the other instances do (no consumer group
  // membership): for a flow whose state is not yet safe to split across instances (HRI).
  bool every_partition = false;
  // Called with the partitions the group gives this instance (their consumers are starting).
  std::function<void(const std::vector<int32_t>&)> on_assigned = {};
  // Called once the consumers of revoked partitions are down and before the bus hands the
  // partitions to another instance, which waits until `release` is released (or dropped): for
  // actors of the partitions beside the consumers (HRI's batch actors).
  std::function<void(const std::vector<int32_t>&, actors::partition_release release)>
      after_revoked = {};
};

// The consumers of one topic on this instance. The owner is registered (runtime::own), so the
// daemon drains it at shutdown; the membership leaves the group when destroyed (drain the
// owner first: then what it held is committed and nothing is left to hand over).
struct topic_consumers {
  caf::actor owner;
  std::unique_ptr<bus::log::membership> membership;
};

topic_consumers start_consumers(runtime& rt, const consumer_group_spec& spec);

}  // namespace medflow::app
