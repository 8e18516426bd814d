// The Kafka backend on librdkafka's C API.
//
// Client handles, and why there are several:
// - one idempotent producer, which also serves metadata, admin and watermark requests;
// - one consumer per consumer group, used only to commit and read committed offsets;
// - up to `max_read_slots` reader consumers that serve fetch(), created when needed.
// No handle ever subscribes: partitions are assigned by hand, so nothing joins a group,
// rebalances, or waits for a session timeout. A poll thread serves the handles' main queues
// (delivery reports, errors, logs).
//
// Reading. fetch(topic, p, from, max) is stateless for the caller, but a Kafka consumer reads
// a partition from one position at a time. Each reader consumer ("slot") holds a cursor per
// partition (its partition queue and the next offset it will deliver). A fetch uses a cursor
// already at `from` if there is one, else a slot that has no cursor for the partition yet,
// else repositions the least recently used cursor. So readers of one partition at different
// offsets (two consumer groups, a replay, the HTTP read endpoint) each keep their own cursor
// instead of seeking one back and forth. Records are taken from the partition queue without
// waiting; only a repositioned cursor waits (bounded) for its first records when the
// partition is known to have some, so a one-off read does not come back empty.
//
// Waking. Each cursor's partition queue raises librdkafka's queue event when it goes from
// empty to non-empty. The event only marks the partition as pending; a notifier thread calls
// the watchers, so no user code ever runs on a librdkafka thread. A caller that got nothing
// from fetch() left the cursor's queue empty, so the next record that arrives raises an event.
// (watch() alone starts no reading: a consumer fetches, then waits.) Cursors idle for a minute
// are unassigned, except those of watched partitions: they are what raises the events.
//
// Commits go through the group's consumer and, as in the embedded backend, never move a group
// backwards; commit_async() runs them in order on a worker thread.
#include "bus/kafka_log.hpp"

#include "bus/embedded_log.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

namespace medflow::bus {
namespace {

using steady = std::chrono::steady_clock;
using topic_partition = std::pair<std::string, int32_t>;

constexpr const char* component = "kafka";
// Readers of one partition at this many different positions never make each other seek.
constexpr size_t max_read_slots = 8;
// A cursor nobody fetched from for this long is unassigned, so an abandoned read (a client
// paging through history over HTTP) stops prefetching and holding memory.
constexpr auto idle_cursor_ttl = std::chrono::seconds(60);
constexpr size_t consume_batch = 256;
constexpr int poll_interval_ms = 100;
// check() must answer a readiness probe quickly even when the broker is gone.
constexpr int check_timeout_ms = 2000;

// -- small RAII wrappers for librdkafka objects ------------------------------------------------

struct list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using partition_list = std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter>;

partition_list one_partition(const std::string& topic, int32_t partition, int64_t offset) {
  partition_list l{rd_kafka_topic_partition_list_new(1)};
  rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), partition)->offset = offset;
  return l;
}

struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

struct event_deleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;

struct message_deleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;

struct error_deleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using error_ptr = std::unique_ptr<rd_kafka_error_t, error_deleter>;

struct admin_options_deleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using admin_options_ptr = std::unique_ptr<rd_kafka_AdminOptions_t, admin_options_deleter>;

struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using metadata_ptr = std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter>;

std::string err_text(rd_kafka_resp_err_t err) {
  return rd_kafka_err2str(err);
}

// librdkafka logs with syslog levels. It reports trouble it heals by itself (a refused
// connection it will retry) at LOG_ERR, so that is only a warning here.
void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  medflow::log::level l = level <= 2   ? medflow::log::level::error
                          : level <= 4 ? medflow::log::level::warn
                          : level == 5 ? medflow::log::level::info
                                       : medflow::log::level::debug;
  medflow::log::emit(l, component, rd_kafka_name(rk), " ", facility, ": ", text);
}

void on_error(rd_kafka_t* rk, int code, const char* reason, void*) {
  auto err = static_cast<rd_kafka_resp_err_t>(code);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char text[512];
    auto orig = rd_kafka_fatal_error(rk, text, sizeof text);
    medflow::log::error(component, rd_kafka_name(rk), ": fatal error ", rd_kafka_err2name(orig),
                        ": ", text);
  } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    medflow::log::warn(component, rd_kafka_name(rk), ": all brokers are down: ", reason);
  } else {
    // Transient and retried by librdkafka, which has already logged it.
    medflow::log::debug(component, rd_kafka_name(rk), ": ", rd_kafka_err2name(err), ": ", reason);
  }
}

