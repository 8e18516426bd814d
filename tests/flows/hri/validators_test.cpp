// Record validators, topic names and the invalid-record message.
#include "flows/hri/domain.hpp"

#include "core/json_fast.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;

// Every check is made twice: with simdjson's fast path (core/json_fast) and with nlohmann's
// SAX pass alone. The outcome, error text included, must be the same.
std::optional<std::string> both_paths(const hri::validator& v, const std::string& value) {
  medflow::json_fast::set_enabled(false);
  auto slow = v.check(value);
  medflow::json_fast::set_enabled(true);
  auto fast = v.check(value);
  CHECK(fast == slow);
  return fast;
}

std::optional<std::string> fhir(const std::string& value) {
  static const auto v = hri::make_validator("fhir");
  return both_paths(*v, value);
}

std::optional<std::string> json_check(const std::string& value) {
  static const auto v = hri::make_validator("json");
  return both_paths(*v, value);
}

const std::string valid_bundle = R"({
  "resourceType": "Bundle", "id": "b1", "type": "collection",
  "entry": [
    {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "name": [{"family": "X"}]}},
    {"resource": {"resourceType": "Observation", "code": {"coding": [{"code": "1"}]},
                  "contained": [{"resourceType": 5}]}},
    {"request": {"method": "GET"}}
  ]
})";

}  // namespace

TEST_CASE("validator kinds") {
  CHECK(hri::known_validator("passthrough"));
  CHECK(hri::known_validator("json"));
  CHECK(hri::known_validator("fhir"));
  CHECK_FALSE(hri::known_validator("xml"));
  CHECK_FALSE(hri::known_validator("FHIR"));
  CHECK(hri::make_validator("xml") == nullptr);
}

TEST_CASE("passthrough accepts anything") {
  auto v = hri::make_validator("passthrough");
  CHECK_FALSE(v->check(""));
  CHECK_FALSE(v->check("\xff\xfe garbage {"));
  CHECK_FALSE(v->check(std::string("\0\1\2", 3)));
}

TEST_CASE("json: any JSON value, else the parser's message") {
  CHECK_FALSE(json_check(R"({"a":[1,2,{"b":null}]})"));
  CHECK_FALSE(json_check("42"));
  CHECK_FALSE(json_check(" \"text\" "));
  CHECK(json_check("{\"a\":") ==
        "parse error at line 1, column 6: syntax error while parsing value - unexpected end of "
        "input; expected '[', '{', or a literal");
  CHECK(json_check("not json") ==
        "parse error at line 1, column 2: syntax error while parsing value - invalid literal; "
        "last read: 'no'");
  CHECK(json_check("{} extra")->find("parse error at line 1, column 4") == 0);
  CHECK(json_check(""));
  CHECK(json_check("\"\xff\""));  // invalid UTF-8
}

TEST_CASE("json and fhir: a record nested deeper than json.max_depth is invalid, naming it") {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(json_check(deep) == "nesting deeper than 256 levels (json.max_depth)");
  CHECK(fhir(deep) == "nesting deeper than 256 levels (json.max_depth)");
  CHECK_FALSE(json_check(std::string(256, '[') + std::string(256, ']')));
  CHECK(json_check(std::string(257, '[') + std::string(257, ']')) ==
        "nesting deeper than 256 levels (json.max_depth)");
  std::string deep_bundle = R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":)"
                            R"({"resourceType":"Patient","x":)" +
                            std::string(300, '[') + std::string(300, ']') + "}}]}";
  CHECK(fhir(deep_bundle) == "nesting deeper than 256 levels (json.max_depth)");
}

TEST_CASE("fhir: a valid R4 Bundle of every type") {
  CHECK_FALSE(fhir(valid_bundle));
  for (std::string type : {"document", "message", "transaction", "transaction-response", "batch",
                           "batch-response", "history", "searchset", "collection"}) {
    CHECK_FALSE(fhir(R"({"resourceType":"Bundle","type":")" + type + R"("})"));
  }
  CHECK_FALSE(fhir(R"({"type":"batch","entry":[],"resourceType":"Bundle"})"));
}

