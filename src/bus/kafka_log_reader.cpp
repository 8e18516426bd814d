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
#include "bus/kafka_log_impl.hpp"

#include "core/log.hpp"

#include <algorithm>

namespace medflow::bus {

using namespace kafka;

namespace {

// Readers of one partition at this many different positions never make each other seek.
constexpr size_t max_read_slots = 8;
// A cursor nobody fetched from for this long is unassigned, so an abandoned read (a client
// paging through history over HTTP) stops prefetching and holding memory.
constexpr auto idle_cursor_ttl = std::chrono::seconds(60);
constexpr size_t consume_batch = 256;

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
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

}  // namespace

// -- watchers ----------------------------------------------------------------------------------

namespace kafka {

watch_registry::watch_registry() : thread_([this] { loop(); }) {}

watch_registry::~watch_registry() {
  stop();
}

uint64_t watch_registry::add(const topic_partition& tp, std::function<void()> wake) {
  std::lock_guard<std::mutex> g{mutex_};
  uint64_t id = next_id_++;
  watchers_[tp].emplace_back(id, std::make_shared<std::function<void()>>(std::move(wake)));
  return id;
}

void watch_registry::remove(const topic_partition& tp, uint64_t id) {
  std::lock_guard<std::mutex> g{mutex_};
  auto it = watchers_.find(tp);
  if (it == watchers_.end()) return;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(), [id](auto& w) { return w.first == id; }), v.end());
  if (v.empty()) watchers_.erase(it);
}

bool watch_registry::watched(const topic_partition& tp) {
  std::lock_guard<std::mutex> g{mutex_};
  return watchers_.count(tp) > 0;
}

void watch_registry::mark(const topic_partition& tp) {
  {
    std::lock_guard<std::mutex> g{mutex_};
    pending_.insert(tp);
  }
  cv_.notify_one();
}

