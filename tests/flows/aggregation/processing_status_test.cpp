// Processing status records, the aggregated answer and reading a source's answer.
#include "flows/aggregation/agp_test_data.hpp"

#include "support/time_zone.hpp"

#include <doctest/doctest.h>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
using json = nlohmann::json;
using kind = ag::source_result::kind;

constexpr int64_t now = 1709634030000;        // 2024-03-05T10:20:30Z
constexpr int64_t cached_at = 1709633700000;  // 2024-03-05T10:15:00Z
const std::string now_ts = "20240305102030";
const std::string cached_ts = "20240305101500";

ag::source_result result_of(kind k, std::string text = {}, int status = 0) {
  ag::source_result r;
  r.k = k;
  r.error_text = std::move(text);
  r.http_status = status;
  return r;
}

ag::source_result answered(json items) {
  auto r = result_of(kind::answered);
  r.items = std::move(items);
  return r;
}

ag::source_result with_fallback(ag::source_result r) {
  r.cache_fallback = true;
  r.cached_at_ms = cached_at;
  r.items = json::array({{{"id", "cached"}}});
  return r;
}

json no_data(const std::string& code, const std::string& text) {
  return {{"logicalAddress", "HSA-ID-4"},
          {"statusCode", "NoDataSynchFailed"},
          {"isResponseFromCache", false},
          {"isResponseInSynch", false},
          {"lastUnsuccessfulSynch", now_ts},
          {"lastUnsuccessfulSynchError",
           {{"causingAgent", "virtualization_platform"}, {"code", code}, {"text", text}}}};
}

json cache_synch_failed(const std::string& code, const std::string& text) {
  return {{"logicalAddress", "HSA-ID-4"},
          {"statusCode", "DataFromCacheSynchFailed"},
          {"isResponseFromCache", true},
          {"isResponseInSynch", false},
          {"lastSuccessfulSynch", cached_ts},
          {"lastUnsuccessfulSynch", now_ts},
          {"lastUnsuccessfulSynchError",
           {{"causingAgent", "virtualization_platform"}, {"code", code}, {"text", text}}}};
}

const json from_source = {{"logicalAddress", "HSA-ID-4"},
                          {"statusCode", "DataFromSource"},
                          {"isResponseFromCache", false},
                          {"isResponseInSynch", true},
                          {"lastSuccessfulSynch", now_ts}};

// The expected times above are UTC: the records are written in the process's TZ.
json record(const ag::source_result& r) {
  medflow::test::time_zone utc{"UTC0"};
  return ag::processing_status_record("HSA-ID-4", r, now);
}

std::vector<ag::source_call> calls_to(std::initializer_list<const char*> addresses) {
  std::vector<ag::source_call> out;
  for (const char* a : addresses) out.push_back({a, a, agp::url_of(a)});
  return out;
}

}  // namespace

TEST_CASE("processing status: DataFromSource") {
  CHECK(record(answered(json::array())) == from_source);
  // A fallback entry offered for a call that succeeded changes nothing.
  CHECK(record(with_fallback(answered(json::array()))) == from_source);
  // Cache flags without the time the entry was stored are not used.
  auto r = answered(json::array());
  r.from_cache = true;
  CHECK(record(r) == from_source);
}

TEST_CASE("processing status: DataFromCache") {
  auto r = answered(json::array({1}));
  r.from_cache = true;
  r.cached_at_ms = cached_at;
  const json expected = {{"logicalAddress", "HSA-ID-4"},
                         {"statusCode", "DataFromCache"},
                         {"isResponseFromCache", true},
                         {"isResponseInSynch", true},
                         {"lastSuccessfulSynch", cached_ts}};
  CHECK(record(r) == expected);
  // No call was made, so the kind does not matter.
  r.k = kind::not_answered;
  CHECK(record(r) == expected);
}