// A configuration being built; rd_kafka_new() takes it over only on success.
class client_config {
 public:
  explicit client_config(const kafka_options& o) : conf_(rd_kafka_conf_new()) {
    set("bootstrap.servers", o.brokers);
    set("client.id", o.client_id);
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

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// -- watchers ----------------------------------------------------------------------------------

// Shared with the watch handles, so a handle that outlives the log unregisters safely.
class watch_registry {
 public:
  watch_registry() : thread_([this] { loop(); }) {}
  ~watch_registry() { stop(); }

  uint64_t add(const topic_partition& tp, std::function<void()> wake) {
    std::lock_guard<std::mutex> g{mutex_};
    uint64_t id = next_id_++;
    watchers_[tp].emplace_back(id, std::make_shared<std::function<void()>>(std::move(wake)));
    return id;
  }

  void remove(const topic_partition& tp, uint64_t id) {
    std::lock_guard<std::mutex> g{mutex_};
    auto it = watchers_.find(tp);
    if (it == watchers_.end()) return;
    auto& v = it->second;
    v.erase(std::remove_if(v.begin(), v.end(), [id](auto& w) { return w.first == id; }), v.end());
    if (v.empty()) watchers_.erase(it);
  }

  bool watched(const topic_partition& tp) {
    std::lock_guard<std::mutex> g{mutex_};
    return watchers_.count(tp) > 0;
  }

  // Called on librdkafka threads: only records the partition, never calls out.
  void mark(const topic_partition& tp) {
    {
      std::lock_guard<std::mutex> g{mutex_};
      pending_.insert(tp);
    }
    cv_.notify_one();
  }

  // Stops the notifier thread; later marks are ignored. Wakes in progress finish first.
  void stop() {
    {
      std::lock_guard<std::mutex> g{mutex_};
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  using wake_fn = std::shared_ptr<std::function<void()>>;

  void loop() {
    std::unique_lock<std::mutex> lk{mutex_};
    for (;;) {
      cv_.wait(lk, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      std::vector<wake_fn> calls;
      for (auto& tp : pending_) {
        auto it = watchers_.find(tp);
        if (it == watchers_.end()) continue;
        for (auto& w : it->second) calls.push_back(w.second);
      }
      pending_.clear();
      lk.unlock();
      for (auto& call : calls) {
        try {
          (*call)();
        } catch (const std::exception& e) {
          medflow::log::error(component, "a watcher's wake callback threw: ", e.what());
        } catch (...) {
          medflow::log::error(component, "a watcher's wake callback threw");
        }
      }
      lk.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<topic_partition, std::vector<std::pair<uint64_t, wake_fn>>> watchers_;
  std::set<topic_partition> pending_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

class kafka_watch_handle : public log::watch_handle {
 public:
  kafka_watch_handle(std::shared_ptr<watch_registry> r, topic_partition tp, uint64_t id)
      : registry_(std::move(r)), tp_(std::move(tp)), id_(id) {}
  ~kafka_watch_handle() override { registry_->remove(tp_, id_); }

 private:
  std::shared_ptr<watch_registry> registry_;
  topic_partition tp_;
  uint64_t id_;
};

// -- producing ---------------------------------------------------------------------------------

// The state of one produce_and_wait call, shared with its in-flight messages: a caller that
// gave up (timeout, a failed enqueue) returns while delivery reports may still arrive.
struct delivery_batch {
  std::mutex mutex;
  std::condition_variable cv;
  size_t pending = 0;
  std::vector<position> positions;
  std::string error;  // the first failure
};

// A message's opaque: which batch and which slot of it.
struct delivery {
  std::shared_ptr<delivery_batch> batch;
  size_t index;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  std::unique_ptr<delivery> d{static_cast<delivery*>(m->_private)};
  if (!d) return;
  auto& b = *d->batch;
  {
    std::lock_guard<std::mutex> g{b.mutex};
    if (m->err) {
      if (b.error.empty())
        b.error = "could not append to topic " + std::string(rd_kafka_topic_name(m->rkt)) +
                  " partition " + std::to_string(m->partition) + ": " + err_text(m->err);
    } else {
      b.positions[d->index] = position{m->partition, m->offset};
    }
    --b.pending;
  }
  b.cv.notify_all();
}

record to_record(const rd_kafka_message_t* m) {
  record r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  rd_kafka_timestamp_type_t type;
  int64_t ts = rd_kafka_message_timestamp(m, &type);
  r.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : ts;
  if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      r.hdrs.emplace_back(
          name, value ? std::string(static_cast<const char*>(value), size) : std::string());
  }
  return r;
}

class closed_error : public std::runtime_error {
 public:
  closed_error() : std::runtime_error("the kafka bus is closed") {}
};

}  // namespace

// -- the implementation --------------------------------------------------------------------------

struct kafka_log::impl {
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

  std::mutex commit_mutex;
  std::condition_variable commit_cv;
  std::deque<commit_task> commit_queue;
  bool commit_stopping = false;
  std::thread commit_thread;

  std::atomic<bool> poll_stopping{false};
  std::thread poll_thread;

  // -- lifetime ----------------------------------------------------------------------------------

  std::shared_lock<std::shared_mutex> enter() {
    if (closing) throw closed_error();
    std::shared_lock<std::shared_mutex> g{life};
    if (closed) throw closed_error();
    return g;
  }

  void start() {
    client_config c{opts};
    c.set("enable.idempotence", "true")
        .set("linger.ms", std::to_string(opts.linger_ms))
        // A delivery report, good or bad, arrives within the call's timeout.
        .set("message.timeout.ms", std::to_string(opts.timeout_ms));
    rd_kafka_conf_set_dr_msg_cb(c.get(), on_delivery);
    producer = c.create(RD_KAFKA_PRODUCER);
    poll_thread = std::thread([this] { poll_loop(); });
    commit_thread = std::thread([this] { commit_loop(); });
    // Learn the topics now so the first appends need no round trip; an unreachable broker is
    // not fatal here, every call retries.
    try {
      refresh_metadata(opts.timeout_ms);
    } catch (const std::exception& e) {
      medflow::log::warn(component, e.what(), "; will retry on use");
    }
  }

  void shutdown() {
    std::lock_guard<std::mutex> once{close_mutex};
    if (closed) return;
    closing = true;
    // Queued commits and running wakes finish before the handles go away; callbacks that
    // call back into the log are refused.
    stop_commit_worker();
    watchers->stop();
    std::lock_guard<std::shared_mutex> g{life};
    closed = true;
    poll_stopping = true;
    if (poll_thread.joinable()) poll_thread.join();

    // librdkafka's rd_kafka_destroy() hangs while queues or messages of the handle are alive,
    // so every cursor queue goes first.
    for (auto& s : slots) {
      for (auto& [tp, c] : s->cursors) release_cursor(*c);
      s->cursors.clear();
      close_consumer(s->rk);
    }
    slots.clear();
    for (auto& [name, client] : groups) close_consumer(client->rk);
    groups.clear();

    if (producer) {
      rd_kafka_resp_err_t err = rd_kafka_flush(producer, opts.timeout_ms);
      if (err) {
        medflow::log::warn(component, "closing with ", rd_kafka_outq_len(producer),
                           " undelivered messages: ", err_text(err));
        // Fail what is left so every waiter gets its delivery report.
        rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(producer, 0);
      }
      rd_kafka_destroy(producer);
      producer = nullptr;
    }
  }

  static void close_consumer(rd_kafka_t* rk) {
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err) medflow::log::warn(component, rd_kafka_name(rk), ": consumer close: ", err_text(err));
    rd_kafka_destroy(rk);
  }

  // Serves every handle's main queue: logs, errors, and (producer) delivery reports. The
  // idle-cursor reaper runs here too, about once a second.
  void poll_loop() {
    auto next_reap = steady::now() + std::chrono::seconds(1);
    while (!poll_stopping) {
      rd_kafka_poll(producer, poll_interval_ms);
      std::vector<rd_kafka_t*> cs;
      {
        std::lock_guard<std::mutex> g{consumers_mutex};
        cs = consumers;
      }
      for (auto* rk : cs)
        while (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 0)) {
          message_ptr owned{m};
          // Partition queues are read by fetch(); only errors arrive here.
          if (m->err)
            medflow::log::warn(component, rd_kafka_name(rk), ": ", rd_kafka_message_errstr(m));
        }
      if (steady::now() >= next_reap) {
        reap_idle_cursors();
        next_reap = steady::now() + std::chrono::seconds(1);
      }
    }
  }

  // -- metadata --------------------------------------------------------------------------------

  // Asks for all topics: a request naming a topic could make a broker auto-create it.
  std::map<std::string, int32_t> refresh_metadata(int timeout_ms) {
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(producer, 1, nullptr, &raw, timeout_ms);
    if (err) throw std::runtime_error("kafka metadata request failed: " + err_text(err));
    metadata_ptr md{raw};
    std::map<std::string, int32_t> fresh;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      std::string name = t.topic;
      // Kafka's internal topics (__consumer_offsets, __transaction_state) are not ours.
      if (name.rfind("__", 0) == 0) continue;
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt <= 0) continue;
      fresh[name] = t.partition_cnt;
    }
    std::lock_guard<std::mutex> g{meta_mutex};
    meta = fresh;
    return fresh;
  }

  std::optional<int32_t> partition_count(const std::string& topic) {
    {
      std::lock_guard<std::mutex> g{meta_mutex};
      auto it = meta.find(topic);
      if (it != meta.end()) return it->second;
    }
    auto fresh = refresh_metadata(opts.timeout_ms);
    auto it = fresh.find(topic);
    if (it == fresh.end()) return std::nullopt;
    return it->second;
  }

  int32_t require_topic(const std::string& topic) {
    auto n = partition_count(topic);
    if (!n) throw unknown_topic(topic);
    return *n;
  }

  void require_partition(const std::string& topic, int32_t partition) {
    int32_t n = require_topic(topic);
    if (partition >= 0 && partition < n) return;
    // The topic may have grown since we cached it.
    auto fresh = refresh_metadata(opts.timeout_ms);
    auto it = fresh.find(topic);
    if (it == fresh.end()) throw unknown_topic(topic);
    if (partition < 0 || partition >= it->second) throw unknown_partition(topic, partition);
  }

  // -- admin -----------------------------------------------------------------------------------

  // Runs one admin request and returns its result event (never null).
  template <class Submit>
  event_ptr admin_call(rd_kafka_admin_op_t op, const char* what, Submit submit) {
    char err[512];
    admin_options_ptr ao{rd_kafka_AdminOptions_new(producer, op)};
    if (rd_kafka_AdminOptions_set_request_timeout(ao.get(), opts.timeout_ms, err, sizeof err) ||
        rd_kafka_AdminOptions_set_operation_timeout(ao.get(), opts.timeout_ms, err, sizeof err))
      throw std::runtime_error(std::string("kafka ") + what + " options: " + err);
    queue_ptr q{rd_kafka_queue_new(producer)};
    submit(ao.get(), q.get());
    // The request times out by itself; the margin only guards against a lost result.
    event_ptr ev{rd_kafka_queue_poll(q.get(), opts.timeout_ms + 5000)};
    if (!ev) throw std::runtime_error(std::string("kafka ") + what + " got no answer");
    return ev;
  }

  // The result of one topic in a CreateTopics/DeleteTopics answer.
  static std::pair<rd_kafka_resp_err_t, std::string> topic_result(
      rd_kafka_event_t* ev, const rd_kafka_topic_result_t** results, size_t n) {
    if (rd_kafka_event_error(ev))
      return {rd_kafka_event_error(ev), rd_kafka_event_error_string(ev)};
    if (n < 1) return {RD_KAFKA_RESP_ERR__BAD_MSG, "no result for the topic"};
    const char* text = rd_kafka_topic_result_error_string(results[0]);
    auto err = rd_kafka_topic_result_error(results[0]);
    return {err, text ? text : err_text(err)};
  }

  void create_topic(const std::string& name, int32_t partitions) {
    if (auto n = partition_count(name)) {
      if (*n != partitions) throw topic_exists(name, *n);
      return;
    }
    char errstr[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), partitions,
                                                    -1,  // the broker's default replication
                                                    errstr, sizeof errstr);
    if (!nt) throw std::invalid_argument("cannot create topic " + name + ": " + errstr);
    std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> owned{
        nt, rd_kafka_NewTopic_destroy};
    auto ev = admin_call(RD_KAFKA_ADMIN_OP_CREATETOPICS, "create topic",
                         [&](rd_kafka_AdminOptions_t* ao, rd_kafka_queue_t* q) {
                           rd_kafka_CreateTopics(producer, &nt, 1, ao, q);
                         });
    size_t n = 0;
    const rd_kafka_topic_result_t** results = nullptr;
    if (auto* res = rd_kafka_event_CreateTopics_result(ev.get()))
      results = rd_kafka_CreateTopics_result_topics(res, &n);
    auto [err, text] = topic_result(ev.get(), results, n);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      throw std::runtime_error("the broker could not create topic " + name + ": " + text);
    // Created (or created concurrently by someone else): wait until metadata shows it.
    auto deadline = steady::now() + std::chrono::milliseconds(opts.timeout_ms);
    for (;;) {
      auto fresh = refresh_metadata(opts.timeout_ms);
      auto it = fresh.find(name);
      if (it != fresh.end()) {
        if (it->second != partitions) throw topic_exists(name, it->second);
        return;
      }
      if (steady::now() >= deadline)
        throw std::runtime_error("topic " + name + " was created but is not in the metadata");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void delete_topic(const std::string& name) {
    require_topic(name);
    rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(name.c_str());
    std::unique_ptr<rd_kafka_DeleteTopic_t, decltype(&rd_kafka_DeleteTopic_destroy)> owned{
        dt, rd_kafka_DeleteTopic_destroy};
    auto ev = admin_call(RD_KAFKA_ADMIN_OP_DELETETOPICS, "delete topic",
                         [&](rd_kafka_AdminOptions_t* ao, rd_kafka_queue_t* q) {
                           rd_kafka_DeleteTopics(producer, &dt, 1, ao, q);
                         });
    size_t n = 0;
    const rd_kafka_topic_result_t** results = nullptr;
    if (auto* res = rd_kafka_event_DeleteTopics_result(ev.get()))
      results = rd_kafka_DeleteTopics_result_topics(res, &n);
    auto [err, text] = topic_result(ev.get(), results, n);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) throw unknown_topic(name);
    if (err) throw std::runtime_error("the broker could not delete topic " + name + ": " + text);
    {
      std::lock_guard<std::mutex> g{meta_mutex};
      meta.erase(name);
    }
    drop_cursors(name);
    std::lock_guard<std::mutex> g{groups_mutex};
    for (auto& [group, client] : groups) {
      std::lock_guard<std::mutex> cg{client->mutex};
      for (auto it = client->committed.begin(); it != client->committed.end();)
        it = it->first.first == name ? client->committed.erase(it) : std::next(it);
    }
  }

  // -- producing -------------------------------------------------------------------------------

  std::vector<position> produce(const std::vector<message>& msgs) {
    auto batch = std::make_shared<delivery_batch>();
    batch->positions.resize(msgs.size());
    auto deadline = steady::now() + std::chrono::milliseconds(opts.timeout_ms);
    for (size_t i = 0; i < msgs.size(); ++i) {
      const message& m = msgs[i];
      int32_t partition =
          m.partition ? *m.partition : self.choose_partition(m, require_topic(m.topic));
      for (;;) {
        rd_kafka_headers_t* hdrs = rd_kafka_headers_new(m.hdrs.size());
        for (auto& [k, v] : m.hdrs)
          rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                              static_cast<ssize_t>(v.size()));
        auto d = std::make_unique<delivery>(delivery{batch, i});
        {
          std::lock_guard<std::mutex> g{batch->mutex};
          ++batch->pending;
        }
        // Without a key the message goes without one (a null key), not with an empty one.
        rd_kafka_resp_err_t err =
            m.key ? rd_kafka_producev(
                        producer, RD_KAFKA_V_TOPIC(m.topic.c_str()),
                        RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(m.key->data(), m.key->size()),
                        RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d.get()), RD_KAFKA_V_END)
                  : rd_kafka_producev(
                        producer, RD_KAFKA_V_TOPIC(m.topic.c_str()),
                        RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d.get()), RD_KAFKA_V_END);
        if (!err) {
          d.release();  // on_delivery owns it now
          break;
        }
        // librdkafka keeps the headers only when it accepted the message.
        rd_kafka_headers_destroy(hdrs);
        {
          std::lock_guard<std::mutex> g{batch->mutex};
          --batch->pending;
        }
        // A full local queue drains as the poll thread serves delivery reports.
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && steady::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        throw std::runtime_error("could not append to topic " + m.topic + ": " + err_text(err));
      }
    }
    std::unique_lock<std::mutex> lk{batch->mutex};
    // message.timeout.ms bounds every report; the margin covers linger and polling.
    bool done = batch->cv.wait_until(lk, deadline + std::chrono::seconds(5),
                                     [&] { return batch->pending == 0; });
    if (!batch->error.empty()) throw std::runtime_error(batch->error);
    if (!done)
      throw std::runtime_error("timed out waiting for the broker to acknowledge " +
                               std::to_string(batch->pending) + " records");
    return batch->positions;
  }

  // -- reading ---------------------------------------------------------------------------------

  static void on_queue_event(rd_kafka_t*, void* opaque) {
    auto* ctx = static_cast<event_ctx*>(opaque);
    ctx->first->mark(ctx->second);
  }

  read_slot& add_slot() {
    client_config c{opts};
    c.set("group.id", opts.group_id)  // librdkafka only assigns partitions with a group
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // A partition assigned while the handle's fetch request waits at an idle broker
        // joins only the next request; a shorter wait keeps the first read of a new position
        // quick, at the price of a few idle requests a second.
        .set("fetch.wait.max.ms", "100");
    auto s = std::make_unique<read_slot>();
    s->rk = c.create(RD_KAFKA_CONSUMER);
    rd_kafka_poll_set_consumer(s->rk);
    {
      std::lock_guard<std::mutex> g{consumers_mutex};
      consumers.push_back(s->rk);
    }
    slots.push_back(std::move(s));
    return *slots.back();
  }

  std::shared_ptr<cursor> new_cursor(read_slot& s, const topic_partition& tp) {
    auto c = std::make_shared<cursor>();
    c->slot = &s;
    c->tp = tp;
    c->queue.reset(rd_kafka_queue_get_partition(s.rk, tp.first.c_str(), tp.second));
    if (!c->queue)
      throw std::runtime_error("cannot read partition " + std::to_string(tp.second) + " of topic " +
                               tp.first);
    // Keep the partition's records out of the consumer queue: fetch() reads them here.
    rd_kafka_queue_forward(c->queue.get(), nullptr);
    auto& ctx = s.event_ctxs[tp];
    if (!ctx) ctx = std::make_unique<event_ctx>(watchers.get(), tp);
    rd_kafka_queue_cb_event_enable(c->queue.get(), on_queue_event, ctx.get());
    s.cursors[tp] = c;
    return c;
  }

  // A cursor to read `tp` from `from`: one already there, else a fresh one, else the least
  // recently used (which the caller repositions).
  std::shared_ptr<cursor> pick_cursor(const topic_partition& tp, int64_t from) {
    std::lock_guard<std::mutex> g{readers_mutex};
    read_slot* free_slot = nullptr;
    std::shared_ptr<cursor> lru;
    for (auto& s : slots) {
      auto it = s->cursors.find(tp);
      if (it == s->cursors.end()) {
        if (!free_slot) free_slot = s.get();
        continue;
      }
      if (it->second->next == from) return it->second;
      if (!lru || it->second->last_used < lru->last_used) lru = it->second;
    }
    if (!free_slot && slots.size() < max_read_slots) free_slot = &add_slot();
    if (free_slot) return new_cursor(*free_slot, tp);
    return lru;
  }

  // Stops a cursor's fetching; the caller holds readers_mutex and the cursor's mutex.
  void release_cursor(cursor& c) {
    c.dead = true;
    if (!c.queue) return;
    rd_kafka_queue_cb_event_enable(c.queue.get(), nullptr, nullptr);
    c.queue.reset();
    if (!c.assigned) return;
    auto l = one_partition(c.tp.first, c.tp.second, RD_KAFKA_OFFSET_INVALID);
    error_ptr err{rd_kafka_incremental_unassign(c.slot->rk, l.get())};
    if (err)
      medflow::log::warn(component, "cannot stop reading ", c.tp.first, "[", c.tp.second,
                         "]: ", rd_kafka_error_string(err.get()));
  }

  void reap_idle_cursors() {
    auto cutoff = (steady::now() - idle_cursor_ttl).time_since_epoch().count();
    std::lock_guard<std::mutex> g{readers_mutex};
    for (auto& s : slots)
      for (auto it = s->cursors.begin(); it != s->cursors.end();) {
        auto& c = *it->second;
        // A watched partition keeps its cursors: they are what raises the wake events.
        std::unique_lock<std::mutex> lk{c.mutex, std::try_to_lock};
        if (!lk || c.last_used > cutoff || watchers->watched(c.tp)) {
          ++it;
          continue;
        }
        release_cursor(c);
        it = s->cursors.erase(it);
      }
  }

  void drop_cursors(const std::string& topic) {
    std::lock_guard<std::mutex> g{readers_mutex};
    for (auto& s : slots)
      for (auto it = s->cursors.begin(); it != s->cursors.end();) {
        if (it->first.first != topic) {
          ++it;
          continue;
        }
        std::lock_guard<std::mutex> lk{it->second->mutex};
        release_cursor(*it->second);
        it = s->cursors.erase(it);
      }
  }

  int64_t high_watermark(const std::string& topic, int32_t partition, int timeout_ms) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(producer, topic.c_str(), partition,
                                                               &low, &high, timeout_ms);
    if (err)
      throw std::runtime_error("cannot read the end offset of " + topic + "[" +
                               std::to_string(partition) + "]: " + err_text(err));
    return high;
  }

  // Points the cursor at `from`; returns the partition's end offset then (-1 if unknown).
  int64_t reposition(cursor& c, int64_t from) {
    int64_t high = -1;
    try {
      high = high_watermark(c.tp.first, c.tp.second, opts.timeout_ms);
    } catch (const std::exception& e) {
      medflow::log::debug(component, e.what());
    }
    // Past the end Kafka answers "offset out of range" and auto.offset.reset would rewind to
    // the beginning; starting at the end and skipping up to `from` costs nothing instead.
    int64_t start = high >= 0 && from > high ? high : from;
    auto l = one_partition(c.tp.first, c.tp.second, start);
    if (!c.assigned) {
      error_ptr err{rd_kafka_incremental_assign(c.slot->rk, l.get())};
      if (err)
        throw std::runtime_error("cannot read " + c.tp.first + "[" + std::to_string(c.tp.second) +
                                 "]: " + rd_kafka_error_string(err.get()));
      c.assigned = true;
    } else {
      error_ptr err{rd_kafka_seek_partitions(c.slot->rk, l.get(), opts.timeout_ms)};
      std::string why = err               ? rd_kafka_error_string(err.get())
                        : l->elems[0].err ? err_text(l->elems[0].err)
                                          : std::string();
      if (!why.empty())
        throw std::runtime_error("cannot seek " + c.tp.first + "[" + std::to_string(c.tp.second) +
                                 "] to " + std::to_string(start) + ": " + why);
    }
    c.next = from;
    c.last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    return high;
  }

  // Takes one message off the cursor's queue into `out` if it is a record the caller wants.
  void take(cursor& c, rd_kafka_message_t* raw, std::vector<record>& out) {
    message_ptr m{raw};
    if (m->err) {
      // Fetch errors repeat on every retry; say so once per change.
      if (m->err != c.last_err)
        medflow::log::warn(component, "reading ", c.tp.first, "[", c.tp.second,
                           "]: ", rd_kafka_message_errstr(m.get()));
      c.last_err = m->err;
      return;
    }
    c.last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    // Below `next`: prefetched before a seek, or the run-up to an offset past the old end.
    if (m->offset < c.next) return;
    out.push_back(to_record(m.get()));
    c.next = m->offset + 1;
  }

  std::vector<record> read(cursor& c, int64_t from, size_t max) {
    c.last_used = steady::now().time_since_epoch().count();
    std::vector<record> out;
    int64_t high = c.next != from ? reposition(c, from) : -1;
    if (high > from) {
      // A fresh position has nothing prefetched yet: wait (bounded) for the records that
      // existed when the read began, so a one-off read sees what a reader of the embedded
      // backend would see.
      auto wanted = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(max), high - from));
      auto deadline = steady::now() + std::chrono::milliseconds(opts.timeout_ms);
      while (out.size() < wanted && steady::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consume_queue(c.queue.get(), remaining_ms(deadline));
        if (!m) break;
        take(c, m, out);
      }
    }
    std::vector<rd_kafka_message_t*> buf(std::min(max, consume_batch));
    while (out.size() < max) {
      size_t want = std::min(buf.size(), max - out.size());
      ssize_t n = rd_kafka_consume_batch_queue(c.queue.get(), 0, buf.data(), want);
      if (n < 0)
        throw std::runtime_error("cannot read " + c.tp.first + "[" + std::to_string(c.tp.second) +
                                 "]: " + err_text(rd_kafka_last_error()));
      if (n == 0) break;
      for (ssize_t i = 0; i < n; ++i) take(c, buf[i], out);
    }
    return out;
  }

  std::vector<record> fetch(const std::string& topic, int32_t partition, int64_t from, size_t max) {
    require_partition(topic, partition);
    if (max == 0) return {};
    // Kafka gives negative offsets meanings (end, beginning); here they mean "from the start".
    from = std::max<int64_t>(from, 0);
    topic_partition tp{topic, partition};
    for (;;) {
      auto c = pick_cursor(tp, from);
      std::lock_guard<std::mutex> lk{c->mutex};
      if (c->dead) continue;  // reaped between picking and locking
      return read(*c, from, max);
    }
  }

  // -- consumer groups -------------------------------------------------------------------------

  group_client& group(const std::string& name) {
    std::lock_guard<std::mutex> g{groups_mutex};
    auto& slot = groups[name];
    if (slot) return *slot;
    client_config c{opts};
    c.set("group.id", name)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    auto client = std::make_unique<group_client>();
    client->rk = c.create(RD_KAFKA_CONSUMER);
    rd_kafka_poll_set_consumer(client->rk);
    {
      std::lock_guard<std::mutex> cg{consumers_mutex};
      consumers.push_back(client->rk);
    }
    slot = std::move(client);
    return *slot;
  }

  // The caller holds the group's mutex.
  std::optional<int64_t> fetch_committed(group_client& g, const std::string& group_name,
                                         const std::string& topic, int32_t partition) {
    auto l = one_partition(topic, partition, RD_KAFKA_OFFSET_INVALID);
    rd_kafka_resp_err_t err = rd_kafka_committed(g.rk, l.get(), opts.timeout_ms);
    if (!err) err = l->elems[0].err;
    if (err)
      throw std::runtime_error("cannot read the committed offset of group " + group_name + " for " +
                               topic + "[" + std::to_string(partition) + "]: " + err_text(err));
    int64_t off = l->elems[0].offset;
    if (off < 0) return std::nullopt;  // RD_KAFKA_OFFSET_INVALID: never committed
    g.committed[{topic, partition}] = off;
    return off;
  }

  std::optional<int64_t> committed(const std::string& group_name, const std::string& topic,
                                   int32_t partition) {
    auto& g = group(group_name);
    std::lock_guard<std::mutex> lk{g.mutex};
    return fetch_committed(g, group_name, topic, partition);
  }

  void commit(const std::string& group_name, const std::string& topic, int32_t partition,
              int64_t next) {
    auto& g = group(group_name);
    std::lock_guard<std::mutex> lk{g.mutex};
    topic_partition tp{topic, partition};
    auto known = g.committed.find(tp);
    std::optional<int64_t> current = known != g.committed.end()
                                         ? std::optional<int64_t>(known->second)
                                         : fetch_committed(g, group_name, topic, partition);
    if (current && next <= *current) return;  // never move a group backwards

    auto l = one_partition(topic, partition, next);
    queue_ptr q{rd_kafka_queue_new(g.rk)};
    // Through a queue rather than rd_kafka_commit(): a synchronous commit waits without a
    // limit while the group coordinator is unknown.
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(g.rk, l.get(), q.get(), nullptr, nullptr);
    std::string where = "group " + group_name + " at " + topic + "[" + std::to_string(partition) +
                        "]=" + std::to_string(next);
    if (err) throw std::runtime_error("cannot commit " + where + ": " + err_text(err));
    event_ptr ev{rd_kafka_queue_poll(q.get(), opts.timeout_ms)};
    if (!ev) throw std::runtime_error("timed out committing " + where);
    err = rd_kafka_event_error(ev.get());
    if (!err)
      if (auto* res = rd_kafka_event_topic_partition_list(ev.get()))
        for (int i = 0; i < res->cnt && !err; ++i) err = res->elems[i].err;
    if (err) throw std::runtime_error("cannot commit " + where + ": " + err_text(err));
    g.committed[tp] = next;
  }

  void commit_loop() {
    std::unique_lock<std::mutex> lk{commit_mutex};
    for (;;) {
      commit_cv.wait(lk, [this] { return commit_stopping || !commit_queue.empty(); });
      if (commit_queue.empty()) return;  // stopping, and everything queued is done
      commit_task t = std::move(commit_queue.front());
      commit_queue.pop_front();
      lk.unlock();
      std::exception_ptr result;
      try {
        commit(t.group, t.topic, t.partition, t.next);
      } catch (...) {
        result = std::current_exception();
      }
      try {
        if (t.done) t.done(result);
      } catch (const std::exception& e) {
        medflow::log::error(component, "a commit callback threw: ", e.what());
      } catch (...) {
        medflow::log::error(component, "a commit callback threw");
      }
      lk.lock();
    }
  }

  void stop_commit_worker() {
    {
      std::lock_guard<std::mutex> g{commit_mutex};
      commit_stopping = true;
    }
    commit_cv.notify_one();
    if (commit_thread.joinable()) commit_thread.join();
  }
};

