// The Kafka backend on librdkafka's C API: its lifecycle (start, close), the poll thread that
// serves every handle's main queue, and the readiness check. The other roles are in
// kafka_log_producer.cpp, kafka_log_reader.cpp, kafka_log_admin.cpp and kafka_log_groups.cpp;
// kafka_log_impl.hpp holds what they share.
#include "bus/kafka_log_impl.hpp"

#include "core/log.hpp"

#include <algorithm>
#include <map>

namespace medflow::bus {

using namespace kafka;

namespace {

constexpr int poll_interval_ms = 100;
// check() must answer a readiness probe quickly even when the broker is gone.
constexpr int check_timeout_ms = 2000;

// Set by medflowd on its clients, each for a reason of its own (its key in parentheses, or the
// guarantee that needs it); librdkafka's aliases too.
const std::map<std::string, std::string> reserved_properties = {
    {"bootstrap.servers", "use bus.kafka.brokers"},
    {"metadata.broker.list", "use bus.kafka.brokers"},
    {"client.id", "use bus.kafka.client_id"},
    {"group.id", "use bus.kafka.group_id"},
    {"linger.ms", "use bus.kafka.linger_ms"},
    {"queue.buffering.max.ms", "use bus.kafka.linger_ms"},
    {"message.timeout.ms", "use bus.kafka.timeout_ms"},
    {"delivery.timeout.ms", "use bus.kafka.timeout_ms"},
    {"enable.idempotence", "the producer is idempotent: records are never duplicated or reordered"},
    {"enable.auto.commit", "offsets are committed by medflowd once a batch is handled"},
    {"enable.auto.offset.store", "offsets are stored by medflowd once a batch is handled"},
    {"enable.partition.eof", "medflowd's readers rely on it being off"},
    {"auto.offset.reset", "medflowd's readers start at the earliest record"},
    {"fetch.wait.max.ms", "medflowd's readers rely on a short wait"},
};

}  // namespace

std::string kafka_properties_error(const std::map<std::string, std::string>& properties) {
  if (properties.empty()) return "";
  conf_ptr conf{rd_kafka_conf_new()};
  for (auto& [name, value] : properties) {
    auto r = reserved_properties.find(name);
    if (r != reserved_properties.end())
      return "bus.kafka.properties." + name + ": set by medflowd (" + r->second + ")";
    char err[512] = "";
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK)
      return "bus.kafka.properties." + name + ": " + err;
  }
  return "";
}

std::vector<std::string> kafka_log::client_setting(const std::string& name) {
  std::vector<rd_kafka_t*> clients;
  if (impl_->producer) clients.push_back(impl_->producer);
  {
    std::lock_guard<std::mutex> g{impl_->consumers_mutex};
    clients.insert(clients.end(), impl_->consumers.begin(), impl_->consumers.end());
  }
  std::vector<std::string> out;
  for (auto* rk : clients) {
    char value[1024];
    size_t size = sizeof value;
    out.push_back(rd_kafka_conf_get(rd_kafka_conf(rk), name.c_str(), value, &size) ==
                          RD_KAFKA_CONF_OK
                      ? std::string(value)
                      : std::string());
  }
  return out;
}

namespace kafka {

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

}  // namespace kafka

void kafka_log::impl::start() {
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

void kafka_log::impl::shutdown() {
  std::lock_guard<std::mutex> once{close_mutex};
  if (closed) return;
  // Members leave their groups first: their revocations may still commit.
  {
    std::lock_guard<std::mutex> g{alive->mutex};
    alive->yes = false;
  }
  leave_groups();
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

void kafka_log::impl::leave_groups() {
  std::vector<std::shared_ptr<member>> ms;
  {
    std::lock_guard<std::mutex> lk{members_mutex};
    for (auto& [key, m] : members) ms.push_back(m);
  }
  for (auto& m : ms) m->close();
  std::lock_guard<std::mutex> lk{members_mutex};
  members.clear();
}

void kafka_log::impl::close_consumer(rd_kafka_t* rk) {
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
  if (err) medflow::log::warn(component, rd_kafka_name(rk), ": consumer close: ", err_text(err));
  rd_kafka_destroy(rk);
}

rd_kafka_t* kafka_log::impl::new_consumer(client_config& c) {
  c.set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("enable.partition.eof", "false");
  rd_kafka_t* rk = c.create(RD_KAFKA_CONSUMER);
  rd_kafka_poll_set_consumer(rk);
  std::lock_guard<std::mutex> g{consumers_mutex};
  consumers.push_back(rk);
  return rk;
}

void kafka_log::impl::poll_loop() {
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

void kafka_log::leave_groups() {
  auto g = impl_->enter();
  impl_->leave_groups();
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

}  // namespace medflow::bus
