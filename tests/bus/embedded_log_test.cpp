#include "bus/embedded_log.hpp"

#include "core/murmur2.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <future>
#include <vector>

using namespace medflow;
using namespace medflow::bus;

namespace {
struct fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<embedded_log> log;

  fixture() { open(); }
  void open() {
    log.reset();
    db.reset();
    db = test::open_database(dir.file("bus.db"), {embedded_log::migrations()});
    log = std::make_unique<embedded_log>(*db);
  }
};
}  // namespace

TEST_CASE("create, list and delete topics") {
  fixture f;
  f.log->create_topic("a.in", 3);
  f.log->create_topic("b", 1);
  f.log->create_topic("a.in", 3);  // same count: fine
  CHECK_THROWS_AS(f.log->create_topic("a.in", 4), topic_exists);
  CHECK_THROWS_AS(f.log->create_topic("bad topic!", 1), std::invalid_argument);
  CHECK(f.log->partitions("a.in") == 3);
  CHECK_FALSE(f.log->partitions("zzz"));
  auto ts = f.log->topics();
  REQUIRE(ts.size() == 2);
  CHECK(ts[0].name == "a.in");
  f.log->delete_topic("b");
  CHECK_FALSE(f.log->partitions("b"));
}

TEST_CASE("keyed records go to murmur2(key) mod N and get consecutive offsets") {
  fixture f;
  f.log->create_topic("t", 8);
  auto pos = f.log->append({{"t", std::string("patient-1"), "{\"n\":1}", {{"h", "v"}}, {}},
                            {"t", std::string("patient-1"), "{\"n\":2}", {}, {}}});
  REQUIRE(pos.size() == 2);
  CHECK(pos[0].partition == kafka_partition("patient-1", 8));
  CHECK(pos[1].partition == pos[0].partition);
  CHECK(pos[0].offset == 0);
  CHECK(pos[1].offset == 1);
  auto recs = f.log->fetch("t", pos[0].partition, 0, 10);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].key == std::optional<std::string>("patient-1"));
  CHECK(recs[0].value == "{\"n\":1}");
  REQUIRE(recs[0].hdrs.size() == 1);
  CHECK(*recs[0].header("h") == "v");
  CHECK(recs[1].hdrs.empty());
  CHECK(recs[0].timestamp_ms > 0);
  CHECK(f.log->end_offset("t", pos[0].partition) == 2);
  CHECK(f.log->fetch("t", pos[0].partition, 1, 10).size() == 1);
  CHECK(f.log->fetch("t", pos[0].partition, 2, 10).empty());
}

TEST_CASE("a bad record in a batch writes nothing") {
  fixture f;
  f.log->create_topic("t", 2);
  CHECK_THROWS_AS(f.log->append({{"t", std::nullopt, "a", {}, {}}, {"t", std::nullopt, "b", {}, 5}}),
                  unknown_partition);
  CHECK_THROWS_AS(f.log->append({{"t", std::nullopt, "a", {}, {}}, {"nope", std::nullopt, "b", {}, {}}}),
                  unknown_topic);
  CHECK(f.log->end_offset("t", 0) == 0);
  CHECK(f.log->end_offset("t", 1) == 0);
  CHECK_THROWS_AS(f.log->fetch("t", 2, 0, 1), unknown_partition);
  CHECK_THROWS_AS(f.log->fetch("nope", 0, 0, 1), unknown_topic);
}

TEST_CASE("null keys are spread round-robin") {
  fixture f;
  f.log->create_topic("t", 2);
  auto pos = f.log->append({{"t", std::nullopt, "a", {}, {}}, {"t", std::nullopt, "b", {}, {}}});
  CHECK(pos[0].partition != pos[1].partition);
}

TEST_CASE("records, offsets and committed positions survive a restart") {
  fixture f;
  f.log->create_topic("t", 1);
  f.log->append({{"t", std::string("k"), "v1", {}, {}}, {"t", std::string("k"), "v2", {}, {}}});
  f.log->commit("g", "t", 0, 1);
  f.open();
  CHECK(f.log->partitions("t") == 1);
  CHECK(f.log->committed("g", "t", 0) == 1);
  CHECK_FALSE(f.log->committed("other", "t", 0));
  auto recs = f.log->fetch("t", 0, 1, 10);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].value == "v2");
  auto pos = f.log->append({{"t", std::string("k"), "v3", {}, {}}});
  CHECK(pos[0].offset == 2);
}

TEST_CASE("commits never move a group backwards") {
  fixture f;
  f.log->create_topic("t", 1);
  f.log->commit("g", "t", 0, 5);
  f.log->commit("g", "t", 0, 3);
  CHECK(f.log->committed("g", "t", 0) == 5);
  std::atomic<bool> done{false};
  f.log->commit_async("g", "t", 0, 7, [&](std::exception_ptr e) { done = !e; });
  f.db->write().run([](store::tx&) {});
  CHECK(done);
  CHECK(f.log->committed("g", "t", 0) == 7);
}

