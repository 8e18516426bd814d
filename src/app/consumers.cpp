#include "app/consumers.hpp"

#include "actors/partition_owner.hpp"
#include "actors/supervisor.hpp"
#include "core/config.hpp"

#include <map>
#include <mutex>

namespace medflow::app {

topic_consumers start_consumers(runtime& rt, const consumer_group_spec& spec) {
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
  bus::log* bus = &rt.bus;
  auto handlers = spec.handlers;
  auto restart = rt.restart;
  health* h = &rt.h;
  // The attempt counts of a partition outlive restarts of its consumer and its revocation
  // (it may come back): one tracker per partition for the process's lifetime.
  auto trackers = std::make_shared<
      std::pair<std::mutex, std::map<int32_t, std::shared_ptr<actors::attempt_tracker>>>>();
  auto spawn_partition = [common, bus, handlers, restart, h, trackers](caf::actor_system& sys,
                                                                       int32_t p) {
    auto c = common;
    c.partition = p;
    std::shared_ptr<actors::attempt_tracker> attempts;
    {
      std::lock_guard<std::mutex> g{trackers->first};
      auto& t = trackers->second[p];
      if (!t) t = std::make_shared<actors::attempt_tracker>();
      attempts = t;
    }
    return sys.spawn(
        actors::supervisor, c.topic + "/" + std::to_string(p),
        [c, bus, handlers, attempts](caf::actor_system& s) {
          return s.spawn(actors::partition_consumer, c, bus, handlers, attempts);
        },
        restart, h);
  };
  topic_consumers out;
  out.owner = rt.sys.spawn(actors::partition_owner, spec.topic,
                           std::function<caf::actor(caf::actor_system&, int32_t)>(spawn_partition),
                           std::chrono::milliseconds(rt.cfg.integer("bus.release_timeout_ms")));
  rt.own(out.owner);
  // The bus may call after the owner (or the whole actor system) is gone: a weak handle, and a
  // revocation sent nowhere releases at once (partition_release).
  caf::weak_actor_ptr weak = out.owner->ctrl();
  bus::log::group_listener l;
  auto on_assigned = spec.on_assigned;
  l.assigned = [weak, on_assigned](const std::vector<int32_t>& ps) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), actors::assign_atom::value, ps);
    if (on_assigned) on_assigned(ps);
  };
  auto after_revoked = spec.after_revoked;
  l.revoked = [weak, after_revoked](const std::vector<int32_t>& ps,
                                    std::function<void()> released) {
    if (after_revoked)
      released = [after_revoked, ps, released = std::move(released)] {
        after_revoked(ps, actors::partition_release{released});
      };
    actors::partition_release token{std::move(released)};
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), actors::revoke_atom::value, ps,
                     std::move(token));
  };
  out.membership = spec.every_partition
                       ? rt.bus.bus::log::join(spec.group, spec.topic, std::move(l))
                       : rt.bus.join(spec.group, spec.topic, std::move(l));
  return out;
}

}  // namespace medflow::app
