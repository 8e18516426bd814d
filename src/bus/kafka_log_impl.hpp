// Private to the Kafka backend's sources: the state they share (kafka_log::impl) and the
// librdkafka helpers they use. The backend is split by role:
//   kafka_log.cpp           lifecycle (start, close), the poll thread, check()
//   kafka_log_producer.cpp  producing: appends, the outbox the relay forwards
//   kafka_log_reader.cpp    reading: fetch(), cursors, end offsets, waking watchers
//   kafka_log_admin.cpp     topics and metadata (Admin API)
//   kafka_log_groups.cpp    consumer groups' committed offsets, commits in order
//
// Client handles, and why there are several:
// - one idempotent producer, which also serves metadata, admin and watermark requests;
// - one consumer per consumer group, used only to commit and read committed offsets;
// - up to `max_read_slots` reader consumers that serve fetch(), created when needed.
// - one member consumer per joined (group, topic) (join()): it subscribes, so the group's
//   rebalances (cooperative-sticky) decide which partitions this instance owns; it never
//   reads records (its partitions stay paused: fetch() reads through the reader consumers),
//   and offsets of the topic are committed through it, under its generation, as a broker
//   requires of a group with members. Its own thread polls it, because the rebalance
//   callback waits for the partitions' release, which may need the poll thread (delivery
//   reports of the producer).
// Reader and offset handles never subscribe: their partitions are assigned by hand. The poll
// thread serves those handles' main queues (delivery reports, errors, logs).
#pragma once

#include "bus/kafka_log.hpp"
#include "core/ids.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace medflow::bus {

namespace kafka {

using steady = std::chrono::steady_clock;
using topic_partition = std::pair<std::string, int32_t>;

inline constexpr const char* component = "kafka";

// -- small RAII wrappers for librdkafka objects ------------------------------------------------

// A unique_ptr deleter calling librdkafka's destroy function of T.
template <class T, void (*destroy)(T*)>
struct destroyer {
  void operator()(T* p) const { destroy(p); }
};
template <class T, void (*destroy)(T*)>
using owned = std::unique_ptr<T, destroyer<T, destroy>>;

using partition_list =
    owned<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using queue_ptr = owned<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using conf_ptr = owned<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using event_ptr = owned<rd_kafka_event_t, rd_kafka_event_destroy>;
using message_ptr = owned<rd_kafka_message_t, rd_kafka_message_destroy>;
using error_ptr = owned<rd_kafka_error_t, rd_kafka_error_destroy>;
using admin_options_ptr = owned<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using metadata_ptr = owned<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;

inline partition_list one_partition(const std::string& topic, int32_t partition, int64_t offset) {
  partition_list l{rd_kafka_topic_partition_list_new(1)};
  rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), partition)->offset = offset;
  return l;
}

inline std::string err_text(rd_kafka_resp_err_t err) {
  return rd_kafka_err2str(err);
}

// librdkafka's log and error callbacks, set on every handle (kafka_log.cpp).
void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);
void on_error(rd_kafka_t* rk, int code, const char* reason, void*);
// The producer's delivery report callback (kafka_log_producer.cpp).
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*);

// A configuration being built; rd_kafka_new() takes it over only on success.
class client_config {
 public:
  explicit client_config(const kafka_options& o) : conf_(rd_kafka_conf_new()) {
    try {
      set("bootstrap.servers", o.brokers);
      set("client.id", o.client_id);
      // The operator's properties; medflowd's own settings come after and cannot be among them.
      auto why = kafka_properties_error(o.properties);
      if (!why.empty()) throw std::invalid_argument(why);
      for (auto& [name, value] : o.properties) set_quiet(name.c_str(), value);
    } catch (...) {
      rd_kafka_conf_destroy(conf_);  // a constructor that throws runs no destructor
      throw;
    }
    rd_kafka_conf_set_log_cb(conf_, on_log);
    rd_kafka_conf_set_error_cb(conf_, on_error);
  }
  ~client_config() {
    if (conf_) rd_kafka_conf_destroy(conf_);
  }
  client_config(const client_config&) = delete;
  client_config& operator=(const client_config&) = delete;

  client_config& set(const char* name, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf_, name, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::invalid_argument(std::string("kafka setting ") + name + "=" + value + ": " + err);
    return *this;
  }
  rd_kafka_conf_t* get() { return conf_; }
  // Like set(), without the value in the error (a property may hold a secret).
  void set_quiet(const char* name, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf_, name, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::invalid_argument(std::string("bus.kafka.properties.") + name + ": " + err);
  }

  rd_kafka_t* create(rd_kafka_type_t type) {
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf_, err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("cannot create kafka client: ") + err);
    conf_ = nullptr;
    return rk;
  }

 private:
  rd_kafka_conf_t* conf_;
};

// The watchers of partitions. Shared with the watch handles, so a handle that outlives the log
// unregisters safely. Marks come from librdkafka's threads; a notifier thread calls the
// watchers, so no user code ever runs on a librdkafka thread.
class watch_registry {
 public:
  watch_registry();
  ~watch_registry();
  watch_registry(const watch_registry&) = delete;
  watch_registry& operator=(const watch_registry&) = delete;

