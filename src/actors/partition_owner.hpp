// partition_owner: the consumers of one topic on this instance, for the partitions the group
// membership gives it (bus::log::join). One supervised partition consumer per owned
// partition, spawned on assignment. On revocation each revoked consumer drains (finishes what
// is in flight, commits, stops its sequencer and key workers) and only once all of them are
// down is the release signalled, so the bus hands a partition to another instance only when
// nothing of it runs here any more: no key is processed by two instances at once. A consumer
// that does not drain within `release_timeout` is killed before the release.
#pragma once

#include "actors/protocol.hpp"
#include "core/metrics.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace medflow::actors {

// Calls its function once: when release() is called, or when the last copy goes (a revoke
// sent to an owner that is gone is dropped, and that releases at once).
class partition_release {
 public:
  partition_release() = default;
  explicit partition_release(std::function<void()> fn)
      : guard_(std::make_shared<guard>(std::move(fn))) {}
  void release() {
    if (guard_) guard_->fire();
    guard_.reset();
  }

 private:
  struct guard {
    explicit guard(std::function<void()> f) : fn(std::move(f)) {}
    ~guard() { fire(); }
    void fire() {
      if (fn) std::exchange(fn, nullptr)();
    }
    std::function<void()> fn;
  };
  std::shared_ptr<guard> guard_;
};

struct partition_owner_state {
  static inline const char* name = "partition_owner";

  // -- constants -------------------------------------------------------------------------------
  std::string topic;
  // Spawns the (supervised) consumer of one partition.
  std::function<caf::actor(caf::actor_system&, int32_t)> spawn_partition;
  std::chrono::milliseconds release_timeout{30000};

  // -- member variables --------------------------------------------------------------------------
  struct running {
    caf::actor actor;
    bool draining = false;
  };
  std::map<int32_t, running> partitions;  // the consumers alive, by partition
  std::map<caf::actor_addr, int32_t> by_addr;
  std::set<int32_t> reassigned;  // assigned again while still draining: respawn
  struct pending_release {
    std::set<int32_t> waiting;  // revoked consumers not down yet
    partition_release token;
  };
  std::map<uint64_t, pending_release> releases;
  uint64_t next_release = 0;
  bool draining = false;  // drain_atom: stops once every consumer is down

  // -- probes ------------------------------------------------------------------------------------
  metrics::gauge* m_owned = nullptr;  // partitions of the topic owned here
};

caf::behavior partition_owner(
    caf::stateful_actor<partition_owner_state>* self, std::string topic,
    std::function<caf::actor(caf::actor_system&, int32_t)> spawn_partition,
    std::chrono::milliseconds release_timeout);

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::partition_release)