// -- kafka_log -----------------------------------------------------------------------------------

kafka_log::kafka_log(kafka_options opts, store::database& db) {
  if (opts.brokers.empty()) throw std::invalid_argument("kafka needs bootstrap brokers");
  if (opts.timeout_ms <= opts.linger_ms)
    throw std::invalid_argument("kafka timeout_ms must be greater than linger_ms");
  impl_ = std::make_unique<impl>(*this, std::move(opts), db);
  try {
    impl_->start();
  } catch (...) {
    impl_->shutdown();
    throw;
  }
}

kafka_log::~kafka_log() {
  close();
}

void kafka_log::close() {
  if (impl_) impl_->shutdown();
}

void kafka_log::create_topic(const std::string& name, int32_t partitions) {
  if (!valid_topic_name(name)) throw std::invalid_argument("invalid topic name " + name);
  if (partitions < 1) throw std::invalid_argument("a topic needs at least one partition");
  auto g = impl_->enter();
  impl_->create_topic(name, partitions);
}

void kafka_log::delete_topic(const std::string& name) {
  auto g = impl_->enter();
  impl_->delete_topic(name);
}

std::optional<int32_t> kafka_log::partitions(const std::string& topic) {
  auto g = impl_->enter();
  return impl_->partition_count(topic);
}

