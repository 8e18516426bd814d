// The internal topic of HRI batches across instances (hri.batch_records): a judged record and
// an action survive the trip through it whole, and an entry that is not ours is recognised.
#include "flows/hri/batch_topic.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
namespace bus = medflow::bus;

// What a consumer of the internal topic reads back for a message appended to it.
bus::record read_back(const bus::message& m, int64_t offset = 7) {
  bus::record r;
  r.topic = m.topic;
  r.partition = 3;
  r.offset = offset;
  r.key = m.key;
  r.value = m.value;
  r.hdrs = m.hdrs;
  return r;
}

hri::judged_record judged(std::optional<std::string> key, std::optional<std::string> failure) {
  hri::judged_record j;
  j.tenant = "t1";
  j.batch_id = "b1";
  j.rec.topic = "ingest.t1.s1.in";
  j.rec.partition = 5;
  j.rec.offset = 1234;
  j.rec.timestamp_ms = 1600000000123;
  j.rec.key = std::move(key);
  j.rec.value = R"({"resourceType":"Bundle"})";
  // The record's own headers, one of them named like ours.
  j.rec.hdrs = {{"batchId", "b1"}, {"hri.kind", "action"}, {"hri.source.key", "forged"}};
  j.validator_failure = std::move(failure);
  return j;
}

}  // namespace

TEST_CASE("hri batch topic: a judged record is keyed by its batch and read back whole") {
  for (auto key : {std::optional<std::string>("patient-1"), std::optional<std::string>()}) {
    for (auto failure : {std::optional<std::string>(), std::optional<std::string>("bad bundle")}) {
      auto j = judged(key, failure);
      auto m = hri::record_entry(j);
      CHECK(m.topic == "hri.batch_records");
      CHECK(m.key == std::optional<std::string>("t1/b1"));
      CHECK(m.value == j.rec.value);
      auto e = hri::decode_entry(read_back(m));
      auto* back = std::get_if<hri::judged_record>(&e);
      REQUIRE(back);
      CHECK(back->tenant == "t1");
      CHECK(back->batch_id == std::optional<std::string>("b1"));
      CHECK(back->rec.topic == "ingest.t1.s1.in");
      CHECK(back->rec.partition == 5);
      CHECK(back->rec.offset == 1234);
      CHECK(back->rec.timestamp_ms == 1600000000123);
      CHECK(back->rec.key == key);
      CHECK(back->rec.value == j.rec.value);
      CHECK(back->rec.hdrs == j.rec.hdrs);  // its own headers only, forged ones kept as they were
      CHECK(back->validator_failure == failure);
    }
  }
}

TEST_CASE("hri batch topic: an action travels with its request id and caller") {
  hri::action_entry a;
  a.tenant = "t1";
  a.batch_id = "b1";
  a.request_id = "req-1";
  a.request = {hri::action::fail, std::nullopt, 10, 2, std::string("stopped"), nullptr};
  a.who = {"integrator-1", {hri::scope_integrator, hri::scope_internal}, false};
  auto m = hri::action_message(a);
  CHECK(m.key == std::optional<std::string>("t1/b1"));
  auto e = hri::decode_entry(read_back(m));
  auto* back = std::get_if<hri::action_entry>(&e);
  REQUIRE(back);
  CHECK(back->tenant == "t1");
  CHECK(back->batch_id == "b1");
  CHECK(back->request_id == "req-1");
  CHECK(back->request.a == hri::action::fail);
  CHECK_FALSE(back->request.expected_record_count);
  CHECK(back->request.actual_record_count == std::optional<int64_t>(10));
  CHECK(back->request.invalid_record_count == std::optional<int64_t>(2));
  CHECK(back->request.failure_message == std::optional<std::string>("stopped"));
  CHECK(back->request.metadata.is_null());
  CHECK(back->who.sub == "integrator-1");
  CHECK(back->who.scopes == a.who.scopes);
  CHECK_FALSE(back->who.auth_disabled);

  a.request = {hri::action::send_complete, 3, std::nullopt, std::nullopt, std::nullopt,
               nlohmann::json{{"k", "v"}}};
  auto e2 = hri::decode_entry(read_back(hri::action_message(a)));
  auto* sc = std::get_if<hri::action_entry>(&e2);
  REQUIRE(sc);
  CHECK(sc->request.a == hri::action::send_complete);
  CHECK(sc->request.expected_record_count == std::optional<int64_t>(3));
  CHECK(sc->request.metadata == nlohmann::json{{"k", "v"}});
}

TEST_CASE("hri batch topic: an entry that is not ours is an error text, never a crash") {
  bus::record r;
  r.topic = "hri.batch_records";
  r.value = "x";
  CHECK(std::holds_alternative<std::string>(hri::decode_entry(r)));  // no hri.kind
  r.hdrs = {{"hri.kind", "other"}};
  CHECK(std::holds_alternative<std::string>(hri::decode_entry(r)));
  r.hdrs = {{"hri.kind", "action"}};
  CHECK(std::holds_alternative<std::string>(hri::decode_entry(r)));  // not JSON
  r.value = R"({"action":"sendComplete","tenant":"t1"})";
  CHECK(std::holds_alternative<std::string>(hri::decode_entry(r)));  // fields missing
  // Nested past json.max_depth: refused by the parser, not walked.
  r.value = "{\"metadata\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto deep = hri::decode_entry(r);
  REQUIRE(std::holds_alternative<std::string>(deep));
  CHECK(std::get<std::string>(deep).find("nesting deeper than") != std::string::npos);
  // A record entry whose position is missing or out of range, or whose header count lies.
  auto m = hri::record_entry(judged(std::nullopt, std::nullopt));
  auto good = read_back(m);
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"hri.source.partition", "-1"},
           {"hri.source.partition", "99999999999"},
           {"hri.source.offset", "x"},
           {"hri.headers", "100"},
           {"hri.batch", ""}}) {
    auto bad = good;
    bad.hdrs.insert(bad.hdrs.end() - 1, {name, value});  // before hri.kind, after ours
    CAPTURE(name);
    CAPTURE(value);
    CHECK(std::holds_alternative<std::string>(hri::decode_entry(bad)));
  }
}