TEST_CASE("processing status: NoDataSynchFailed for every failure") {
  CHECK(record(result_of(kind::timeout, "Read timed out after 4000 ms")) ==
        no_data("504", "Read timed out after 4000 ms"));
  CHECK(record(result_of(kind::timeout)) == no_data("504", "Read timed out"));
  CHECK(record(result_of(kind::fault, "Invalid Id: 192011189228", 500)) ==
        no_data("500", "Invalid Id: 192011189228"));
  CHECK(record(result_of(kind::fault, "Service Unavailable", 503)) ==
        no_data("503", "Service Unavailable"));
  CHECK(record(result_of(kind::fault, "", 502)) == no_data("502", "HTTP 502"));
  CHECK(record(result_of(kind::fault, "no status")) == no_data("500", "no status"));
  CHECK(record(result_of(kind::failed, "Connection refused")) ==
        no_data("43000", "Connection refused"));
  CHECK(record(result_of(kind::failed)) == no_data("43000", "Unknown error"));
  CHECK(record(result_of(kind::not_answered, "ignored")) == no_data("43000", "Unknown error"));
  // A fallback without the time the entry was stored is not used.
  auto r = result_of(kind::timeout, "t");
  r.cache_fallback = true;
  CHECK(record(r) == no_data("504", "t"));
}

TEST_CASE("processing status: DataFromCacheSynchFailed for every failure with a fallback") {
  CHECK(record(with_fallback(result_of(kind::timeout, "Read timed out"))) ==
        cache_synch_failed("504", "Read timed out"));
  CHECK(record(with_fallback(result_of(kind::fault, "Invalid Id", 500))) ==
        cache_synch_failed("500", "Invalid Id"));
  CHECK(record(with_fallback(result_of(kind::failed, "the source's answer is not JSON: x"))) ==
        cache_synch_failed("43000", "the source's answer is not JSON: x"));
  CHECK(record(with_fallback(result_of(kind::not_answered))) ==
        cache_synch_failed("43000", "Unknown error"));
}

TEST_CASE("aggregate: items concatenated and one record per call, in request-list order") {
  auto s = agp::lab_service();
  auto calls = calls_to({"HSA-ID-4", "HSA-ID-5", "HSA-ID-6", "HSA-ID-1"});
  auto cached = answered(json::array({{{"id", "c1"}}}));
  cached.from_cache = true;
  cached.cached_at_ms = cached_at;
  std::vector<ag::source_result> results = {answered(json::array({{{"id", "a1"}}, {{"id", "a2"}}})),
                                            result_of(kind::timeout, "Read timed out"), cached,
                                            with_fallback(result_of(kind::fault, "boom", 500))};
  json out = ag::aggregate(s, calls, results, now);
  CHECK(out.size() == 2);
  CHECK(out["laboratoryOrderOutcome"] ==
        json::array({{{"id", "a1"}}, {{"id", "a2"}}, {{"id", "c1"}}, {{"id", "cached"}}}));
  const json& ps = out["processingStatus"];
  REQUIRE(ps.size() == 4);
  CHECK(ps[0]["logicalAddress"] == "HSA-ID-4");
  CHECK(ps[0]["statusCode"] == "DataFromSource");
  CHECK(ps[1]["logicalAddress"] == "HSA-ID-5");
  CHECK(ps[1]["statusCode"] == "NoDataSynchFailed");
  CHECK(ps[2]["logicalAddress"] == "HSA-ID-6");
  CHECK(ps[2]["statusCode"] == "DataFromCache");
  CHECK(ps[3]["logicalAddress"] == "HSA-ID-1");
  CHECK(ps[3]["statusCode"] == "DataFromCacheSynchFailed");
}

TEST_CASE("aggregate: a failed source's items are never included") {
  auto r = result_of(kind::failed, "bad");
  r.items = json::array({1, 2});
  json out = ag::aggregate(agp::lab_service(), calls_to({"HSA-ID-4"}), {r}, now);
  CHECK(out["laboratoryOrderOutcome"] == json::array());
}

TEST_CASE("processing status: times in the process's local time (TZ), as ProcessingStatusUtil") {
  medflow::test::time_zone tz{medflow::test::stockholm};  // CET in March: UTC+1
  auto fresh = ag::processing_status_record("HSA-ID-4", answered(json::array()), now);
  CHECK(fresh["lastSuccessfulSynch"] == "20240305112030");
  auto failed = ag::processing_status_record(
      "HSA-ID-4", with_fallback(result_of(kind::timeout, "Read timed out")), now);
  CHECK(failed["lastSuccessfulSynch"] == "20240305111500");
  CHECK(failed["lastUnsuccessfulSynch"] == "20240305112030");
  auto none = ag::processing_status_record("HSA-ID-4", result_of(kind::failed, "x"), now);
  CHECK(none["lastUnsuccessfulSynch"] == "20240305112030");
  // Summer time: UTC+2.
  constexpr int64_t midsummer = 1719230400000;  // 2024-06-24T12:00:00Z
  CHECK(ag::processing_status_record("HSA-ID-4", answered(json::array()), midsummer)
            ["lastSuccessfulSynch"] == "20240624140000");
}

