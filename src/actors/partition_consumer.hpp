// partition_consumer: the router of one partition (the seed's kafka_consumer role). It
// fetches batches from the bus starting at its group's committed offset and dispatches every
// record to the keyed sequencer, or, for handlers that keep the order themselves
// (record_handlers::order::in_log_order), hands it to the handler at once, in log order. The
// committed offset only ever moves to the first record not yet done, so a batch is committed
// once every record of it (and before it) is done; the next batch may already be in flight
// meanwhile (up to `max_in_flight` records), and commits are coalesced (one at a time, the
// newest point wins). A record that fails makes the consumer stop with an error: the
// supervisor restarts it and the uncommitted rest is delivered again. A record that failed
// `max_attempts` times is dead-lettered instead, so one poison message never blocks the
// partition.
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
#include <set>
#include <string>
#include <utility>
#include <vector>

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
  size_t max_in_flight = 1000;  // records dispatched and not done, across batches
  // Commits are at least this far apart (0: commit as soon as the done prefix moves). Fewer
  // commits cost the store less; a crash redelivers at most this much more (idempotently).
  std::chrono::milliseconds commit_interval{0};
  int max_attempts = 3;
  sequencer_limits limits;
  // Safety-net poll when no wake arrives (a wake is normally immediate).
  std::chrono::milliseconds poll_interval{1000};
};

// The offsets of records whose in-order handler finished, waiting for their consumer: a
// handler's completion runs on any thread, often the store writer's after a group commit that
// finished hundreds of records at once. Each adds its offset here; only the first since the
// consumer last took them sends it a message (records_done_atom).
class done_box {
 public:
  // True when the box was empty: the caller sends the message.
  bool add(int64_t offset) {
    std::lock_guard<std::mutex> g{mutex_};
    offsets_.push_back(offset);
    return offsets_.size() == 1;
  }
  std::vector<int64_t> take() {
    std::lock_guard<std::mutex> g{mutex_};
    return std::exchange(offsets_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<int64_t> offsets_;
};

struct partition_consumer_state {
  static inline const char* name = "partition_consumer";

  // -- constants -------------------------------------------------------------------------------
  consumer_config cfg;
  bus::log* bus = nullptr;
  std::shared_ptr<const record_handlers> handlers;
  std::shared_ptr<attempt_tracker> attempts;

  // -- member variables --------------------------------------------------------------------------
  caf::actor sequencer;  // none for record_handlers::order::in_log_order
  std::unique_ptr<bus::log::watch_handle> watch;
  std::shared_ptr<std::atomic<bool>> wake_pending;  // coalesces wakes from the bus
  std::shared_ptr<done_box> dones = std::make_shared<done_box>();  // in-order completions
  int64_t next_fetch = 0;     // first offset not yet fetched
  int64_t committed = 0;      // last commit we know succeeded (or that we started from)
  int64_t committing = -1;    // the commit in flight, -1 when none
  caf::actor_clock::time_point last_commit;  // when the last commit was started
  bool commit_timer = false;  // a commit_atom is scheduled
  std::set<int64_t> pending;  // offsets dispatched and not done yet
  bool draining = false;
  bool fetch_deferred = false;  // a wake or tick found no room: fetch once room opens

  // The offset everything before which is done: where the group may commit.
  int64_t done_up_to() const { return pending.empty() ? next_fetch : *pending.begin(); }

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
