// The Kafka backend against librdkafka's in-process mock cluster: the same behaviour as the
// embedded backend (placement, offsets, headers, validation, commits, wakes) plus the outbox.
#include "bus/kafka_log.hpp"
#include "bus/consumer_lag.hpp"
#include "bus/embedded_log.hpp"

#include "core/log.hpp"
#include "core/murmur2.hpp"
#include "support/database.hpp"
#include "support/kafka_mock_cluster.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <algorithm>
#include <thread>

using namespace medflow;
using namespace medflow::bus;
using namespace std::chrono_literals;

namespace {

// One mock cluster for the whole file: tearing one down takes about a second, so test cases
// share it and keep apart through unique topic and group names.
class mock_cluster {
 public:
  static mock_cluster& get() {
    static mock_cluster c;
    return c;
  }
  const std::string& bootstraps() const { return cluster_.bootstraps(); }
  std::string topic(int32_t partitions) {
    std::string name = "kafka-log-test-" + std::to_string(++counter_);
    REQUIRE(cluster_.create_topic(name, partitions) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return name;
  }
  std::string unique(const std::string& prefix) {
    return prefix + "-" + std::to_string(++counter_);
  }

 private:
  test::kafka_mock_cluster cluster_;
  std::atomic<int> counter_{0};
};

struct fixture {
  mock_cluster& cluster = mock_cluster::get();
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::string group = cluster.unique("group");
  std::unique_ptr<kafka_log> log;

  fixture() {
    db = test::open_database(dir.file("bus.db"), {embedded_log::migrations()});  // bus_outbox
    log = open();
  }

  std::unique_ptr<kafka_log> open(int timeout_ms = 5000,
                                  std::map<std::string, std::string> properties = {},
                                  int release_timeout_ms = 30000) {
    kafka_options o;
    o.properties = std::move(properties);
    o.brokers = cluster.bootstraps();
    o.group_id = group;
    o.client_id = "kafka-log-test";
    o.linger_ms = 1;
    o.timeout_ms = timeout_ms;
    o.session_timeout_ms = 6000;
    o.release_timeout_ms = release_timeout_ms;
    return std::make_unique<kafka_log>(o, *db);
  }
};

// Reads until `n` records arrived (the consumer prefetches asynchronously), or 10 s passed.
std::vector<record> fetch_n(kafka_log& l, const std::string& topic, int32_t p, int64_t from,
                            size_t n) {
  std::vector<record> out;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto got = l.fetch(topic, p, from + static_cast<int64_t>(out.size()), n - out.size());
    if (got.empty()) std::this_thread::sleep_for(5ms);
    for (auto& r : got) out.push_back(std::move(r));
  }
  return out;
}

message msg(const std::string& topic, std::optional<std::string> key, std::string value,
            headers h = {}, std::optional<int32_t> partition = std::nullopt) {
  return message{topic, std::move(key), std::move(value), std::move(h), partition};
}

// Silences expected warnings (an unreachable broker) for one test case.
struct quiet_log {
  medflow::log::level saved = medflow::log::current_level();
  quiet_log() { medflow::log::set_level(medflow::log::level::off); }
  ~quiet_log() { medflow::log::set_level(saved); }
};

}  // namespace

TEST_CASE("kafka: keyed records go to murmur2(key) mod N with consecutive offsets") {
  fixture f;
  auto t = f.cluster.topic(8);
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  headers h{{"trace", "a"}, {"trace", "b"}, {"empty", ""}};
  auto pos = f.log->append({msg(t, "patient-1", "{\"n\":1}", h), msg(t, "patient-1", "{\"n\":2}")});
  REQUIRE(pos.size() == 2);
  int32_t p = kafka_partition("patient-1", 8);
  CHECK(pos[0].partition == p);
  CHECK(pos[1].partition == p);
  CHECK(pos[0].offset == 0);
  CHECK(pos[1].offset == 1);
  CHECK(f.log->end_offset(t, p) == 2);

  // A one-off read (the HTTP endpoint) gets records on its first call.
  auto first = f.log->fetch(t, p, 0, 10);
  REQUIRE_FALSE(first.empty());
  CHECK(first[0].offset == 0);
  auto recs = fetch_n(*f.log, t, p, 0, 2);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].topic == t);
  CHECK(recs[0].partition == p);
  CHECK(recs[0].key == std::optional<std::string>("patient-1"));
  CHECK(recs[0].value == "{\"n\":1}");
  CHECK(recs[0].hdrs == h);  // order and repeated names kept
  CHECK(*recs[0].header("trace") == "b");
  CHECK(recs[0].timestamp_ms >= before);
  CHECK(recs[1].offset == 1);
  CHECK(recs[1].value == "{\"n\":2}");
  CHECK(recs[1].hdrs.empty());

  auto tail = f.log->fetch(t, p, 1, 10);
  REQUIRE(tail.size() == 1);
  CHECK(tail[0].value == "{\"n\":2}");
  CHECK(f.log->fetch(t, p, 2, 10).empty());
  CHECK(f.log->fetch(t, p, 100, 10).empty());
}

