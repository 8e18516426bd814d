// The subscriptions service over the embedded bus: create (validation, nothing stored when
// refused, the cap), list/get/delete, collect (selector, wildcards, topics created later,
// order per partition, non-matching records advance the position) and ack (durable, forward
// only, hostile cursors refused).
#include "flows/resource_events/subscription_service.hpp"

#include "bus/embedded_log.hpp"
#include "support/memory_log.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>

namespace {

using namespace medflow;
using namespace medflow::flows::resource_events;
using nlohmann::json;

struct fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<bus::log> bus;
  std::unique_ptr<subscription_service> svc;

  explicit fixture(service_settings s = {}) {
    db = test::open_database(dir.file("re.db"), {bus::embedded_log::migrations(), migrations()});
    if (test::on_postgres())  // the embedded bus is SQLite's
      bus = std::make_unique<test::memory_log>();
    else
      bus = std::make_unique<bus::embedded_log>(*db);
    svc = std::make_unique<subscription_service>(*db, *bus, s);
  }
  ~fixture() { db->close(); }

  void append(const std::string& topic, int32_t partition, const std::string& value,
              bus::headers h) {
    bus->append({bus::message{topic, std::nullopt, value, std::move(h), partition}});
  }
  std::string create(const json& body) {
    auto r = svc->create(body);
    REQUIRE_MESSAGE(r.ok(), body.dump());
    return r->at("id").get<std::string>();
  }
  std::vector<json> pull(const std::string& id, std::size_t max = 100) {
    auto s = svc->open(id);
    REQUIRE(s.ok());
    positions from = svc->acked(id);
    std::vector<json> out;
    for (const auto& text : svc->collect(*s, from, max)) out.push_back(json::parse(text));
    return out;
  }
};

}  // namespace

TEST_CASE("service: create, list, get, delete; refusals store nothing; the cap") {
  service_settings st;
  st.max_subscriptions = 2;
  fixture f(st);
  auto bad = f.svc->create(json{{"topic", "a"}, {"selector", "eventType ="}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().status == 400);
  CHECK(bad.err().message.rfind("selector: expected", 0) == 0);
  CHECK(f.svc->list() == json::array());

  auto created = f.svc->create(json{{"topic", "ehealth-careplan.>"}, {"selector", "eventType = 'create'"}});
  REQUIRE(created.ok());
  CHECK(created->at("topic") == "ehealth-careplan.>");
  CHECK(created->at("selector") == "eventType = 'create'");
  CHECK(created->at("delivery") == json{{"mode", "pull"}});
  CHECK(created->at("created").get<std::string>().size() == 24);
  std::string id = created->at("id");
  auto got = f.svc->get(id);
  REQUIRE(got.ok());
  CHECK(*got == *created);
  f.create(json{{"topic", "x"}});
  auto third = f.svc->create(json{{"topic", "y"}});
  REQUIRE_FALSE(third.ok());
  CHECK(third.err().status == 409);
  CHECK(f.svc->list().size() == 2);

  CHECK(f.svc->remove(id).ok());
  auto again = f.svc->remove(id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.err().status == 404);
  CHECK(f.svc->get(id).err().status == 404);
  CHECK(f.svc->open(id).err().status == 404);
  CHECK(f.svc->list().size() == 1);
}

TEST_CASE("service: collect delivers matching records after the subscription, in order") {
  fixture f;
  f.bus->create_topic("ehealth-careplan", 2);
  f.bus->create_topic("ehealth-careplan.subject", 1);
  f.append("ehealth-careplan.subject", 0, R"({"old":true})", {{"eventType", "create"}});
  std::string sub = f.create(json{{"topic", "ehealth-careplan.>"}, {"selector", "eventType = 'create'"}});
  std::string all = f.create(json{{"topic", "ehealth-careplan"}});

  f.append("ehealth-careplan.subject", 0, R"({"n":1})", {{"eventType", "create"}});
  f.append("ehealth-careplan.subject", 0, R"({"n":2})", {{"eventType", "update"}});
  f.append("ehealth-careplan.subject", 0, "not json", {{"eventType", "create"}});
  f.append("ehealth-careplan", 1, R"({"n":3})", {{"eventType", "create"}});
  // A topic created after the subscription is picked up, from its start.
  f.bus->create_topic("ehealth-careplan.goal", 1);
  f.append("ehealth-careplan.goal", 0, R"({"n":4})", {{"eventType", "create"}, {"x", "y"}});

  auto ev = f.pull(sub);
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].at("topic") == "ehealth-careplan.goal");
  CHECK(ev[0].at("offset") == 0);
  CHECK(ev[0].at("headers") == json{{"eventType", "create"}, {"x", "y"}});
  CHECK(ev[0].at("body") == json{{"n", 4}});
  CHECK(ev[1].at("topic") == "ehealth-careplan.subject");
  CHECK(ev[1].at("offset") == 1);  // offset 0 was there before the subscription
  CHECK(ev[1].at("body") == json{{"n", 1}});
  CHECK(ev[2].at("offset") == 3);  // offset 2 does not match
  CHECK(ev[2].at("body") == "not json");

  // The literal pattern sees only its own topic.
  auto ev2 = f.pull(all);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].at("topic") == "ehealth-careplan");
  CHECK(ev2[0].at("partition") == 1);

  // Unacked: the same events again. max limits the answer.
  CHECK(f.pull(sub) == ev);
  auto one = f.pull(sub, 1);
  REQUIRE(one.size() == 1);
  CHECK(one[0] == ev[0]);

  // Ack of the second event's cursor: only the third comes again.
  CHECK(f.svc->ack(sub, json{{"cursor", ev[1].at("cursor")}}).ok());
  auto rest = f.pull(sub);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0] == ev[2]);
  // An older cursor acked late does not move back.
  CHECK(f.svc->ack(sub, json{{"cursor", ev[0].at("cursor")}}).ok());
  CHECK(f.pull(sub) == rest);
  CHECK(f.svc->ack(sub, json{{"cursor", ev[2].at("cursor")}}).ok());
  CHECK(f.pull(sub).empty());
}

