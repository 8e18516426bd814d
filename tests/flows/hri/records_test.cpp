// What happens to the records of an input topic: judged on the consumer's side, taken by their
// batch (forwarded, invalid, dropped, counted, redeliveries recognised), or dead-lettered.
#include "flows/hri/records.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
namespace bus = medflow::bus;
using nlohmann::json;

const std::string fhir_bundle = R"({"resourceType":"Bundle","type":"collection"})";

bus::record input(int32_t partition, int64_t offset, std::string value,
                  std::optional<std::string> batch_id = std::string("b1")) {
  bus::record r;
  r.topic = "ingest.t1.s1.in";
  r.partition = partition;
  r.offset = offset;
  r.key = "k" + std::to_string(offset);
  r.value = std::move(value);
  r.hdrs = {{"trace", "x"}};
  if (batch_id) r.hdrs.emplace_back("batchId", *batch_id);
  return r;
}

hri::judged_record judged(const bus::record& r) {
  return hri::judge("t1", *hri::make_validator("fhir"), r);
}

std::optional<hri::batch> open_batch(hri::status s = hri::status::started) {
  hri::batch b;
  b.id = "b1";
  b.tenant = "t1";
  b.topic = "ingest.t1.s1.in";
  b.st = s;
  return b;
}

}  // namespace

TEST_CASE("judge: the batchId header names the batch; only a batch's records are validated") {
  auto ok = judged(input(0, 1, fhir_bundle));
  CHECK(ok.tenant == "t1");
  CHECK(ok.batch_id == "b1");
  CHECK_FALSE(ok.validator_failure);
  CHECK(ok.rec.offset == 1);
  auto bad = judged(input(0, 2, "{}"));
  REQUIRE(bad.validator_failure);
  CHECK_FALSE(bad.validator_failure->empty());
  auto orphan = judged(input(0, 3, "{}", std::nullopt));
  CHECK_FALSE(orphan.batch_id);
  CHECK_FALSE(orphan.validator_failure);  // not validated: invalid whatever it holds
}

TEST_CASE("take_record: a valid record is forwarded to .out as it came and counted") {
  auto b = open_batch();
  auto step = hri::take_record(b, judged(input(2, 7, fhir_bundle)));
  CHECK_FALSE(step.redelivered);
  REQUIRE(step.output);
  CHECK(step.output->topic == "ingest.t1.s1.out");
  CHECK(step.output->key == "k7");
  CHECK(step.output->value == fhir_bundle);
  CHECK(step.output->hdrs == bus::headers{{"trace", "x"}, {"batchId", "b1"}});
  CHECK_FALSE(step.output->partition);
  CHECK(step.batch_changed);
  CHECK(step.counted);
  CHECK(b->valid_count == 1);
  CHECK(b->invalid_count == 0);
  CHECK(b->seen_offsets.at("ingest.t1.s1.in/2") == 7);
}

TEST_CASE("take_record: an invalid record goes to .invalid with its position and is counted") {
  auto b = open_batch(hri::status::send_completed);
  auto j = judged(input(0, 4, "{}"));
  auto step = hri::take_record(b, j);
  REQUIRE(step.output);
  CHECK(step.output->topic == "ingest.t1.s1.invalid");
  CHECK_FALSE(step.output->key);
  CHECK(step.output->hdrs == bus::headers{{"batchId", "b1"}});
  CHECK(json::parse(step.output->value) == json{{"batchId", "b1"},
                                                {"topic", "ingest.t1.s1.in"},
                                                {"partition", 0},
                                                {"offset", 4},
                                                {"failure", *j.validator_failure}});
  CHECK(step.counted);
  CHECK(b->invalid_count == 1);
}

TEST_CASE("take_record: a redelivered record changes nothing; other partitions count apart") {
  auto b = open_batch();
  hri::take_record(b, judged(input(0, 5, fhir_bundle)));
  auto again = hri::take_record(b, judged(input(0, 5, fhir_bundle)));
  CHECK(again.redelivered);
  CHECK_FALSE(again.output);
  CHECK_FALSE(again.batch_changed);
  CHECK_FALSE(again.counted);
  CHECK(hri::take_record(b, judged(input(0, 3, fhir_bundle))).redelivered);
  CHECK_FALSE(hri::take_record(b, judged(input(1, 0, fhir_bundle))).redelivered);
  CHECK(b->valid_count == 2);
}

TEST_CASE("take_record: finished batches drop or refuse records without counting them") {
  for (auto s : {hri::status::terminated, hri::status::failed}) {
    auto b = open_batch(s);
    auto step = hri::take_record(b, judged(input(0, 1, fhir_bundle)));
    CHECK_FALSE(step.output);     // dropped
    CHECK(step.batch_changed);    // the offset is still remembered
    CHECK_FALSE(step.counted);
  }
  auto done = open_batch(hri::status::completed);
  auto step = hri::take_record(done, judged(input(0, 1, fhir_bundle)));
  REQUIRE(step.output);
  CHECK(json::parse(step.output->value)["failure"] == "Bad Message - batchId is already completed");
  CHECK_FALSE(step.counted);
}

TEST_CASE("take_record: no batch (unknown id, or no batchId header) means .invalid, uncounted") {
  std::optional<hri::batch> none;
  auto unknown = hri::take_record(none, judged(input(0, 1, fhir_bundle, std::string("nope"))));
  REQUIRE(unknown.output);
  CHECK(json::parse(unknown.output->value)["failure"] == "Bad Message - Unknown batchId");
  CHECK(unknown.output->hdrs == bus::headers{{"batchId", "nope"}});
  CHECK_FALSE(unknown.batch_changed);
  auto orphan = hri::take_record(none, judged(input(0, 2, fhir_bundle, std::nullopt)));
  REQUIRE(orphan.output);
  auto v = json::parse(orphan.output->value);
  CHECK(v["failure"] == "Bad Message - No header or batchId node");
  CHECK_FALSE(v.contains("batchId"));
  CHECK(orphan.output->hdrs.empty());
}

TEST_CASE("dead_letter_output: processing failed, to .invalid, batchId kept") {
  auto m = hri::dead_letter_output(input(3, 9, "x"), "failed 3 attempts; last: boom");
  CHECK(m.topic == "ingest.t1.s1.invalid");
  CHECK(m.hdrs == bus::headers{{"batchId", "b1"}});
  CHECK(json::parse(m.value) ==
        json{{"batchId", "b1"},
             {"topic", "ingest.t1.s1.in"},
             {"partition", 3},
             {"offset", 9},
             {"failure", "Bad Message - processing failed: failed 3 attempts; last: boom"}});
  auto orphan = hri::dead_letter_output(input(0, 1, "x", std::nullopt), "boom");
  CHECK(orphan.hdrs.empty());
  CHECK_FALSE(json::parse(orphan.value).contains("batchId"));
}