TEST_CASE("kafka: null keys, empty keys and empty values round-trip; null keys spread") {
  fixture f;
  auto t = f.cluster.topic(2);
  auto pos = f.log->append({msg(t, std::nullopt, "no key", {}, 0), msg(t, "", "", {}, 0)});
  CHECK(pos[0].partition == 0);
  CHECK(pos[1].offset == 1);
  auto recs = fetch_n(*f.log, t, 0, 0, 2);
  REQUIRE(recs.size() == 2);
  CHECK_FALSE(recs[0].key);
  CHECK(recs[0].value == "no key");
  CHECK(recs[1].key == std::optional<std::string>(""));
  CHECK(recs[1].value.empty());

  auto spread = f.log->append({msg(t, std::nullopt, "a"), msg(t, std::nullopt, "b")});
  CHECK(spread[0].partition != spread[1].partition);
}

TEST_CASE("kafka: a bad record in a batch writes nothing") {
  fixture f;
  auto t = f.cluster.topic(2);
  CHECK_THROWS_AS(f.log->append({msg(t, std::nullopt, "a"), msg(t, std::nullopt, "b", {}, 5)}),
                  unknown_partition);
  auto missing = f.cluster.unique("no-such-topic");
  CHECK_THROWS_AS(f.log->append({msg(t, std::nullopt, "a"), msg(missing, std::nullopt, "b")}),
                  unknown_topic);
  CHECK(f.log->end_offset(t, 0) == 0);
  CHECK(f.log->end_offset(t, 1) == 0);
  CHECK_THROWS_AS(f.log->fetch(t, 2, 0, 1), unknown_partition);
  CHECK_THROWS_AS(f.log->fetch(t, -1, 0, 1), unknown_partition);
  CHECK_THROWS_AS(f.log->fetch(missing, 0, 0, 1), unknown_topic);
  CHECK_THROWS_AS(f.log->end_offset(missing, 0), unknown_topic);
  CHECK_THROWS_AS(f.log->produce_and_wait({msg(missing, std::nullopt, "x", {}, 0)}), unknown_topic);
  CHECK_THROWS_AS(f.log->produce_and_wait({msg(t, std::nullopt, "x", {}, 2)}), unknown_partition);
  // Nothing asked the broker about the missing topic in a way that would create it.
  CHECK_FALSE(f.log->partitions(missing));
}

TEST_CASE("kafka: readers at different offsets of one partition do not disturb each other") {
  fixture f;
  auto t = f.cluster.topic(1);
  std::vector<message> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(msg(t, std::nullopt, "r" + std::to_string(i)));
  auto pos = f.log->append(batch);
  CHECK(pos.back().offset == 9);

  auto check_run = [&](const std::vector<record>& rs, int64_t from, size_t n) {
    REQUIRE(rs.size() == n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(rs[i].offset == from + static_cast<int64_t>(i));
      CHECK(rs[i].value == "r" + std::to_string(from + static_cast<int64_t>(i)));
    }
  };
  // Two consumers (say, two groups) interleave their reads.
  check_run(fetch_n(*f.log, t, 0, 0, 3), 0, 3);
  check_run(fetch_n(*f.log, t, 0, 5, 3), 5, 3);
  check_run(fetch_n(*f.log, t, 0, 3, 3), 3, 3);
  check_run(fetch_n(*f.log, t, 0, 8, 2), 8, 2);
  check_run(fetch_n(*f.log, t, 0, 6, 4), 6, 4);
  // A consumer that restarts at an older offset reads it again.
  check_run(fetch_n(*f.log, t, 0, 1, 2), 1, 2);
  CHECK(f.log->fetch(t, 0, 10, 5).empty());
}