  uint64_t add(const topic_partition& tp, std::function<void()> wake);
  void remove(const topic_partition& tp, uint64_t id);
  bool watched(const topic_partition& tp);
  // Called on librdkafka threads: only records the partition, never calls out.
  void mark(const topic_partition& tp);
  // Stops the notifier thread; later marks are ignored. Wakes in progress finish first.
  void stop();

 private:
  using wake_fn = std::shared_ptr<std::function<void()>>;
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<topic_partition, std::vector<std::pair<uint64_t, wake_fn>>> watchers_;
  std::set<topic_partition> pending_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

class closed_error : public std::runtime_error {
 public:
  closed_error() : std::runtime_error("the kafka bus is closed") {}
};

}  // namespace kafka

struct kafka_log::impl {
  using topic_partition = kafka::topic_partition;
  using queue_ptr = kafka::queue_ptr;
  using event_ptr = kafka::event_ptr;
  using watch_registry = kafka::watch_registry;

  // One reader consumer; it holds at most one cursor per partition.
  struct read_slot;

  // A reader position in one partition. `mutex` serialises reads of the cursor; the atomics
  // let a fetch pick a cursor without taking every cursor's lock.
  struct cursor {
    read_slot* slot;
    topic_partition tp;
    queue_ptr queue;
    std::mutex mutex;
    bool assigned = false;
    bool dead = false;              // unassigned by the reaper or a topic deletion: pick another
    std::atomic<int64_t> next{-1};  // the offset the next delivered record must be at least
    std::atomic<int64_t> last_used{0};                          // steady_clock ticks
    rd_kafka_resp_err_t last_err = RD_KAFKA_RESP_ERR_NO_ERROR;  // logged once per change
    // Taken off the queue by a read they did not fit (its byte cap), in order: the next read
    // at `next` delivers them first. Cleared when the cursor moves or is released.
    std::deque<kafka::message_ptr> held;
  };

  // What one read has taken so far, against its byte cap.
  struct read_progress {
    size_t max_bytes;
    size_t bytes = 0;
    bool full = false;  // a record did not fit: the read ends
  };

  // What a partition queue's event callback gets: the registry to mark and the partition.
  using event_ctx = std::pair<watch_registry*, topic_partition>;

  struct read_slot {
    rd_kafka_t* rk = nullptr;
    std::map<topic_partition, std::shared_ptr<cursor>> cursors;
    // Kept until the handle is destroyed: an event callback may still be running on a
    // librdkafka thread just after its cursor was released.
    std::map<topic_partition, std::unique_ptr<event_ctx>> event_ctxs;
  };

  // The consumer of one group, for its offsets. `mutex` makes read-compare-commit atomic so
  // commits never move the group backwards (the embedded backend's rule).
  struct group_client {
    rd_kafka_t* rk = nullptr;
    std::mutex mutex;
    std::map<topic_partition, int64_t> committed;  // what we know is committed
  };

  // A member of a consumer group for one topic (see the top of this file). Shared by the
  // membership handle and the log, so either may end it first.
  struct member {
    std::string group;
    std::string topic;
    group_listener listener;
    int release_timeout_ms = 0;
    rd_kafka_t* rk = nullptr;
    std::atomic<bool> stopping{false};
    std::thread thread;
    std::shared_mutex life;  // commits hold it shared; the handle's destruction exclusively
    bool closed = false;
    std::mutex close_mutex;
    // Set at the first assignment the group gave this member (possibly empty): from then on
    // librdkafka holds the cooperative-sticky assignor's state (see close()).
    std::atomic<bool> assigned_once{false};

