// Consumer groups' offsets: one consumer per group, used only to commit and read committed
// offsets. As in the embedded backend, commits never move a group backwards; commit_async()
// runs them in order on a worker thread.
#include "bus/kafka_log_impl.hpp"

#include "core/log.hpp"

namespace medflow::bus {

using namespace kafka;

kafka_log::impl::group_client& kafka_log::impl::group(const std::string& name) {
  std::lock_guard<std::mutex> g{groups_mutex};
  auto& slot = groups[name];
  if (slot) return *slot;
  client_config c{opts};
  c.set("group.id", name);
  auto client = std::make_unique<group_client>();
  client->rk = new_consumer(c);
  slot = std::move(client);
  return *slot;
}

std::optional<int64_t> kafka_log::impl::fetch_committed(group_client& g,
                                                        const std::string& group_name,
                                                        const std::string& topic,
                                                        int32_t partition) {
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

std::optional<int64_t> kafka_log::impl::committed(const std::string& group_name,
                                                  const std::string& topic, int32_t partition) {
  auto& g = group(group_name);
  std::lock_guard<std::mutex> lk{g.mutex};
  return fetch_committed(g, group_name, topic, partition);
}

void kafka_log::impl::commit(const std::string& group_name, const std::string& topic,
                             int32_t partition, int64_t next) {
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

void kafka_log::impl::commit_loop() {
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

void kafka_log::impl::stop_commit_worker() {
  {
    std::lock_guard<std::mutex> g{commit_mutex};
    commit_stopping = true;
  }
  commit_cv.notify_one();
  if (commit_thread.joinable()) commit_thread.join();
}

// -- kafka_log: consumer groups --------------------------------------------------------------

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

}  // namespace medflow::bus