TEST_CASE("kafka: a read stops before its byte cap; the rest comes with the next reads") {
  fixture f;
  auto t = f.cluster.topic(1);
  std::vector<message> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(msg(t, std::string("k"), std::string(99, 'a' + i) + "!", {}, 0));
  batch.push_back(msg(t, std::string("k"), std::string(1000, 'z'), {{"h", "v"}}, 0));
  f.log->append(batch);
  // The first read of a fresh position waits for the records there: 3 fit in 350 bytes.
  auto recs = f.log->fetch(t, 0, 0, 100, 350);
  REQUIRE(recs.size() == 3);
  CHECK(recs[2].offset == 2);
  // Read on from where each stopped: every record once, in order, none over the cap but a
  // first one (the 1,000-byte record comes alone).
  std::vector<int64_t> seen{0, 1, 2};
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int64_t next = 3; next < 11 && std::chrono::steady_clock::now() < deadline;) {
    auto part = f.log->fetch(t, 0, next, 100, 350);
    size_t bytes = 0;
    for (auto& r : part) bytes += record_bytes(r);
    CHECK((part.size() <= 1 || bytes <= 350));
    for (auto& r : part) seen.push_back(r.offset);
    if (!part.empty()) next = part.back().offset + 1;
    else std::this_thread::sleep_for(5ms);
  }
  CHECK(seen == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  // Another position of the same partition, the count cap as before.
  recs = fetch_n(*f.log, t, 0, 4, 2);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].offset == 4);
}

TEST_CASE("kafka: reading past the end waits there for the records to come") {
  fixture f;
  auto t = f.cluster.topic(1);
  f.log->append({msg(t, std::nullopt, "0")});
  CHECK(f.log->fetch(t, 0, 3, 10).empty());
  f.log->append({msg(t, std::nullopt, "1"), msg(t, std::nullopt, "2"), msg(t, std::nullopt, "3")});
  auto recs = fetch_n(*f.log, t, 0, 3, 1);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].offset == 3);
  CHECK(recs[0].value == "3");
}

TEST_CASE("kafka: concurrent writers and readers of several partitions see every record in order") {
  fixture f;
  const int32_t partitions = 4;
  const int per_partition = 150;
  auto t = f.cluster.topic(partitions);
  std::vector<std::thread> writers;
  for (int32_t p = 0; p < partitions; ++p)
    writers.emplace_back([&, p] {
      for (int i = 0; i < per_partition; i += 10) {
        std::vector<message> batch;
        for (int j = i; j < i + 10; ++j)
          batch.push_back(msg(t, std::nullopt, std::to_string(p) + ":" + std::to_string(j), {}, p));
        f.log->append(batch);
      }
    });
  std::vector<std::vector<record>> read(partitions);
  std::vector<std::thread> readers;
  for (int32_t p = 0; p < partitions; ++p)
    readers.emplace_back([&, p] { read[p] = fetch_n(*f.log, t, p, 0, per_partition); });
  for (auto& w : writers) w.join();
  for (auto& r : readers) r.join();
  for (int32_t p = 0; p < partitions; ++p) {
    REQUIRE(read[p].size() == static_cast<size_t>(per_partition));
    for (int i = 0; i < per_partition; ++i) {
      CHECK(read[p][i].offset == i);
      CHECK(read[p][i].value == std::to_string(p) + ":" + std::to_string(i));
    }
  }
}