TEST_CASE("retention keeps the newest record of a partition, so offsets never repeat") {
  fixture f;
  f.log->create_topic("t", 1);
  f.log->append({{"t", std::nullopt, "a", {}, {}}, {"t", std::nullopt, "b", {}, {}}});
  CHECK(f.log->delete_older_than(INT64_MAX) == 1);
  CHECK(f.log->fetch("t", 0, 0, 10).size() == 1);
  auto pos = f.log->append({{"t", std::nullopt, "c", {}, {}}});
  CHECK(pos[0].offset == 2);
}

TEST_CASE("append_in is atomic with the surrounding unit of work, and watchers wake on commit") {
  fixture f;
  f.log->create_topic("t", 1);
  std::atomic<int> wakes{0};
  auto w = f.log->watch("t", 0, [&] { wakes++; });
  CHECK_THROWS(f.db->write().run([&](store::tx& t) {
    f.log->append_in(t, {"t", std::nullopt, "lost", {}, {}});
    throw std::runtime_error("domain write failed");
  }));
  CHECK(f.log->end_offset("t", 0) == 0);
  CHECK(wakes == 0);
  f.db->write().run([&](store::tx& t) { f.log->append_in(t, {"t", std::nullopt, "kept", {}, {}}); });
  CHECK(f.log->end_offset("t", 0) == 1);
  CHECK(wakes == 1);
  w.reset();
  f.log->append({{"t", std::nullopt, "x", {}, {}}});
  CHECK(wakes == 1);
}

TEST_CASE("append_all_in: records of several topics in order, as append_in one by one writes "
          "them; one wake per partition; an unknown topic writes nothing") {
  fixture f;
  f.log->create_topic("a", 2);
  f.log->create_topic("b", 1);
  std::atomic<int> wakes_a0{0}, wakes_a1{0}, wakes_b{0};
  auto w0 = f.log->watch("a", 0, [&] { wakes_a0++; });
  auto w1 = f.log->watch("a", 1, [&] { wakes_a1++; });
  auto wb = f.log->watch("b", 0, [&] { wakes_b++; });
  std::vector<message> msgs = {
      {"a", std::nullopt, "a0-x", {{"h", "1"}}, 0},
      {"a", std::nullopt, "a0-y", {}, 0},
      {"b", std::string("key"), "", {{"q\"", "\\"}, {"n", ""}}, std::nullopt},
      {"a", std::string(), "a1-z", {}, 1},
      {"a", std::nullopt, "a0-w", {}, 0},
  };
  using where = std::pair<int32_t, int64_t>;  // partition, offset
  auto places = [](const std::vector<std::optional<position>>& ps) {
    std::vector<where> out;
    for (auto& p : ps) out.push_back(p ? where{p->partition, p->offset} : where{-1, -1});
    return out;
  };
  std::vector<std::optional<position>> at;
  f.db->write().run([&](store::tx& t) { at = f.log->append_all_in(t, msgs); });
  CHECK(places(at) == std::vector<where>{{0, 0}, {0, 1}, {0, 0}, {1, 0}, {0, 2}});
  CHECK(wakes_a0 == 1);
  CHECK(wakes_a1 == 1);
  CHECK(wakes_b == 1);
  // Read back as written (values, keys, headers bound without copies).
  auto a0 = f.log->fetch("a", 0, 0, 10);
  REQUIRE(a0.size() == 3);
  CHECK(a0[0].value == "a0-x");
  CHECK(a0[0].hdrs == headers{{"h", "1"}});
  CHECK_FALSE(a0[0].key);
  CHECK(a0[1].value == "a0-y");
  CHECK(a0[1].hdrs.empty());
  CHECK(a0[2].value == "a0-w");
  auto b = f.log->fetch("b", 0, 0, 10);
  REQUIRE(b.size() == 1);
  CHECK(b[0].key == std::optional<std::string>("key"));
  CHECK(b[0].value.empty());
  CHECK(b[0].hdrs == headers{{"q\"", "\\"}, {"n", ""}});
  auto a1 = f.log->fetch("a", 1, 0, 10);
  REQUIRE(a1.size() == 1);
  CHECK(a1[0].key == std::optional<std::string>(""));
  // The same as append_in one by one, and offsets go on after it.
  f.db->write().run([&](store::tx& t) {
    CHECK(f.log->append_in(t, msgs[1])->offset == 3);
    CHECK(places(f.log->append_all_in(t, {msgs[4], msgs[3]})) == std::vector<where>{{0, 4}, {1, 1}});
  });
  // An unknown topic anywhere: nothing of the call is written, the unit fails.
  CHECK_THROWS_AS(f.db->write().run([&](store::tx& t) {
    f.log->append_all_in(t, {{"a", std::nullopt, "lost", {}, 0}, {"nope", std::nullopt, "x", {}, {}}});
  }),
                  unknown_topic);
  CHECK(f.log->end_offset("a", 0) == 5);
  CHECK(f.db->write().run([&](store::tx& t) { return f.log->append_all_in(t, {}); }).empty());
}