TEST_CASE("aggregate: a call without a result is 'Unknown error' 43000 (aggregate timeout)") {
  medflow::test::time_zone utc{"UTC0"};
  // TC4 in AA_AggregateTimeoutIT: 1 and 2 answer, 3 is still out.
  auto calls = calls_to({"HSA-ID-1", "HSA-ID-2", "HSA-ID-3"});
  std::vector<ag::source_result> results = {answered(json::array({"1002"})),
                                            answered(json::array({"1003", "1004"}))};
  json out = ag::aggregate(agp::lab_service(), calls, results, now);
  CHECK(out["laboratoryOrderOutcome"] == json::array({"1002", "1003", "1004"}));
  REQUIRE(out["processingStatus"].size() == 3);
  json expected = no_data("43000", "Unknown error");
  expected["logicalAddress"] = "HSA-ID-3";
  CHECK(out["processingStatus"][2] == expected);

  // A result left not_answered by the caller reads the same.
  results.push_back(result_of(kind::not_answered));
  CHECK(ag::aggregate(agp::lab_service(), calls, results, now)["processingStatus"][2] == expected);
}

TEST_CASE("aggregate: zero calls give an empty list and no records (TC2)") {
  json out = ag::aggregate(agp::lab_service(), {}, {}, now);
  CHECK(out ==
        json{{"laboratoryOrderOutcome", json::array()}, {"processingStatus", json::array()}});
}

TEST_CASE("parse_source_answer: the list field of a JSON object") {
  auto s = agp::lab_service();
  auto r = ag::parse_source_answer(s, R"({"laboratoryOrderOutcome":[{"id":1},{"id":2}],"x":1})");
  REQUIRE(r.ok());
  CHECK(r.value() == json::parse(R"([{"id":1},{"id":2}])"));
  r = ag::parse_source_answer(s, R"({"result":{"resultCode":"OK"}})");
  REQUIRE(r.ok());
  CHECK(r.value() == json::array());
  r = ag::parse_source_answer(s, R"({"laboratoryOrderOutcome":null})");
  REQUIRE(r.ok());
  CHECK(r.value() == json::array());
}

TEST_CASE("parse_source_answer: garbage and wrong types") {
  auto s = agp::lab_service();
  auto msg = [&](const std::string& body) {
    auto r = ag::parse_source_answer(s, body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 502);
    CHECK(r.err().code == "bad_gateway");
    return r.err().message;
  };
  CHECK(msg("<soap:Envelope/>").rfind("the source's answer is not JSON: ", 0) == 0);
  CHECK(msg("").rfind("the source's answer is not JSON: ", 0) == 0);
  CHECK(msg(R"({"laboratoryOrderOutcome":[)").rfind("the source's answer is not JSON: ", 0) == 0);
  CHECK(msg("[1,2]") == "the source's answer is not a JSON object");
  CHECK(msg("\"text\"") == "the source's answer is not a JSON object");
  CHECK(msg(R"({"laboratoryOrderOutcome":{"id":1}})") ==
        "the source's answer has laboratoryOrderOutcome that is not an array");
  CHECK(msg(R"({"laboratoryOrderOutcome":"none"})") ==
        "the source's answer has laboratoryOrderOutcome that is not an array");
  // A source is outside: its answer gets the limits of any JSON from outside.
  CHECK(msg(R"({"laboratoryOrderOutcome":[{"value":1e999}]})") ==
        "the source's answer: number out of range at laboratoryOrderOutcome[0].value: 1e999");
  std::string deep = R"({"laboratoryOrderOutcome":[)" + std::string(59000, '[') +
                     std::string(59000, ']') + "]}";
  CHECK(msg(deep) == "the source's answer: nesting deeper than 256 levels (json.max_depth) at "
                     "line 1, column 282");
}