TEST_CASE("kafka: commits are per group, never go backwards, and outlive the client") {
  fixture f;
  auto t = f.cluster.topic(2);
  CHECK_FALSE(f.log->committed(f.group, t, 0));
  f.log->commit(f.group, t, 0, 3);
  CHECK(f.log->committed(f.group, t, 0) == 3);
  f.log->commit(f.group, t, 0, 2);
  CHECK(f.log->committed(f.group, t, 0) == 3);
  CHECK_FALSE(f.log->committed(f.group, t, 1));

  auto other = f.cluster.unique("other-group");
  CHECK_FALSE(f.log->committed(other, t, 0));
  f.log->commit(other, t, 0, 1);
  CHECK(f.log->committed(other, t, 0) == 1);
  CHECK(f.log->committed(f.group, t, 0) == 3);

  std::promise<std::exception_ptr> done;
  f.log->commit_async(f.group, t, 1, 7, [&](std::exception_ptr e) { done.set_value(e); });
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(fut.get());
  CHECK(f.log->committed(f.group, t, 1) == 7);

  // A restarted daemon (a new client, same group) resumes where the group left off.
  f.log.reset();
  auto again = f.open();
  CHECK(again->committed(f.group, t, 0) == 3);
  CHECK(again->committed(f.group, t, 1) == 7);
  CHECK(again->committed(other, t, 0) == 1);
}

TEST_CASE("kafka: watch wakes a consumer that found nothing once records arrive") {
  fixture f;
  auto t = f.cluster.topic(1);
  std::mutex m;
  std::condition_variable cv;
  int wakes = 0;
  auto w = f.log->watch(t, 0, [&] {
    std::lock_guard<std::mutex> g{m};
    ++wakes;
    cv.notify_all();
  });
  CHECK(f.log->fetch(t, 0, 0, 10).empty());

  // Another writer appends; the consumer reads only when woken, as an actor does.
  std::thread writer([&] {
    auto l = f.open();
    l->append({msg(t, std::nullopt, "hello")});
  });
  std::vector<record> got;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int seen = 0;
  while (got.empty()) {
    std::unique_lock<std::mutex> lk{m};
    if (!cv.wait_until(lk, deadline, [&] { return wakes > seen; })) break;
    seen = wakes;
    lk.unlock();
    got = f.log->fetch(t, 0, 0, 10);
  }
  writer.join();
  REQUIRE(got.size() == 1);
  CHECK(got[0].value == "hello");

  // After its handle is gone a watcher is not called, while others still are.
  w.reset();
  int before;
  {
    std::lock_guard<std::mutex> g{m};
    before = wakes;
  }
  std::atomic<int> second{0};
  auto w2 = f.log->watch(t, 0, [&] { ++second; });
  f.log->append({msg(t, std::nullopt, "again")});
  deadline = std::chrono::steady_clock::now() + 10s;
  while (second == 0 && std::chrono::steady_clock::now() < deadline) {
    f.log->fetch(t, 0, 1, 10);
    std::this_thread::sleep_for(5ms);
  }
  CHECK(second > 0);
  std::lock_guard<std::mutex> g{m};
  CHECK(wakes == before);
}

TEST_CASE("kafka: append_in fills the outbox only if the transaction commits") {
  fixture f;
  auto t = f.cluster.topic(4);
  std::atomic<int> outbox_wakes{0};
  f.log->on_outbox([&] { ++outbox_wakes; });

  CHECK_THROWS_WITH(f.db->write().run([&](store::tx& tx) {
    f.log->append_in(tx, msg(t, "patient-7", "lost"));
    throw std::runtime_error("domain write failed");
  }),
                    "domain write failed");
  CHECK(f.log->outbox_peek(10).empty());
  CHECK(outbox_wakes == 0);
  CHECK_THROWS_AS(f.db->write().run([&](store::tx& tx) {
    f.log->append_in(tx, msg(f.cluster.unique("no-such-topic"), std::nullopt, "x"));
  }),
                  unknown_topic);

  headers h{{"a", "1"}, {"a", "2"}};
  auto r = f.db->write().run(
      [&](store::tx& tx) { return f.log->append_in(tx, msg(t, "patient-7", "v1", h)); });
  CHECK_FALSE(r);  // Kafka assigns the offset later, when the relay sends it
  f.db->write().run(
      [&](store::tx& tx) { f.log->append_in(tx, msg(t, std::nullopt, "v2", {}, 3)); });
  CHECK(outbox_wakes == 2);

  auto rows = f.log->outbox_peek(10);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id < rows[1].id);
  CHECK(rows[0].msg.topic == t);
  CHECK(rows[0].msg.partition == kafka_partition("patient-7", 4));
  CHECK(rows[0].msg.key == std::optional<std::string>("patient-7"));
  CHECK(rows[0].msg.value == "v1");
  CHECK(rows[0].msg.hdrs == h);
  CHECK(rows[1].msg.partition == 3);
  CHECK_FALSE(rows[1].msg.key);
  CHECK(f.log->outbox_peek(1).size() == 1);
  // Nothing reached Kafka yet.
  CHECK(f.log->end_offset(t, 3) == 0);

  // The relay's round trip: send in order, then acknowledge.
  std::vector<message> msgs;
  for (auto& row : rows) msgs.push_back(row.msg);
  auto pos = f.log->produce_and_wait(msgs);
  REQUIRE(pos.size() == 2);
  CHECK(pos[0].partition == *rows[0].msg.partition);
  CHECK(pos[0].offset == 0);
  CHECK(pos[1].partition == 3);
  // Exactly the rows acknowledged go: a later row stays, whatever its id.
  f.log->outbox_ack({rows[1].id});
  auto left = f.log->outbox_peek(10);
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == rows[0].id);
  f.log->outbox_ack({rows[0].id});
  CHECK(f.log->outbox_peek(10).empty());

  auto recs = fetch_n(*f.log, t, pos[0].partition, 0, 1);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].value == "v1");
  CHECK(recs[0].hdrs == h);
}