std::vector<topic_info> kafka_log::topics() {
  auto g = impl_->enter();
  std::vector<topic_info> out;
  for (auto& [name, n] : impl_->refresh_metadata(impl_->opts.timeout_ms)) out.push_back({name, n});
  return out;
}

std::vector<position> kafka_log::append(const std::vector<message>& msgs) {
  auto g = impl_->enter();
  // Validate everything first so a bad record writes nothing.
  std::vector<int32_t> counts;
  counts.reserve(msgs.size());
  for (auto& m : msgs) {
    counts.push_back(impl_->require_topic(m.topic));
    if (m.partition) impl_->require_partition(m.topic, *m.partition);
  }
  std::vector<message> placed = msgs;
  for (size_t i = 0; i < placed.size(); ++i)
    placed[i].partition = choose_partition(placed[i], counts[i]);
  return impl_->produce(placed);
}

std::optional<position> kafka_log::append_in(store::tx& t, const message& m) {
  auto g = impl_->enter();
  int32_t n = impl_->require_topic(m.topic);
  int32_t p = choose_partition(m, n);
  if (p < 0 || p >= n) throw unknown_partition(m.topic, p);
  auto ins = t.conn.prepare(
      "INSERT INTO bus_outbox(topic, part, key, value, headers, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  ins.bind(1, m.topic).bind(2, p);
  if (m.key)
    ins.bind_blob(3, *m.key);
  else
    ins.bind(3, nullptr);
  ins.bind_blob(4, m.value);
  auto h = encode_headers(m.hdrs);
  if (h.empty())
    ins.bind(5, nullptr);
  else
    ins.bind(5, h);
  ins.bind(6, clock::now_ms());
  ins.exec();
  t.after_commit([i = impl_.get()] {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lk{i->outbox_mutex};
      wake = i->outbox_wake;
    }
    if (wake) wake();
  });
  return std::nullopt;
}