TEST_CASE("fhir: what is not a Bundle") {
  CHECK(fhir("not json")->find("parse error at line 1") == 0);
  CHECK(fhir(R"(["Bundle"])") == "the record is not a JSON object");
  CHECK(fhir(R"("Bundle")") == "the record is not a JSON object");
  CHECK(fhir(R"({"type":"collection"})") == "resourceType is missing");
  CHECK(fhir(R"({"resourceType":1,"type":"collection"})") == "resourceType is not a string");
  CHECK(fhir(R"({"resourceType":"Patient","id":"p1"})") ==
        "resourceType is 'Patient', expected 'Bundle'");
  CHECK(fhir(R"({"resourceType":"Bundle"})") == "type is missing");
  CHECK(fhir(R"({"resourceType":"Bundle","type":["batch"]})") == "type is not a string");
  CHECK(fhir(R"({"resourceType":"Bundle","type":"bogus"})") ==
        "type 'bogus' is not a Bundle type (document, message, transaction, "
        "transaction-response, batch, batch-response, history, searchset, collection)");
  // Nested resourceType / type fields are not the Bundle's.
  CHECK(fhir(R"({"meta":{"resourceType":"Bundle","type":"batch"}})") == "resourceType is missing");
}

TEST_CASE("fhir: entry problems name the path") {
  auto bundle = [](const std::string& entry) {
    return R"({"resourceType":"Bundle","type":"batch","entry":)" + entry + "}";
  };
  CHECK(fhir(bundle(R"({"resource":{}})")) == "entry is not an array");
  CHECK(fhir(bundle("null")) == "entry is not an array");
  CHECK(fhir(bundle(R"([{"resource":{"resourceType":"Patient"}},"x"])")) ==
        "entry[1] is not an object");
  CHECK(fhir(bundle(R"([{},{},{"resource":[]}])")) == "entry[2].resource is not an object");
  CHECK(fhir(bundle(R"([{},{},{"resource":{"id":"x","meta":{"resourceType":"P"}}}])")) ==
        "entry[2].resource.resourceType is missing");
  CHECK(fhir(bundle(R"([{"resource":{"resourceType":null}}])")) ==
        "entry[0].resource.resourceType is not a string");
  CHECK(fhir(bundle(R"([{"resource":{"resourceType":""}}])")) ==
        "entry[0].resource.resourceType is empty");
  // The first problem in document order is the one reported; the Bundle's own fields first.
  CHECK(fhir(bundle(R"([7,{"resource":1}])")) == "entry[0] is not an object");
  CHECK(fhir(R"({"entry":[7],"resourceType":"Bundle","type":"x"})") ==
        "type 'x' is not a Bundle type (document, message, transaction, transaction-response, "
        "batch, batch-response, history, searchset, collection)");
}