TEST_CASE("kafka: topics are listed, and creating an existing one is idempotent") {
  fixture f;
  auto t = f.cluster.topic(3);
  f.log->create_topic(t, 3);
  CHECK_THROWS_AS(f.log->create_topic(t, 5), topic_exists);
  CHECK_THROWS_AS(f.log->create_topic("bad topic!", 1), std::invalid_argument);
  CHECK_THROWS_AS(f.log->create_topic(f.cluster.unique("t"), 0), std::invalid_argument);
  CHECK(f.log->partitions(t) == 3);
  CHECK_THROWS_AS(f.log->delete_topic(f.cluster.unique("no-such-topic")), unknown_topic);

  // A real broker keeps commits in its internal __consumer_offsets topic: never listed.
  f.log->commit(f.group, t, 0, 1);
  // A topic another client created after this one cached the metadata is found on a miss.
  auto later = f.cluster.topic(2);
  CHECK(f.log->partitions(later) == 2);

  auto ts = f.log->topics();
  bool found = false;
  for (auto& ti : ts) {
    CHECK(ti.name.rfind("__", 0) != 0);
    if (ti.name == t) {
      found = true;
      CHECK(ti.partitions == 3);
    }
  }
  CHECK(found);
}

TEST_CASE("kafka: a broker that cannot create or delete topics gives a clear error") {
  // librdkafka 2.0.2's mock cluster has no CreateTopics/DeleteTopics: each call waits out the
  // timeout. 3 s and not less: delete first reads the metadata within the same timeout, and on a
  // machine at load average 20 that took more than 800 ms ("metadata request failed").
  fixture f;
  auto l = f.open(3000);
  CHECK_THROWS_WITH_AS(l->create_topic(f.cluster.unique("new-topic"), 2),
                       doctest::Contains("could not create topic"), std::runtime_error);
  auto t = f.cluster.topic(1);
  CHECK_THROWS_WITH_AS(l->delete_topic(t), doctest::Contains("could not delete topic"),
                       std::runtime_error);
  CHECK(l->partitions(t) == 1);
}

TEST_CASE("kafka: check reports an unreachable broker; close is final and idempotent") {
  fixture f;
  CHECK(f.log->check() == "");
  {
    quiet_log quiet;
    kafka_options o;
    o.brokers = "127.0.0.1:1";
    o.group_id = f.group;
    o.linger_ms = 1;
    o.timeout_ms = 300;
    kafka_log unreachable{o, *f.db};
    CHECK_THROWS(unreachable.end_offset("t", 0));
    auto why = unreachable.check();
    CHECK(why.find("metadata") != std::string::npos);
  }
  CHECK_THROWS_AS(kafka_log(kafka_options{}, *f.db), std::invalid_argument);

  f.log->close();
  f.log->close();
  CHECK_THROWS_WITH(f.log->fetch("t", 0, 0, 1), doctest::Contains("closed"));
}

