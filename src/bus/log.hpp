// The topic log: one interface, two backends (embedded SQLite, Kafka), same behaviour.
//
// Records are appended to a partition of a topic and read back by (partition, offset).
// Keyed records go to murmur2(key) mod N, exactly as the Java Kafka client's default
// partitioner, so every writer agrees. Consumer groups commit "the next offset to read".
#pragma once

#include "core/error.hpp"

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace medflow::store {
class tx;
}

namespace medflow::bus {

using headers = std::vector<std::pair<std::string, std::string>>;

// A record to append. `partition` unset: chosen from the key (murmur2) or, for a null key,
// round-robin.
struct message {
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  headers hdrs;
  std::optional<int32_t> partition;
};

// A record read back.
struct record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::optional<std::string> key;
  std::string value;
  headers hdrs;

  const std::string* header(const std::string& name) const {
    for (auto it = hdrs.rbegin(); it != hdrs.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }
};

struct position {
  int32_t partition = 0;
  int64_t offset = 0;
};

struct topic_info {
  std::string name;
  int32_t partitions = 0;
};

// Errors a caller can act on; anything else is a runtime_error.
class unknown_topic : public std::runtime_error {
 public:
  explicit unknown_topic(const std::string& t) : std::runtime_error("unknown topic " + t) {}
};
class unknown_partition : public std::runtime_error {
 public:
  unknown_partition(const std::string& t, int32_t p)
      : std::runtime_error("unknown partition " + std::to_string(p) + " of topic " + t) {}
};
class topic_exists : public std::runtime_error {
 public:
  topic_exists(const std::string& t, int32_t p)
      : std::runtime_error("topic " + t + " already exists with " + std::to_string(p) +
                           " partitions") {}
};

// What a record counts towards a read's byte cap: its key, value and header names and values.
size_t record_bytes(const record& r);
inline constexpr size_t no_byte_cap = SIZE_MAX;
// Whether a record of `n` bytes joins a read that holds `taken` records of `used` bytes under a
// cap of `cap` bytes: the first always does, later ones while the total stays within the cap.
inline bool within_byte_cap(size_t taken, size_t used, size_t n, size_t cap) {
  return taken == 0 || (used <= cap && n <= cap - used);
}

// Topic names: what Kafka accepts ([a-zA-Z0-9._-], 1..249, not "." or "..").
bool valid_topic_name(const std::string& name);

class log {
 public:
  virtual ~log() = default;
  virtual const char* backend() const = 0;

  // -- topics --------------------------------------------------------------------------------
  // Creates a topic; an existing one with the same partition count is fine, another count
  // throws topic_exists.
  virtual void create_topic(const std::string& name, int32_t partitions) = 0;
  virtual void delete_topic(const std::string& name) = 0;
  virtual std::optional<int32_t> partitions(const std::string& topic) = 0;
  virtual std::vector<topic_info> topics() = 0;

  // -- writing -------------------------------------------------------------------------------
  // Appends and returns once the records are durable (embedded: committed; Kafka: acked by
  // all in-sync replicas). Throws unknown_topic / unknown_partition, writing nothing.
  virtual std::vector<position> append(const std::vector<message>& msgs) = 0;
  // Appends as part of a store transaction (called on the writer thread): the records exist
  // if and only if the transaction commits. Embedded: written to the log directly (offset
  // known). Kafka: written to the outbox, which the relay forwards in order (no offset yet).
  virtual std::optional<position> append_in(store::tx& t, const message& m) = 0;
  // append_in for several records, in order. The embedded log writes them as one run (each
  // topic looked up once, one statement, one timestamp); by default, append_in one by one.
  virtual std::vector<std::optional<position>> append_all_in(store::tx& t,
                                                             const std::vector<message>& msgs);

  // -- reading -------------------------------------------------------------------------------
  // Up to `max` records of one partition from offset `from` on (fewer, or none, when the
  // partition has no more yet), and no more than `max_bytes` (record_bytes) in all but for the
  // first record, which comes whatever its size so that a reader always moves on (Kafka's
  // fetch.max.bytes). The backend stops reading at the cap: what is left is not held in
  // memory. Throws unknown_topic / unknown_partition.
  virtual std::vector<record> fetch(const std::string& topic, int32_t partition, int64_t from,
                                    size_t max, size_t max_bytes = no_byte_cap) = 0;
  // The offset the next appended record of the partition will get.
  virtual int64_t end_offset(const std::string& topic, int32_t partition) = 0;

  // -- consumer groups -----------------------------------------------------------------------
  // Commits `next` (the next offset to read) for a group.
  virtual void commit(const std::string& group, const std::string& topic, int32_t partition,
                      int64_t next) = 0;
  // The same, without blocking the caller: `done` runs (on some other thread) once the commit
  // is durable or failed.
  virtual void commit_async(const std::string& group, const std::string& topic,
                            int32_t partition, int64_t next,
                            done_fn done) = 0;
  virtual std::optional<int64_t> committed(const std::string& group, const std::string& topic,
                                           int32_t partition) = 0;

  // -- waking consumers ----------------------------------------------------------------------
  // Calls `wake` (from any thread) whenever records may have arrived in the partition. The
  // returned handle unregisters on destruction.
  class watch_handle {
   public:
    virtual ~watch_handle() = default;
  };
  virtual std::unique_ptr<watch_handle> watch(const std::string& topic, int32_t partition,
                                              std::function<void()> wake) = 0;

  // -- group membership ----------------------------------------------------------------------
  // Which partitions of a topic this instance owns, as a member of a consumer group. The bus
  // calls the listener on its own thread; the callbacks must not block on the bus.
  struct group_listener {
    // The partitions are this member's now: consume them from the group's committed offset.
    std::function<void(const std::vector<int32_t>&)> assigned;
    // The partitions are taken away: finish what is in flight, commit, stop, then call
    // `released` (once; a callback dropped uncalled counts as called). The bus hands the
    // partitions over only after that, or after its release timeout.
    std::function<void(const std::vector<int32_t>&, std::function<void()> released)> revoked;
  };
  // Leaves the group when destroyed (its partitions go to the other members).
  class membership {
   public:
    virtual ~membership() = default;
  };
  // Joins `group` as a consumer of `topic`. This default is one node owning everything: every
  // partition is assigned at once and never revoked (the embedded backend). Kafka joins a
  // consumer group (subscribe, cooperative-sticky) and follows its rebalances.
  virtual std::unique_ptr<membership> join(const std::string& group, const std::string& topic,
                                           group_listener listener);
  // Leaves every group joined (their partitions go to the other members now), running the
  // revocations first; later rebalances call no listener. The daemon calls it once its
  // consumers are drained, before the actors the listeners talk to are gone.
  virtual void leave_groups() {}

  // -- operations ----------------------------------------------------------------------------
  // "" when the backend is reachable, else why not.
  virtual std::string check() = 0;
  // Finishes background work (relay, producer flush) before shutdown.
  virtual void close() {}

  // The partition a message goes to, given the topic's partition count.
  int32_t choose_partition(const message& m, int32_t partitions);

  // -- consumer groups medflowd reads with (for their lag, bus/consumer_lag.hpp) ------------
  // Notes that `group` consumes `topic` (every partition); idempotent.
  void track_group(const std::string& group, const std::string& topic);
  // The (group, topic) pairs noted, sorted.
  std::vector<std::pair<std::string, std::string>> tracked_groups() const;

 private:
  std::atomic<uint32_t> round_robin_{0};
  mutable std::mutex tracked_mutex_;
  std::set<std::pair<std::string, std::string>> tracked_;
};

}  // namespace medflow::bus