TEST_CASE("service: ack refuses hostile or foreign cursors and unknown subscriptions") {
  fixture f;
  f.bus->create_topic("a", 1);
  f.bus->create_topic("b", 1);
  std::string sub = f.create(json{{"topic", "a"}});
  CHECK(f.svc->ack(sub, json{{"x", 1}}).err().status == 400);
  CHECK(f.svc->ack(sub, json{{"cursor", 5}}).err().status == 400);
  CHECK(f.svc->ack(sub, json{{"cursor", "%%%"}}).err().status == 400);
  positions foreign{{{"b", 0}, 7}};
  auto r = f.svc->ack(sub, json{{"cursor", encode_cursor(foreign)}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message == "cursor: not a cursor of this subscription's events");
  CHECK(f.svc->acked(sub) == positions{{{"a", 0}, 0}});
  CHECK(f.svc->ack("nope", json{{"cursor", ""}}).err().status == 404);
}

TEST_CASE("service: event_text renders one line, keys in order, as the JSON tree would") {
  bus::record r;
  r.topic = "ehealth-careplan";
  r.partition = 1;
  r.offset = 7;
  r.value = R"({"b":1, "a":[true]})";
  r.hdrs = {{"z", "1"}, {"eventType", "create"}, {"z", "2\"q"}};
  auto text = event_text(r, "abc");
  CHECK(text == R"({"body":{"b":1, "a":[true]},"cursor":"abc","headers":{"eventType":"create","z":"2\"q"},"offset":7,"partition":1,"topic":"ehealth-careplan"})");
  auto parsed = json::parse(text);
  CHECK(parsed.at("body") == json{{"a", {true}}, {"b", 1}});
  // JSON on several lines is written again on one; text that is not JSON becomes a string;
  // bytes that are not UTF-8 are replaced, never passed on.
  r.value = "{\n\"n\": 1\n}";
  CHECK(json::parse(event_text(r, "c")).at("body") == json{{"n", 1}});
  CHECK(event_text(r, "c").find('\n') == std::string::npos);
  r.value = "line one\nline two";
  CHECK(json::parse(event_text(r, "c")).at("body") == "line one\nline two");
  CHECK(event_text(r, "c").find('\n') == std::string::npos);
  r.value = "[1,";
  CHECK(json::parse(event_text(r, "c")).at("body") == "[1,");
  // Nested past json.max_depth on several lines (any Kafka client can write it): the text, not
  // a tree whose dump would recurse 100,000 frames deep.
  r.value = std::string(100000, '[') + "\n" + std::string(100000, ']');
  CHECK(json::parse(event_text(r, "c")).at("body") == r.value);
  r.hdrs = {{"h", "\xff"}};
  CHECK(json::parse(event_text(r, "c")).at("headers").at("h") == "\xEF\xBF\xBD");
}