TEST_CASE("a run of records with the same headers reads back record by record as written") {
  fixture f;
  f.log->create_topic("t", 1);
  headers b1{{"batchId", "b1"}}, b2{{"batchId", "b2"}, {"x", "y"}};
  std::vector<headers> written = {b1, b1, b2, {}, b2, b2, {}, {}, b1};
  std::vector<message> msgs;
  for (auto& h : written) msgs.push_back({"t", std::nullopt, "v", h, 0});
  f.log->append(msgs);
  // Every start offset, so that each record is once the first of a read.
  for (int64_t from = 0; from < static_cast<int64_t>(written.size()); ++from) {
    auto got = f.log->fetch("t", 0, from, 100);
    REQUIRE(got.size() == written.size() - static_cast<size_t>(from));
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].hdrs == written[from + i]);
  }
}

TEST_CASE("offsets stay consecutive through rollbacks and re-created topics (the next-offset cache)") {
  fixture f;
  f.log->create_topic("t", 1);
  // A nested savepoint rolled back after an append: the unit's next append takes that offset.
  f.db->write().run([&](store::tx& t) {
    {
      store::savepoint sp{t.conn, "inner"};
      CHECK(f.log->append_in(t, {"t", std::nullopt, "undone", {}, {}})->offset == 0);
      sp.rollback();
    }
    CHECK(f.log->append_in(t, {"t", std::nullopt, "a", {}, {}})->offset == 0);
    CHECK(f.log->append_in(t, {"t", std::nullopt, "b", {}, {}})->offset == 1);
  });
  // A failed unit's appends leave no gap either.
  CHECK_THROWS(f.db->write().run([&](store::tx& t) {
    f.log->append_in(t, {"t", std::nullopt, "lost", {}, {}});
    f.log->append_in(t, {"t", std::nullopt, "lost", {}, {}});
    throw std::runtime_error("domain write failed");
  }));
  CHECK(f.log->append({{"t", std::nullopt, "c", {}, {}}})[0].offset == 2);
  auto recs = f.log->fetch("t", 0, 0, 10);
  REQUIRE(recs.size() == 3);
  CHECK(recs[0].value == "a");
  CHECK(recs[2].value == "c");
  // A topic deleted and created again (its id can be reused) starts at 0.
  f.log->delete_topic("t");
  f.log->create_topic("t", 1);
  CHECK(f.log->append({{"t", std::nullopt, "new", {}, {}}})[0].offset == 0);
  // Units queued together (one group commit when the writer finds them waiting) stay in order.
  std::vector<std::future<void>> waits;
  std::vector<int64_t> offs(50, -1);
  for (int i = 0; i < 50; ++i) {
    auto done = std::make_shared<std::promise<void>>();
    waits.push_back(done->get_future());
    f.db->write().submit(
        [&, i](store::tx& t) {
          if (i % 7 == 3) {
            f.log->append_in(t, {"t", std::nullopt, "lost", {}, {}});
            throw std::runtime_error("this unit fails");
          }
          offs[i] = f.log->append_in(t, {"t", std::nullopt, std::to_string(i), {}, {}})->offset;
        },
        [done](std::exception_ptr) { done->set_value(); });
  }
  for (auto& w : waits) w.get();
  recs = f.log->fetch("t", 0, 0, 100);
  for (size_t i = 0; i < recs.size(); ++i) CHECK(recs[i].offset == static_cast<int64_t>(i));
  CHECK(recs.size() == 1 + 50 - 7);
  CHECK(f.log->end_offset("t", 0) == static_cast<int64_t>(recs.size()));
}

TEST_CASE("a read stops before its byte cap; the first record comes whatever its size") {
  fixture f;
  f.log->create_topic("t", 1);
  std::vector<message> batch;
  // 101 bytes each towards the cap: a one-byte key and 100 bytes of value.
  for (int i = 0; i < 10; ++i)
    batch.push_back({"t", std::string("k"), std::string(99, 'a' + i) + "!", {}, {}});
  batch.push_back({"t", std::string("k"), std::string(1000, 'z'), {{"h", "v"}}, {}});
  f.log->append(batch);
  CHECK(record_bytes(f.log->fetch("t", 0, 10, 1)[0]) == 1 + 1000 + 2);

  auto recs = f.log->fetch("t", 0, 0, 100, 350);
  REQUIRE(recs.size() == 3);  // 303 bytes; a fourth would make 404
  CHECK(recs[2].offset == 2);
  CHECK(f.log->fetch("t", 0, 0, 100, 404).size() == 4);  // exactly at the cap is within it
  CHECK(f.log->fetch("t", 0, 0, 2, 350).size() == 2);    // the count still caps too
  // Read on from where the last one stopped: every record once, in order.
  std::vector<int64_t> seen;
  for (int64_t next = 0; next < 11;) {
    auto part = f.log->fetch("t", 0, next, 100, 350);
    REQUIRE_FALSE(part.empty());
    for (auto& r : part) seen.push_back(r.offset);
    next = part.back().offset + 1;
  }
  CHECK(seen == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  // A record larger than the cap comes alone, so a reader always moves on.
  recs = f.log->fetch("t", 0, 10, 100, 350);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].value.size() == 1000);
  recs = f.log->fetch("t", 0, 9, 100, 350);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].offset == 9);
}