void watch_registry::stop() {
  {
    std::lock_guard<std::mutex> g{mutex_};
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void watch_registry::loop() {
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

}  // namespace kafka

// -- cursors -----------------------------------------------------------------------------------

void kafka_log::impl::on_queue_event(rd_kafka_t*, void* opaque) {
  auto* ctx = static_cast<event_ctx*>(opaque);
  ctx->first->mark(ctx->second);
}

kafka_log::impl::read_slot& kafka_log::impl::add_slot() {
  client_config c{opts};
  c.set("group.id", opts.group_id)  // librdkafka only assigns partitions with a group
      .set("auto.offset.reset", "earliest")
      // A partition assigned while the handle's fetch request waits at an idle broker
      // joins only the next request; a shorter wait keeps the first read of a new position
      // quick, at the price of a few idle requests a second.
      .set("fetch.wait.max.ms", "100");
  auto s = std::make_unique<read_slot>();
  s->rk = new_consumer(c);
  slots.push_back(std::move(s));
  return *slots.back();
}

std::shared_ptr<kafka_log::impl::cursor> kafka_log::impl::new_cursor(read_slot& s,
                                                                     const topic_partition& tp) {
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

std::shared_ptr<kafka_log::impl::cursor> kafka_log::impl::pick_cursor(const topic_partition& tp,
                                                                      int64_t from) {
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

void kafka_log::impl::release_cursor(cursor& c) {
  c.dead = true;
  c.held.clear();  // messages of the handle: destroyed before it is
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

void kafka_log::impl::reap_idle_cursors() {
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

void kafka_log::impl::drop_cursors(const std::string& topic) {
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

int64_t kafka_log::impl::high_watermark(const std::string& topic, int32_t partition,
                                        int timeout_ms) {
  int64_t low = 0, high = 0;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(producer, topic.c_str(), partition, &low, &high, timeout_ms);
  if (err)
    throw std::runtime_error("cannot read the end offset of " + topic + "[" +
                             std::to_string(partition) + "]: " + err_text(err));
  return high;
}

int64_t kafka_log::impl::reposition(cursor& c, int64_t from) {
  c.held.clear();
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

bool kafka_log::impl::take(cursor& c, message_ptr& m, std::vector<record>& out,
                           read_progress& p) {
  if (m->err) {
    // Fetch errors repeat on every retry; say so once per change.
    if (m->err != c.last_err)
      medflow::log::warn(component, "reading ", c.tp.first, "[", c.tp.second,
                         "]: ", rd_kafka_message_errstr(m.get()));
    c.last_err = m->err;
    return true;
  }
  c.last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  // Below `next`: prefetched before a seek, or the run-up to an offset past the old end.
  if (m->offset < c.next) return true;
  record r = to_record(m.get());
  size_t n = record_bytes(r);
  if (!within_byte_cap(out.size(), p.bytes, n, p.max_bytes)) {
    p.full = true;
    return false;
  }
  p.bytes += n;
  out.push_back(std::move(r));
  c.next = m->offset + 1;
  return true;
}

std::vector<record> kafka_log::impl::read(cursor& c, int64_t from, size_t max,
                                          size_t max_bytes) {
  c.last_used = steady::now().time_since_epoch().count();
  std::vector<record> out;
  read_progress p{max_bytes};
  int64_t high = c.next != from ? reposition(c, from) : -1;
  // What an earlier read took off the queue and could not deliver comes first.
  while (!c.held.empty() && out.size() < max) {
    if (!take(c, c.held.front(), out, p)) return out;  // stays held
    c.held.pop_front();
  }
  if (high > from) {
    // A fresh position has nothing prefetched yet: wait (bounded) for the records that
    // existed when the read began, so a one-off read sees what a reader of the embedded
    // backend would see.
    auto wanted = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(max), high - from));
    auto deadline = steady::now() + std::chrono::milliseconds(opts.timeout_ms);
    while (out.size() < wanted && steady::now() < deadline) {
      message_ptr m{rd_kafka_consume_queue(c.queue.get(), remaining_ms(deadline))};
      if (!m) break;
      if (!take(c, m, out, p)) {
        c.held.push_back(std::move(m));
        return out;
      }
    }
  }
  std::vector<rd_kafka_message_t*> buf(std::min(max, consume_batch));
  while (out.size() < max && !p.full) {
    size_t want = std::min(buf.size(), max - out.size());
    ssize_t n = rd_kafka_consume_batch_queue(c.queue.get(), 0, buf.data(), want);
    if (n < 0)
      throw std::runtime_error("cannot read " + c.tp.first + "[" + std::to_string(c.tp.second) +
                               "]: " + err_text(rd_kafka_last_error()));
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      message_ptr m{buf[static_cast<size_t>(i)]};
      // Past the cap the rest of the batch is held, in order, for the next read.
      if (p.full || !take(c, m, out, p)) c.held.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<record> kafka_log::impl::fetch(const std::string& topic, int32_t partition,
                                           int64_t from, size_t max, size_t max_bytes) {
  require_partition(topic, partition);
  if (max == 0) return {};
  // Kafka gives negative offsets meanings (end, beginning); here they mean "from the start".
  from = std::max<int64_t>(from, 0);
  topic_partition tp{topic, partition};
  for (;;) {
    auto c = pick_cursor(tp, from);
    std::lock_guard<std::mutex> lk{c->mutex};
    if (c->dead) continue;  // reaped between picking and locking
    return read(*c, from, max, max_bytes);
  }
}

// -- kafka_log: reading ----------------------------------------------------------------------

std::vector<record> kafka_log::fetch(const std::string& topic, int32_t partition, int64_t from,
                                     size_t max, size_t max_bytes) {
  auto g = impl_->enter();
  return impl_->fetch(topic, partition, from, max, max_bytes);
}

int64_t kafka_log::end_offset(const std::string& topic, int32_t partition) {
  auto g = impl_->enter();
  impl_->require_partition(topic, partition);
  return impl_->high_watermark(topic, partition, impl_->opts.timeout_ms);
}

std::unique_ptr<log::watch_handle> kafka_log::watch(const std::string& topic, int32_t partition,
                                                    std::function<void()> wake) {
  auto g = impl_->enter();
  topic_partition tp{topic, partition};
  uint64_t id = impl_->watchers->add(tp, std::move(wake));
  return std::make_unique<kafka_watch_handle>(impl_->watchers, tp, id);
}

}  // namespace medflow::bus
