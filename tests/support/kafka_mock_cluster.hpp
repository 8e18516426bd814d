// librdkafka's in-process mock cluster (rdkafka_mock.h): it speaks the real Kafka protocol on
// loopback, so kafka_log, kcat and any other client can use it. It cannot create topics when a
// client asks (no CreateTopics), so tests and tools create them here. Shared by the bus tests
// and tools/kafka_mock; no doctest in here, so tools can use it too.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace medflow::test {

class kafka_mock_cluster {
 public:
  using log_fn = void (*)(const rd_kafka_t*, int level, const char* facility, const char* text);

  // `log`: where the owning handle's logs go (librdkafka's default prints them to stderr);
  // only errors are logged either way.
  explicit kafka_mock_cluster(int brokers = 1, log_fn log = nullptr) {
    // The cluster belongs to a client handle; this one never connects anywhere.
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (log) rd_kafka_conf_set_log_cb(conf, log);
    // Without it the idle handle warns that it has no bootstrap servers.
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    // KAFKA_MOCK_DEBUG=mock: the mock's own account of its groups (joins, elections, syncs,
    // session timeouts) at debug level, for a test that needs to see the coordinator's side.
    if (const char* dbg = std::getenv("KAFKA_MOCK_DEBUG"); dbg && *dbg) {
      rd_kafka_conf_set(conf, "debug", dbg, err, sizeof err);
      rd_kafka_conf_set(conf, "log_level", "7", err, sizeof err);
    }
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("cannot create the mock cluster's client: ") + err);
    }
    mc_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (!mc_) {
      rd_kafka_destroy(rk_);
      throw std::runtime_error("cannot start a mock cluster");
    }
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
    replication_ = brokers < 3 ? brokers : 3;
  }
  ~kafka_mock_cluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  kafka_mock_cluster(const kafka_mock_cluster&) = delete;
  kafka_mock_cluster& operator=(const kafka_mock_cluster&) = delete;

  // host:port,... of the brokers (127.0.0.1 only).
  const std::string& bootstraps() const { return bootstraps_; }

  // Replicated on min(3, brokers) brokers. Returns the broker's error (NO_ERROR on success).
  rd_kafka_resp_err_t create_topic(const std::string& name, int32_t partitions) {
    return rd_kafka_mock_topic_create(mc_, name.c_str(), partitions, replication_);
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  std::string bootstraps_;
  int replication_ = 1;
};

}  // namespace medflow::test
