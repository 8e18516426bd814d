// The Kafka bus backend (librdkafka): idempotent producer, manual offset commits, headers.
// Records written inside a store transaction go to the outbox table first; the outbox relay
// actor forwards them in order (see actors/outbox_relay.hpp), so a record exists in Kafka
// if and only if the transaction that wrote it committed (at least once, never reordered).
#pragma once

#include "bus/log.hpp"
#include "store/database.hpp"

#include <map>
#include <memory>
#include <vector>
#include <string>

namespace medflow::bus {

struct kafka_options {
  std::string brokers;          // bootstrap.servers
  std::string client_id = "medflowd";
  std::string group_id = "medflowd";  // the consumer group commits go to
  int linger_ms = 5;
  int timeout_ms = 10000;       // produce / fetch / metadata / admin calls
  // Any other librdkafka property, given to every client (producer, consumers, admin calls).
  std::map<std::string, std::string> properties;
  int session_timeout_ms = 10000;   // a member silent this long loses its partitions
  int release_timeout_ms = 30000;   // how long a revocation waits for the partitions' release
  // Names this instance's outbox rows (a shared PostgreSQL: each instance relays its own). The
  // same after a restart, so the rows a crash left are sent at once; empty: a random one.
  std::string instance;
};

// "" when librdkafka accepts every property (name and value), else the first one refused:
// "bus.kafka.properties.<name>: <librdkafka's error text>". Properties medflowd sets itself
// (bootstrap.servers, client.id, group.id, enable.idempotence, ...) are refused too.
std::string kafka_properties_error(const std::map<std::string, std::string>& properties);

// One row of the outbox, as the relay reads it.
struct outbox_row {
  int64_t id = 0;
  message msg;  // partition always set
};

class kafka_log : public log {
 public:
  kafka_log(kafka_options opts, store::database& db);
  ~kafka_log() override;

  const char* backend() const override { return "kafka"; }
  void create_topic(const std::string& name, int32_t partitions) override;
  void delete_topic(const std::string& name) override;
  std::optional<int32_t> partitions(const std::string& topic) override;
  std::vector<topic_info> topics() override;
  std::vector<position> append(const std::vector<message>& msgs) override;
  std::optional<position> append_in(store::tx& t, const message& m) override;
  std::vector<record> fetch(const std::string& topic, int32_t partition, int64_t from,
                            size_t max, size_t max_bytes = no_byte_cap) override;
  int64_t end_offset(const std::string& topic, int32_t partition) override;
  void commit(const std::string& group, const std::string& topic, int32_t partition,
              int64_t next) override;
  void commit_async(const std::string& group, const std::string& topic, int32_t partition,
                    int64_t next, done_fn done) override;
  std::optional<int64_t> committed(const std::string& group, const std::string& topic,
                                   int32_t partition) override;
  std::unique_ptr<watch_handle> watch(const std::string& topic, int32_t partition,
                                      std::function<void()> wake) override;
  std::unique_ptr<membership> join(const std::string& group, const std::string& topic,
                                   group_listener listener) override;
  void leave_groups() override;
  std::string check() override;
  void close() override;

  // -- the outbox, for the relay ---------------------------------------------------------------
  // Oldest unsent rows first.
  std::vector<outbox_row> outbox_peek(size_t max);
  // Produces the messages (in order, explicit partitions) and waits until all are acked;
  // throws on the first failure.
  std::vector<position> produce_and_wait(const std::vector<message>& msgs);
  // Deletes the rows sent (through the store writer). Exactly these, not "up to the last": on
  // PostgreSQL shared by several medflowd, a row with a smaller id can commit after the peek
  // that did not see it (ids are taken at insert, visible at commit).
  void outbox_ack(const std::vector<int64_t>& ids);
  // Called after a transaction with outbox rows commits (the relay registers itself here).
  void on_outbox(std::function<void()> wake);

  // A property as each live client's configuration holds it (rd_kafka_conf_get on the
  // handle's configuration): the producer first, then every consumer. For tests and
  // diagnostics.
  std::vector<std::string> client_setting(const std::string& name);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace medflow::bus
