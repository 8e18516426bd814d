#include "app/consumers.hpp"

#include "actors/supervisor.hpp"
#include "core/config.hpp"

namespace medflow::app {

void start_consumers(runtime& rt, const consumer_group_spec& spec) {
  for (int32_t p = 0; p < spec.partitions; ++p) {
    actors::consumer_config c;
    c.group = spec.group;
    c.topic = spec.topic;
    c.partition = p;
    c.fetch_max = static_cast<size_t>(rt.cfg.integer("bus.fetch_max"));
    c.max_in_flight = 2 * c.fetch_max;
    c.commit_interval = std::chrono::milliseconds(rt.cfg.integer("bus.commit_interval_ms"));
    c.max_attempts = spec.max_attempts;
    c.limits.max_keys = static_cast<size_t>(rt.cfg.integer("sequencer.max_keys"));
    c.limits.idle = std::chrono::milliseconds(rt.cfg.integer("sequencer.idle_ms"));
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
  }
}

}  // namespace medflow::app
