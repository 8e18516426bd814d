// Topics and metadata: partition counts (cached, refreshed on a miss), and creating and
// deleting topics through the Admin API.
#include "bus/kafka_log_impl.hpp"

namespace medflow::bus {

using namespace kafka;

std::map<std::string, int32_t> kafka_log::impl::refresh_metadata(int timeout_ms) {
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

std::optional<int32_t> kafka_log::impl::partition_count(const std::string& topic) {
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

int32_t kafka_log::impl::require_topic(const std::string& topic) {
  auto n = partition_count(topic);
  if (!n) throw unknown_topic(topic);
  return *n;
}

void kafka_log::impl::require_partition(const std::string& topic, int32_t partition) {
  int32_t n = require_topic(topic);
  if (partition >= 0 && partition < n) return;
  // The topic may have grown since we cached it.
  auto fresh = refresh_metadata(opts.timeout_ms);
  auto it = fresh.find(topic);
  if (it == fresh.end()) throw unknown_topic(topic);
  if (partition < 0 || partition >= it->second) throw unknown_partition(topic, partition);
}

template <class Submit, class Results>
std::pair<rd_kafka_resp_err_t, std::string> kafka_log::impl::topic_call(rd_kafka_admin_op_t op,
                                                                        const char* what,
                                                                        Submit submit,
                                                                        Results results_of) {
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
  if (rd_kafka_event_error(ev.get()))
    return {rd_kafka_event_error(ev.get()), rd_kafka_event_error_string(ev.get())};
  size_t n = 0;
  const rd_kafka_topic_result_t** results = results_of(ev.get(), &n);
  if (!results || n < 1) return {RD_KAFKA_RESP_ERR__BAD_MSG, "no result for the topic"};
  const char* text = rd_kafka_topic_result_error_string(results[0]);
  auto e = rd_kafka_topic_result_error(results[0]);
  return {e, text ? text : err_text(e)};
}

void kafka_log::impl::create_topic(const std::string& name, int32_t partitions) {
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
  auto [err, text] = topic_call(
      RD_KAFKA_ADMIN_OP_CREATETOPICS, "create topic",
      [&](rd_kafka_AdminOptions_t* ao, rd_kafka_queue_t* q) {
        rd_kafka_CreateTopics(producer, &nt, 1, ao, q);
      },
      [](rd_kafka_event_t* ev, size_t* n) -> const rd_kafka_topic_result_t** {
        auto* res = rd_kafka_event_CreateTopics_result(ev);
        return res ? rd_kafka_CreateTopics_result_topics(res, n) : nullptr;
      });
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

void kafka_log::impl::delete_topic(const std::string& name) {
  require_topic(name);
  rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(name.c_str());
  std::unique_ptr<rd_kafka_DeleteTopic_t, decltype(&rd_kafka_DeleteTopic_destroy)> owned{
      dt, rd_kafka_DeleteTopic_destroy};
  auto [err, text] = topic_call(
      RD_KAFKA_ADMIN_OP_DELETETOPICS, "delete topic",
      [&](rd_kafka_AdminOptions_t* ao, rd_kafka_queue_t* q) {
        rd_kafka_DeleteTopics(producer, &dt, 1, ao, q);
      },
      [](rd_kafka_event_t* ev, size_t* n) -> const rd_kafka_topic_result_t** {
        auto* res = rd_kafka_event_DeleteTopics_result(ev);
        return res ? rd_kafka_DeleteTopics_result_topics(res, n) : nullptr;
      });
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

// -- kafka_log: topics ----------------------------------------------------------------------

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

}  // namespace medflow::bus