    // Leaves the group: the revocation of every partition runs (and waits) first.
    void close();
    void poll_loop();
    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* parts, void* opaque);
    void assign(rd_kafka_topic_partition_list_t* parts);
    void revoke(rd_kafka_topic_partition_list_t* parts);
  };

  struct commit_task {
    std::string group;
    std::string topic;
    int32_t partition;
    int64_t next;
    done_fn done;
  };

  impl(kafka_log& self, kafka_options o, store::database& d)
      : self(self), opts(std::move(o)), db(d), watchers(std::make_shared<watch_registry>()) {}

  kafka_log& self;
  kafka_options opts;
  store::database& db;

  // Calls hold `life` shared and close() takes it exclusively, so teardown never races a
  // call. `closing` turns new calls away first, so close() waits only for calls in flight.
  std::shared_mutex life;
  std::mutex close_mutex;
  std::atomic<bool> closing{false};
  bool closed = false;

  rd_kafka_t* producer = nullptr;

  std::mutex meta_mutex;
  std::map<std::string, int32_t> meta;  // partition counts, refreshed on a miss

  std::mutex groups_mutex;
  std::map<std::string, std::unique_ptr<group_client>> groups;

  std::mutex readers_mutex;
  std::vector<std::unique_ptr<read_slot>> slots;

  // Consumer handles whose main queue the poll thread serves.
  std::mutex consumers_mutex;
  std::vector<rd_kafka_t*> consumers;

  std::shared_ptr<watch_registry> watchers;

  std::mutex outbox_mutex;
  std::function<void()> outbox_wake;
  // Names the outbox rows this instance writes: on a PostgreSQL shared by several medflowd each
  // relays its own rows, and another's only once they are older than opts.timeout_ms (that
  // instance died or lags), so two relays rarely send one row twice (outbox_peek).
  const std::string origin = opts.instance.empty() ? ids::random_hex(8) : opts.instance;

  // Whether the log is still open, for membership handles that outlive it.
  struct alive_flag {
    std::mutex mutex;
    bool yes = true;
  };
  std::shared_ptr<alive_flag> alive = std::make_shared<alive_flag>();

  std::mutex members_mutex;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<member>> members;  // group, topic

  std::mutex commit_mutex;
  std::condition_variable commit_cv;
  std::deque<commit_task> commit_queue;
  bool commit_stopping = false;
  std::thread commit_thread;

  std::atomic<bool> poll_stopping{false};
  std::thread poll_thread;

  // -- lifetime ----------------------------------------------------------------------------------

  std::shared_lock<std::shared_mutex> enter() {
    if (closing) throw kafka::closed_error();
    std::shared_lock<std::shared_mutex> g{life};
    if (closed) throw kafka::closed_error();
    return g;
  }

  void start();

  void shutdown();

  static void close_consumer(rd_kafka_t* rk);

  // Serves every handle's main queue: logs, errors, and (producer) delivery reports. The
  // idle-cursor reaper runs here too, about once a second.
  void poll_loop();

  // A consumer handle for `c` (which names its group): no automatic commits or offset stores,
  // no end-of-partition events; its main queue is served by the poll thread.
  rd_kafka_t* new_consumer(kafka::client_config& c);

  // -- metadata --------------------------------------------------------------------------------

  // Asks for all topics: a request naming a topic could make a broker auto-create it.
  std::map<std::string, int32_t> refresh_metadata(int timeout_ms);

  std::optional<int32_t> partition_count(const std::string& topic);

  int32_t require_topic(const std::string& topic);

  void require_partition(const std::string& topic, int32_t partition);

  // -- admin -----------------------------------------------------------------------------------

  // Runs one CreateTopics/DeleteTopics request for one topic (`submit` sends it) and returns
  // that topic's error and its text; `results_of` finds the topic results in the answer.
  template <class Submit, class Results>
  std::pair<rd_kafka_resp_err_t, std::string> topic_call(rd_kafka_admin_op_t op, const char* what,
                                                         Submit submit, Results results_of);

  void create_topic(const std::string& name, int32_t partitions);

  void delete_topic(const std::string& name);

  // -- producing -------------------------------------------------------------------------------

  std::vector<position> produce(const std::vector<message>& msgs);

  // -- reading ---------------------------------------------------------------------------------

  static void on_queue_event(rd_kafka_t*, void* opaque);

  read_slot& add_slot();

  std::shared_ptr<cursor> new_cursor(read_slot& s, const topic_partition& tp);

  // A cursor to read `tp` from `from`: one already there, else a fresh one, else the least
  // recently used (which the caller repositions).
  std::shared_ptr<cursor> pick_cursor(const topic_partition& tp, int64_t from);

  // Stops a cursor's fetching; the caller holds readers_mutex and the cursor's mutex.
  void release_cursor(cursor& c);

  void reap_idle_cursors();

  void drop_cursors(const std::string& topic);

  int64_t high_watermark(const std::string& topic, int32_t partition, int timeout_ms);

  // Points the cursor at `from`; returns the partition's end offset then (-1 if unknown).
  int64_t reposition(cursor& c, int64_t from);

  // Offers a message taken off the cursor's queue to a read: a record the caller wants goes to
  // `out`. False when it does not fit the read's byte cap (the read is full then): the caller
  // holds it for the next read.
  bool take(cursor& c, kafka::message_ptr& m, std::vector<record>& out, read_progress& p);

  std::vector<record> read(cursor& c, int64_t from, size_t max, size_t max_bytes);

  std::vector<record> fetch(const std::string& topic, int32_t partition, int64_t from, size_t max,
                            size_t max_bytes);

  // -- consumer groups -------------------------------------------------------------------------

  group_client& group(const std::string& name);

  // The caller holds the group's mutex.
  std::optional<int64_t> fetch_committed(group_client& g, const std::string& group_name,
                                         const std::string& topic, int32_t partition);

  std::optional<int64_t> committed(const std::string& group_name, const std::string& topic,
                                   int32_t partition);

  void commit(const std::string& group_name, const std::string& topic, int32_t partition,
              int64_t next);

  void commit_loop();

  std::shared_ptr<member> join(const std::string& group, const std::string& topic,
                               group_listener listener);
  void leave_groups();
  // Commits through the topic's member, if this instance has joined the group for it.
  bool commit_as_member(const std::string& group, const std::string& topic,
                        rd_kafka_topic_partition_list_t* offsets, rd_kafka_queue_t* q,
                        rd_kafka_resp_err_t& err);

  void stop_commit_worker();
};

}  // namespace medflow::bus
