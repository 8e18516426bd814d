#include "app/consumers.hpp"

#include "actors/supervisor.hpp"
#include "core/config.hpp"

namespace medflow::app {

std::vector<caf::actor> start_consumers(runtime& rt, const consumer_group_spec& spec) {
  actors::consumer_config common;
  common.group = spec.group;
  common.topic = spec.topic;
  common.fetch_max = static_cast<size_t>(rt.cfg.integer("bus.fetch_max"));
  common.max_in_flight = 2 * common.fetch_max;
  common.commit_interval = std::chrono::milliseconds(rt.cfg.integer("bus.commit_interval_ms"));
  common.max_attempts = spec.max_attempts;
  common.limits.max_keys = static_cast<size_t>(rt.cfg.integer("sequencer.max_keys"));
  common.limits.idle = std::chrono::milliseconds(rt.cfg.integer("sequencer.idle_ms"));
  rt.bus.track_group(spec.group, spec.topic);  // for its lag (bus/consumer_lag.hpp)
  std::vector<caf::actor> sups;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    auto c = common;
    c.partition = p;
    // The attempt counts outlive restarts of the consumer: the factory owns them.
    auto attempts = std::make_shared<actors::attempt_tracker>();
    bus::log* bus = &rt.bus;
    auto handlers = spec.handlers;
    auto sup = rt.sys.spawn(
        actors::supervisor, spec.topic + "/" + std::to_string(p),
        [c, bus, handlers, attempts](caf::actor_system& sys) {
          return sys.spawn(actors::partition_consumer, c, bus, handlers, attempts);
        },
        rt.restart, &rt.h);
    rt.own(sup);
    sups.push_back(std::move(sup));
  }
  return sups;
}

}  // namespace medflow::app