std::vector<record> kafka_log::fetch(const std::string& topic, int32_t partition, int64_t from,
                                     size_t max) {
  auto g = impl_->enter();
  return impl_->fetch(topic, partition, from, max);
}

int64_t kafka_log::end_offset(const std::string& topic, int32_t partition) {
  auto g = impl_->enter();
  impl_->require_partition(topic, partition);
  return impl_->high_watermark(topic, partition, impl_->opts.timeout_ms);
}

void kafka_log::commit(const std::string& group, const std::string& topic, int32_t partition,
                       int64_t next) {
  auto g = impl_->enter();
  impl_->commit(group, topic, partition, next);
}

void kafka_log::commit_async(const std::string& group, const std::string& topic, int32_t partition,
                             int64_t next, done_fn done) {
  auto g = impl_->enter();
  {
    std::lock_guard<std::mutex> lk{impl_->commit_mutex};
    if (impl_->commit_stopping) throw closed_error();
    impl_->commit_queue.push_back({group, topic, partition, next, std::move(done)});
  }
  impl_->commit_cv.notify_one();
}

std::optional<int64_t> kafka_log::committed(const std::string& group, const std::string& topic,
                                            int32_t partition) {
  auto g = impl_->enter();
  return impl_->committed(group, topic, partition);
}

