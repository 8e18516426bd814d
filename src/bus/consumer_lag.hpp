// Consumer lag: per group, topic and partition, the end offset less the group's committed
// offset, from the bus interface alone (end_offset, committed), so both backends and any way
// of assigning partitions to consumers give the same figure.
#pragma once

#include "bus/log.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medflow::metrics {
class registry;
}

namespace medflow::bus {

struct partition_lag {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  int64_t end_offset = 0;
  std::optional<int64_t> committed;  // none: the group has committed nothing there yet
  int64_t lag = 0;                   // end_offset - committed (committed none: from 0)
};

// The lag of every group the log tracks (log::track_group) on `only_topic`, or on every topic
// when it is null. A topic deleted since is left out. The first read that fails (a broker
// down: the error is in `failed`) ends the measure, so that it waits for at most one timeout
// of the backend (bus.kafka.timeout_ms); what was measured until then is in `partitions`.
struct lag_report {
  std::vector<partition_lag> partitions;
  std::vector<std::string> failed;  // "<group> <topic>[<partition>]: why"
};
lag_report consumer_lag(log& l, const std::string* only_topic = nullptr);

// medflow_consumer_lag{topic,partition,group}, measured when /metrics is scraped; returns the
// collector's id: remove it (registry::remove_collector) before `l` goes.
uint64_t export_consumer_lag(log& l, metrics::registry& r);

}  // namespace medflow::bus