TEST_CASE("fhir and json: a repeated key's last value counts, as nlohmann's SAX pass sees it") {
  CHECK_FALSE(fhir(R"({"resourceType":"Patient","resourceType":"Bundle","type":"batch"})"));
  CHECK(fhir(R"({"resourceType":"Bundle","type":"batch","type":"nope"})") ==
        "type 'nope' is not a Bundle type (document, message, transaction, transaction-response, "
        "batch, batch-response, history, searchset, collection)");
  // Every "entry" is looked into, in order; whether it is an array is the last one's.
  CHECK(fhir(R"({"resourceType":"Bundle","type":"batch","entry":[1],"entry":[{}]})") ==
        "entry[0] is not an object");
  CHECK(fhir(R"({"resourceType":"Bundle","type":"batch","entry":[],"entry":{}})") ==
        "entry is not an array");
  CHECK_FALSE(fhir(R"({"resourceType":"Bundle","type":"batch","entry":{},"entry":[]})"));
  CHECK_FALSE(fhir(R"({"resourceType":"Bundle","type":"batch","entry":[)"
                   R"({"resource":1,"resource":{"resourceType":"P"}}]})"));
  CHECK(fhir(R"({"resourceType":"Bundle","type":"batch","entry":[)"
             R"({"resource":{"resourceType":"P"},"resource":{"id":"x"}}]})") ==
        "entry[0].resource.resourceType is missing");
  CHECK(fhir(R"({"resourceType":"Bundle","type":"batch","entry":[)"
             R"({"resource":{"resourceType":"P","resourceType":""}}]})") ==
        "entry[0].resource.resourceType is empty");
  // Escaped names are the names they spell.
  CHECK_FALSE(fhir(R"({"resource\u0054ype":"Bundle","\u0074ype":"batch"})"));
  CHECK(fhir(R"({"resourceType":"Bund\u006ce\u0000","type":"batch"})") ==
        "resourceType is 'Bundle" + std::string(1, '\0') + "', expected 'Bundle'");
}

TEST_CASE("fhir and json: what simdjson refuses and nlohmann takes is nlohmann's to decide") {
  // An integer beyond 64 bits, a byte-order mark, bytes after a NUL (nlohmann's end of text).
  CHECK_FALSE(fhir(R"({"resourceType":"Bundle","type":"batch","n":123456789012345678901234567890})"));
  CHECK_FALSE(fhir("\xef\xbb\xbf{\"resourceType\":\"Bundle\",\"type\":\"batch\"}"));
  CHECK_FALSE(json_check(std::string("{}\0garbage", 10)));
  CHECK(json_check("1e400")->find("number overflow") != std::string::npos);
  // A record larger than the fast path's cap (64 KiB) is checked by the SAX pass alone.
  std::string big = R"({"resourceType":"Bundle","type":"batch","entry":[)";
  for (int i = 0; i < 2000; ++i) big += R"({"resource":{"resourceType":"Observation","id":"o"}},)";
  big += R"({"resource":{"resourceType":""}}]})";
  REQUIRE(big.size() > 64 * 1024);
  CHECK(fhir(big) == "entry[2000].resource.resourceType is empty");
}

TEST_CASE("topic names") {
  auto t = hri::topics_of("t1", "dataint.qualifier");
  CHECK(t.in == "ingest.t1.dataint.qualifier.in");
  CHECK(t.notification == "ingest.t1.dataint.qualifier.notification");
  CHECK(t.out == "ingest.t1.dataint.qualifier.out");
  CHECK(t.invalid == "ingest.t1.dataint.qualifier.invalid");
  CHECK(hri::notification_topic("ingest.t1.s1.in") == "ingest.t1.s1.notification");
  CHECK(hri::notification_topic("ingest.08.claims.phil.collins") ==
        "ingest.08.claims.phil.collins.notification");  // appended even without ".in"
  CHECK(hri::notification_topic("awesomeTopic.in") == "awesomeTopic.notification");
  CHECK(hri::output_topic("ingest.t1.s1.in", "out") == "ingest.t1.s1.out");
  CHECK(hri::output_topic("ingest.t1.s1.q.in", ".invalid") == "ingest.t1.s1.q.invalid");
}

TEST_CASE("invalid record message") {
  CHECK(
      hri::invalid_record(std::string("b1"), "ingest.t1.s1.in", 2, 1234, "bad").dump() ==
      R"({"batchId":"b1","failure":"bad","offset":1234,"partition":2,"topic":"ingest.t1.s1.in"})");
  CHECK(hri::invalid_record(std::nullopt, "ingest.t1.s1.in", 0, 7,
                            "Bad Message - No header or batchId node")
            .dump() ==
        R"({"failure":"Bad Message - No header or batchId node","offset":7,"partition":0,)"
        R"("topic":"ingest.t1.s1.in"})");
}