TEST_CASE("kafka: consumer lag is the end offset less the group's commit; a dead broker ends it") {
  fixture f;
  auto t = f.cluster.topic(2);
  f.log->append({msg(t, std::nullopt, "a", {}, 0), msg(t, std::nullopt, "b", {}, 0),
                 msg(t, std::nullopt, "c", {}, 1)});
  f.log->track_group(f.group, t);
  f.log->commit(f.group, t, 0, 1);
  auto r = consumer_lag(*f.log);
  CHECK(r.failed.empty());
  REQUIRE(r.partitions.size() == 2);
  CHECK(r.partitions[0].end_offset == 2);
  CHECK(r.partitions[0].committed == 1);
  CHECK(r.partitions[0].lag == 1);
  CHECK_FALSE(r.partitions[1].committed);
  CHECK(r.partitions[1].lag == 1);

  // Unreachable: the first failed read ends the measure (one timeout, not one per partition).
  quiet_log quiet;
  kafka_options o;
  o.brokers = "127.0.0.1:1";
  o.group_id = f.group;
  o.timeout_ms = 300;
  kafka_log unreachable{o, *f.db};
  for (auto& g : {"g1", "g2", "g3"}) unreachable.track_group(g, t);
  auto start = std::chrono::steady_clock::now();
  auto dead = consumer_lag(unreachable);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(dead.partitions.empty());
  CHECK(dead.failed.size() == 1);
  CHECK(took < std::chrono::milliseconds(3 * 300 + 1000));
}

TEST_CASE("kafka on PostgreSQL: an outbox row committed late, below an acknowledged id, stays" *
          doctest::skip(!test::on_postgres())) {
  // Several medflowd write one outbox: a row may commit after a higher id was relayed. The
  // acknowledgement deletes the rows the relay was given, not every lower id.
  fixture f;
  auto t = f.cluster.topic(1);
  f.db->write().run([&](store::tx& tx) { f.log->append_in(tx, msg(t, "k", "first")); });
  auto rows = f.log->outbox_peek(10);
  REQUIRE(rows.size() == 1);
  f.db->write().run([&](store::tx& tx) {
    tx.conn.prepare("INSERT INTO bus_outbox(id, topic, part, value, created_at) OVERRIDING "
                    "SYSTEM VALUE VALUES (?, ?, 0, '\\x6c617465'::bytea, 0)")
        .bind_all(rows[0].id - 1000, t)
        .exec();
  });
  f.log->outbox_ack({rows[0].id});
  auto left = f.log->outbox_peek(10);
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == rows[0].id - 1000);
  CHECK(left[0].msg.value == "late");
  f.log->outbox_ack({left[0].id});
  CHECK(f.log->outbox_peek(10).empty());
}

// -- bus.kafka.properties ------------------------------------------------------------------------

TEST_CASE("kafka: bus.kafka.properties reach every client, as librdkafka holds them") {
  fixture f;
  f.log->close();
  auto l = f.open(5000, {{"client.rack", "rack-7"}, {"socket.keepalive.enable", "true"},
                         {"topic.metadata.refresh.interval.ms", "123456"}});
  // A reader (fetch) and a group client (commit) besides the producer.
  auto t = f.cluster.topic(1);
  l->append({msg(t, std::string("k"), "v")});
  REQUIRE(fetch_n(*l, t, 0, 0, 1).size() == 1);
  l->commit(f.group, t, 0, 1);
  auto racks = l->client_setting("client.rack");
  CHECK(racks.size() >= 3);  // producer, reader, group client
  for (auto& r : racks) CHECK(r == "rack-7");
  for (auto& v : l->client_setting("socket.keepalive.enable")) CHECK(v == "true");
  for (auto& v : l->client_setting("topic.metadata.refresh.interval.ms")) CHECK(v == "123456");
  // medflowd's own settings stay its own.
  for (auto& v : l->client_setting("client.id")) CHECK(v == "kafka-log-test");
}

