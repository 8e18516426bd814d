// partition_consumer: the router of one partition (the seed's kafka_consumer role). It
// fetches a batch from the bus at its group's committed offset, dispatches every record to the
// keyed sequencer, and commits the offset after the batch only when every record of it is
// done. A record that fails makes it stop with an error: the supervisor restarts it and the
// uncommitted rest is delivered again. A record that failed `max_attempts` times is
// dead-lettered instead, so one poison message never blocks the partition.
#pragma once

#include "actors/keyed_sequencer.hpp"
#include "actors/protocol.hpp"
#include "bus/log.hpp"
#include "core/metrics.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace medflow::actors {

// Failed attempts per offset. It outlives consumer restarts (the supervisor's factory keeps
// it), so attempts add up across redeliveries within one process lifetime.
class attempt_tracker {
 public:
  // Records one failure; returns the attempts so far.
  int fail(int64_t offset, const std::string& reason);
  int attempts(int64_t offset) const;
  std::string last_reason(int64_t offset) const;
  // Forgets offsets below `next` (they are committed).
  void forget_below(int64_t next);

 private:
  mutable std::mutex mutex_;
  std::map<int64_t, std::pair<int, std::string>> failures_;
};

struct consumer_config {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  size_t fetch_max = 500;
  int max_attempts = 3;
  sequencer_limits limits;
  // Safety-net poll when no wake arrives (a wake is normally immediate).
  std::chrono::milliseconds poll_interval{1000};
};

struct partition_consumer_state {
  static inline const char* name = "partition_consumer";

  // -- constants -------------------------------------------------------------------------------
  consumer_config cfg;
  bus::log* bus = nullptr;
  std::shared_ptr<const record_handlers> handlers;
  std::shared_ptr<attempt_tracker> attempts;

  // -- member variables --------------------------------------------------------------------------
  caf::actor sequencer;
  std::unique_ptr<bus::log::watch_handle> watch;
  std::shared_ptr<std::atomic<bool>> wake_pending;  // coalesces wakes from the bus
  int64_t next_fetch = 0;     // first offset not yet fetched
  int64_t committed = 0;      // last commit we know succeeded (or that we started from)
  int64_t batch_end = -1;     // next offset after the batch in flight, -1 when none
  size_t outstanding = 0;     // records of the batch in flight not done yet
  bool draining = false;
  bool commit_inflight = false;

  // -- probes ------------------------------------------------------------------------------------
  metrics::counter* m_records = nullptr;
  metrics::counter* m_batches = nullptr;
  metrics::counter* m_dead_lettered = nullptr;
  metrics::counter* m_commits = nullptr;
  metrics::histogram* m_batch_size = nullptr;
  metrics::gauge* m_committed = nullptr;
};

caf::behavior partition_consumer(caf::stateful_actor<partition_consumer_state>* self,
                                 consumer_config cfg, bus::log* bus,
                                 std::shared_ptr<const record_handlers> handlers,
                                 std::shared_ptr<attempt_tracker> attempts);

}  // namespace medflow::actors