namespace {
// A partition of a fake bus for the record cache: offsets 0..end-1, at most `batch` per fetch;
// counts the fetches.
struct fake_partition {
  int64_t end = 0;
  int64_t batch = 1000;
  int fetches = 0;
  std::vector<bus::record> operator()(int64_t from) {
    ++fetches;
    std::vector<bus::record> out;
    for (int64_t o = from; o < end && o < from + batch; ++o) {
      bus::record r;
      r.offset = o;
      r.value = std::to_string(o);
      out.push_back(r);
    }
    return out;
  }
};

std::vector<int64_t> offsets(const std::vector<record_cache::entry>& v) {
  std::vector<int64_t> out;
  for (const auto& e : v) out.push_back(e->rec.offset);
  return out;
}
}  // namespace

TEST_CASE("record cache: one bus read serves every reader of a partition; capped") {
  record_cache cache(4);
  fake_partition part{10, 3};
  auto fetch = std::ref(part);
  partition_key p{"t", 0};
  CHECK(offsets(cache.read(p, 2, 10, fetch)) == std::vector<int64_t>{2, 3, 4});
  CHECK(part.fetches == 1);
  // Another reader of the same records: no bus read; max is kept.
  CHECK(offsets(cache.read(p, 3, 10, fetch)) == std::vector<int64_t>{3, 4});
  CHECK(offsets(cache.read(p, 2, 2, fetch)) == std::vector<int64_t>{2, 3});
  CHECK(part.fetches == 1);
  // The continuation is read from the bus and joins the cache; the oldest go past the cap.
  CHECK(offsets(cache.read(p, 5, 10, fetch)) == std::vector<int64_t>{5, 6, 7});
  CHECK(part.fetches == 2);
  CHECK(offsets(cache.read(p, 4, 10, fetch)) == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(part.fetches == 2);
  CHECK(offsets(cache.read(p, 2, 10, fetch)) == std::vector<int64_t>{2, 3, 4});  // evicted
  CHECK(part.fetches == 3);
  // Nothing new: the bus is asked (records may have come), and the answer is empty.
  part.end = 5;
  CHECK(cache.read(p, 5, 10, fetch).empty());
  CHECK(part.fetches == 4);
  // Another partition is its own.
  CHECK(offsets(cache.read({"t", 1}, 0, 10, fetch)) == std::vector<int64_t>{0, 1, 2});
  CHECK(part.fetches == 5);
}

TEST_CASE("record cache: a read that found nothing is not repeated until records may have come") {
  record_cache cache(4);
  fake_partition part{2};
  auto fetch = std::ref(part);
  partition_key p{"t", 0};
  CHECK(offsets(cache.read(p, 0, 10, fetch)) == std::vector<int64_t>{0, 1});
  CHECK(part.fetches == 1);
  // No watch counts the partition's arrivals yet: every read at the end asks the bus.
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(part.fetches == 3);
  // A watch holds the counter (wake = add 1, then wake its reader).
  auto arrivals = cache.arrivals(p);
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(part.fetches == 4);
  // Every other reader at the end: no bus read.
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(part.fetches == 4);
  // Appended, the watches not called yet: not seen yet (the readers' wakes come after).
  part.end = 4;
  CHECK(cache.read(p, 2, 10, fetch).empty());
  CHECK(part.fetches == 4);
  arrivals->fetch_add(1);
  CHECK(offsets(cache.read(p, 2, 10, fetch)) == std::vector<int64_t>{2, 3});
  CHECK(part.fetches == 5);
  CHECK(offsets(cache.read(p, 0, 10, fetch)) == std::vector<int64_t>{0, 1, 2, 3});  // cached
  CHECK(cache.read(p, 4, 10, fetch).empty());
  CHECK(part.fetches == 6);
  // A new watch of the partition: what came before it is read.
  part.end = 5;
  auto again = cache.arrivals(p);
  CHECK(again == arrivals);
  CHECK(offsets(cache.read(p, 4, 10, fetch)) == std::vector<int64_t>{4});
  CHECK(part.fetches == 7);
  // A reader elsewhere than the end asks the bus as before.
  CHECK(cache.read(p, 7, 10, fetch).empty());
  CHECK(part.fetches == 8);
  CHECK(cache.read(p, 7, 10, fetch).empty());
  CHECK(part.fetches == 9);
}