std::unique_ptr<log::watch_handle> kafka_log::watch(const std::string& topic, int32_t partition,
                                                    std::function<void()> wake) {
  auto g = impl_->enter();
  topic_partition tp{topic, partition};
  uint64_t id = impl_->watchers->add(tp, std::move(wake));
  return std::make_unique<kafka_watch_handle>(impl_->watchers, tp, id);
}

std::string kafka_log::check() {
  auto g = impl_->enter();
  char text[512];
  if (rd_kafka_resp_err_t err = rd_kafka_fatal_error(impl_->producer, text, sizeof text))
    return std::string("kafka producer failed: ") + rd_kafka_err2name(err) + ": " + text;
  try {
    impl_->refresh_metadata(std::min(impl_->opts.timeout_ms, check_timeout_ms));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::vector<outbox_row> kafka_log::outbox_peek(size_t max) {
  auto g = impl_->enter();
  std::vector<outbox_row> out;
  auto r = impl_->db.reader();
  auto q =
      r->prepare("SELECT id, topic, part, key, value, headers FROM bus_outbox ORDER BY id LIMIT ?");
  q.bind_all(static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
  while (q.step()) {
    outbox_row row;
    row.id = q.int64(0);
    row.msg.topic = q.text(1);
    if (!q.is_null(2)) row.msg.partition = static_cast<int32_t>(q.int64(2));
    row.msg.key = q.opt_text(3);
    row.msg.value = q.text(4);
    if (!q.is_null(5)) row.msg.hdrs = decode_headers(q.text_view(5));
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<position> kafka_log::produce_and_wait(const std::vector<message>& msgs) {
  auto g = impl_->enter();
  // A record for a topic that is gone must fail here: producing it would make a broker with
  // auto-creation enabled create the topic anew.
  for (auto& m : msgs)
    if (m.partition)
      impl_->require_partition(m.topic, *m.partition);
    else
      impl_->require_topic(m.topic);
  return impl_->produce(msgs);
}

void kafka_log::outbox_ack(int64_t last_id) {
  auto g = impl_->enter();
  impl_->db.write().run([&](store::tx& t) {
    t.conn.prepare("DELETE FROM bus_outbox WHERE id <= ?").bind_all(last_id).exec();
  });
}

void kafka_log::on_outbox(std::function<void()> wake) {
  std::lock_guard<std::mutex> lk{impl_->outbox_mutex};
  impl_->outbox_wake = std::move(wake);
}

}  // namespace medflow::bus