TEST_CASE("kafka: an unknown or invalid property is refused, named, with librdkafka's text") {
  CHECK(kafka_properties_error({}) == "");
  CHECK(kafka_properties_error({{"security.protocol", "SASL_SSL"}, {"sasl.mechanisms", "PLAIN"},
                                {"sasl.username", "u"}, {"sasl.password", "p"}}) == "");
  auto unknown = kafka_properties_error({{"no.such.property", "1"}});
  CHECK(unknown.rfind("bus.kafka.properties.no.such.property: ", 0) == 0);
  CHECK(unknown.find("No such configuration property") != std::string::npos);  // librdkafka's
  auto invalid = kafka_properties_error({{"security.protocol", "carrier-pigeon"}});
  CHECK(invalid.rfind("bus.kafka.properties.security.protocol: ", 0) == 0);
  CHECK(invalid.find("Invalid value") != std::string::npos);
  auto reserved = kafka_properties_error({{"group.id", "other"}});
  CHECK(reserved == "bus.kafka.properties.group.id: set by medflowd (use bus.kafka.group_id)");
  CHECK(kafka_properties_error({{"enable.idempotence", "false"}}).find("set by medflowd") !=
        std::string::npos);
  // The backend itself refuses them too, before it connects.
  fixture f;
  CHECK_THROWS_WITH_AS(f.open(5000, {{"no.such.property", "1"}}),
                       doctest::Contains("bus.kafka.properties.no.such.property"),
                       std::invalid_argument);
}

namespace {

// A group member's view for the tests: what it owns, and the releases it holds back.
struct member_view {
  std::mutex m;
  std::condition_variable cv;
  std::set<int32_t> owned;
  std::vector<std::function<void()>> held;  // revocations not released yet
  bool hold = false;

  bus::log::group_listener listener() {
    bus::log::group_listener l;
    l.assigned = [this](const std::vector<int32_t>& ps) {
      std::lock_guard<std::mutex> g{m};
      owned.insert(ps.begin(), ps.end());
      cv.notify_all();
    };
    l.revoked = [this](const std::vector<int32_t>& ps, std::function<void()> released) {
      std::lock_guard<std::mutex> g{m};
      for (auto p : ps) owned.erase(p);
      if (hold) held.push_back(std::move(released));
      else released();
      cv.notify_all();
    };
    return l;
  }
  bool wait_owned(size_t n, std::chrono::milliseconds limit = 20s) {
    std::unique_lock<std::mutex> g{m};
    return cv.wait_for(g, limit, [&] { return owned.size() == n; });
  }
  bool wait_held(size_t n) {
    std::unique_lock<std::mutex> g{m};
    return cv.wait_for(g, 20s, [&] { return held.size() == n; });
  }
  size_t count() {
    std::lock_guard<std::mutex> g{m};
    return owned.size();
  }
};

}  // namespace

TEST_CASE("kafka: group members split a topic; a revoked partition moves only once released") {
  fixture f;
  auto t = f.cluster.topic(4);
  auto group = f.cluster.unique("members");
  member_view a, b;
  auto joined_a = f.log->join(group, t, a.listener());
  REQUIRE(a.wait_owned(4));
  // Offsets of a group with members are committed through the member.
  f.log->commit(group, t, 0, 5);
  CHECK(f.log->committed(group, t, 0) == 5);

  a.hold = true;
  auto other = f.open();
  auto joined_b = other->join(group, t, b.listener());
  REQUIRE(a.wait_held(1));  // a gives up half of its partitions, and holds them
  CHECK(a.count() == 2);
  std::this_thread::sleep_for(1500ms);
  CHECK(b.count() == 0);  // not before a released them
  {
    std::lock_guard<std::mutex> g{a.m};
    for (auto& r : a.held) r();
    a.held.clear();
    a.hold = false;
  }
  REQUIRE(b.wait_owned(2));
  CHECK(a.count() == 2);
  {
    std::lock_guard<std::mutex> g{a.m}, h{b.m};
    for (auto p : b.owned) CHECK(a.owned.count(p) == 0);
  }
  // b's member commits too (its partitions, its generation), and a reads the result.
  int32_t of_b = *b.owned.begin();
  other->commit(group, t, of_b, 9);
  CHECK(f.log->committed(group, t, of_b) == 9);

  // b leaves: its partitions go back to a.
  joined_b.reset();
  CHECK(b.count() == 0);
  REQUIRE(a.wait_owned(4));
}

