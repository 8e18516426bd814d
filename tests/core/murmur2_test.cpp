#include "core/murmur2.hpp"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <string>

using medflow::kafka_partition;
using medflow::murmur2;

TEST_CASE("murmur2 matches the Java client's Utils.murmur2 (Kafka UtilsTest vectors)") {
  CHECK(murmur2("21") == -973932308);
  CHECK(murmur2("foobar") == -790332482);
  CHECK(murmur2("a-little-bit-long-string") == -985981536);
  CHECK(murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(murmur2("abc") == 479470107);
  CHECK(murmur2("") == 275646681);
}

TEST_CASE("key to partition is toPositive(murmur2) mod N, as the Java DefaultPartitioner") {
  // toPositive(-790332482) = 1357151166
  CHECK(kafka_partition("foobar", 50) == 16);
  CHECK(kafka_partition("foobar", 10) == 6);
  CHECK(kafka_partition("foobar", 1) == 0);
}

TEST_CASE("key to partition agrees with librdkafka's murmur2 partitioner on many keys") {
  // librdkafka documents its murmur2 partitioner as Java-client compatible; it is an
  // implementation independent of ours.
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  REQUIRE(rk != nullptr);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, "t", nullptr);
  int checked = 0;
  for (int32_t parts : {1, 3, 4, 8, 12, 100}) {
    for (int i = 0; i < 500; ++i) {
      std::string key = "patient-" + std::to_string(i * 7919) + std::string(i % 5, 'x');
      int32_t theirs = rd_kafka_msg_partitioner_murmur2(rkt, key.data(), key.size(), parts,
                                                        nullptr, nullptr);
      CHECK(kafka_partition(key, parts) == theirs);
      ++checked;
    }
  }
  CHECK(checked == 3000);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
}