TEST_CASE("verify: a consistent log passes; lost records and stray partitions are named") {
  fixture f;
  f.log->create_topic("t", 2);
  std::vector<message> ms;
  for (int i = 0; i < 10; ++i) ms.push_back({"t", std::nullopt, "v" + std::to_string(i), {}, 0});
  f.log->append(ms);
  f.log->commit("g", "t", 0, 10);
  f.log->commit("g", "t", 1, 0);
  f.log->commit("other", "kafka-only-topic", 0, 99);  // not a topic of this log: not judged
  CHECK(f.log->verify() == "");

  SUBCASE("records a consumer had read are gone") {
    f.db->write().run([](store::tx& t) { t.conn.exec("DELETE FROM bus_records WHERE off >= 6"); });
    CHECK(f.log->verify() ==
          "consumer group g committed offset 10 of t/0, but the partition ends at 6 (records are "
          "missing)");
  }
  SUBCASE("records outside the topic's partitions") {
    f.db->write().run([](store::tx& t) { t.conn.exec("UPDATE bus_records SET part=5 WHERE off=3"); });
    CHECK(f.log->verify().find("topic t has records outside its 2 partitions") != std::string::npos);
  }
  SUBCASE("records of no topic") {
    f.db->write().run([](store::tx& t) { t.conn.exec("DELETE FROM bus_topics"); });
    f.open();
    CHECK(f.log->verify().find("which is no topic") != std::string::npos);
  }
}

TEST_CASE("headers: encoded and decoded as they were, in order, anything else refused") {
  medflow::bus::headers h = {{"eventType", "create"}, {"x", "\"quoted\" \\ \u00f8 \n"},
                             {"x", ""}, {"", "empty name"}};
  CHECK(medflow::bus::decode_headers(medflow::bus::encode_headers(h)) == h);
  // The stored bytes are what a JSON library writes for [[name, value], ...] (readers other
  // than decode_headers, e.g. the records API, see the same text as before).
  for (const auto& hs : {h, medflow::bus::headers{{"batchId", "b-1"}, {"a b", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"}},
                         medflow::bus::headers{{"\x01\x1f\x7f", "\t\r"}},
                         medflow::bus::headers{{"say \"hi\"", "a\\b"}, {"\\", "\""}}}) {
    nlohmann::json tree = nlohmann::json::array();
    for (auto& [k, v] : hs) tree.push_back({k, v});
    CHECK(medflow::bus::encode_headers(hs) == tree.dump());
  }
  // Every ASCII byte alone and in a plain string, as name and as value.
  for (int ch = 0; ch < 0x80; ++ch) {
    std::string one(1, static_cast<char>(ch));
    medflow::bus::headers hs{{one, "a" + one + "b"}, {"n", one}};
    nlohmann::json tree = nlohmann::json::array();
    for (auto& [k, v] : hs) tree.push_back({k, v});
    CHECK(medflow::bus::encode_headers(hs) == tree.dump());
  }
  CHECK(medflow::bus::encode_headers({}).empty());
  // Not UTF-8 (invalid, or cut short): refused as the library refuses it (nothing
  // half-written is stored).
  CHECK_THROWS_AS(medflow::bus::encode_headers({{"x", "\xff\xfe"}}), nlohmann::json::type_error);
  CHECK_THROWS_AS(medflow::bus::encode_headers({{"a\xc3", "x"}}), nlohmann::json::type_error);
  CHECK(medflow::bus::decode_headers("").empty());
  CHECK(medflow::bus::decode_headers("[]").empty());
  for (const char* bad : {"{}", "[[\"a\"]]", "[[\"a\",\"b\",\"c\"]]", "[[\"a\",1]]",
                          "[[[\"a\",\"b\"]]]", "[\"a\",\"b\"]", "[[\"a\",\"b\"]", "\"a\"",
                          "[[\"a\",\"b\"]] x", "null"})
    CHECK_THROWS_AS(medflow::bus::decode_headers(bad), std::runtime_error);
}