TEST_CASE("kafka: commits while the group rebalances do not cost a member its assignment") {
  // A commit that crosses an election (sent with the member's old generation behind its
  // JoinGroup) is answered ILLEGAL_GENERATION, and librdkafka then takes the member's whole
  // assignment for lost: a's four partitions would all be revoked and the rebalance start over.
  fixture f;
  auto t = f.cluster.topic(4);
  auto group = f.cluster.unique("busy");
  member_view a, b;
  auto joined_a = f.log->join(group, t, a.listener());
  REQUIRE(a.wait_owned(4));
  std::atomic<bool> stop{false};
  std::atomic<size_t> least{4};  // the fewest partitions a owned meanwhile
  // The answers may come after the test's locals are gone (the log outlives them).
  auto failed = std::make_shared<std::atomic<int>>(0);
  std::thread committer([&] {  // as a's partition consumers do while they work
    for (int64_t next = 1; !stop; ++next) {
      for (int32_t p = 0; p < 4; ++p)
        f.log->commit_async(group, t, p, next,
                            [failed](std::exception_ptr e) { *failed += e ? 1 : 0; });
      least = std::min(least.load(), a.count());
      std::this_thread::sleep_for(50ms);
    }
  });
  auto other = f.open();
  auto joined_b = other->join(group, t, b.listener());
  bool split = b.wait_owned(2, 40s);
  std::this_thread::sleep_for(500ms);
  stop = true;
  committer.join();
  INFO("a owns ", a.count(), ", b owns ", b.count(), ", ", failed->load(), " commits failed");
  REQUIRE(split);
  CHECK(a.count() == 2);
  // Not asserted: that a never lost all four meanwhile. A commit already on its way when the
  // coordinator starts the rebalance (before a can know of it) still crosses the election, so
  // the loss is rarer, not impossible: under ASan on a loaded machine it happened once
  // (1,017 commits refused). Without the hold every election was crossed and the group never
  // settled: `split` above is what fails then.
  MESSAGE("fewest partitions a owned meanwhile: ", least.load());
  // Those of the partitions a gave up are refused here (not sent); a's own still commit.
  MESSAGE(failed->load(), " commits refused or failed");
  auto done = std::make_shared<std::promise<std::exception_ptr>>();
  int32_t mine = *a.owned.begin();
  f.log->commit_async(group, t, mine, 100000, [done](std::exception_ptr e) { done->set_value(e); });
  CHECK(done->get_future().get() == nullptr);
  CHECK(f.log->committed(group, t, mine) == 100000);
  int32_t theirs = *b.owned.begin();
  CHECK_THROWS(f.log->commit(group, t, theirs, 100000));  // not a's to commit
}

TEST_CASE("kafka: a revocation that is never released hands the partitions over after the timeout") {
  fixture f;
  auto t = f.cluster.topic(2);
  auto group = f.cluster.unique("slow");
  member_view a, b;
  auto slow = f.open(5000, {}, 1000);
  a.hold = true;
  auto joined_a = slow->join(group, t, a.listener());
  REQUIRE(a.wait_owned(2));
  auto started = std::chrono::steady_clock::now();
  auto joined_b = f.log->join(group, t, b.listener());
  REQUIRE(a.wait_held(1));
  REQUIRE(b.wait_owned(1));  // a never released: the bus stopped waiting after 1 s
  CHECK(std::chrono::steady_clock::now() - started >= 1000ms);
  CHECK(a.count() == 1);
}

TEST_CASE("kafka: leave_groups revokes what is owned and leaves; the embedded default owns all") {
  fixture f;
  auto t = f.cluster.topic(3);
  member_view a;
  auto joined = f.log->join(f.cluster.unique("leaving"), t, a.listener());
  REQUIRE(a.wait_owned(3));
  f.log->leave_groups();
  CHECK(a.count() == 0);
  joined.reset();  // after the leave: nothing left to do

  // The embedded bus lives in SQLite whatever the store of the run (embedded_log needs it).
  store::database::options eo;
  eo.path = f.dir.file("embedded.db");
  eo.conn.synchronous = "NORMAL";
  store::database edb{eo};
  edb.migrate(embedded_log::migrations());
  embedded_log e{edb};
  e.create_topic("t", 3);
  member_view only;
  auto j = e.join("g", "t", only.listener());
  CHECK(only.count() == 3);
  j.reset();
  CHECK(only.count() == 3);  // never revoked: one node owns everything
}
