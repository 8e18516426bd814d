// HRI's 400 texts for request bodies and path parameters: Echo's binder (syntax, EOF, type
// mismatches) and go-playground/validator's sorted "invalid request arguments" list.
#include "flows/hri/domain.hpp"
#include "flows/hri/go_json.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
using hri::action;

const std::string tenant = "tenant_33-z";
const std::string batch_id = "batch7j3";
const std::string good_batch = R"({"name":"b","topic":"ingest.t.s.in","dataType":"claims"})";

template <class T>
std::string bad(const medflow::result<T>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 400);
  CHECK(r.err().code == "bad_request");
  return r.err().message;
}

std::string create_error(const std::string& body, const std::string& t = tenant) {
  return bad(hri::parse_create_batch(t, body));
}

const std::string required_three =
    "invalid request arguments:\n"
    "- dataType (json field in request body) is a required field\n"
    "- name (json field in request body) is a required field\n"
    "- topic (json field in request body) is a required field";

const std::string injection = R"(must not contain the following characters: "=<>[]{})";

}  // namespace

TEST_CASE("create batch: a complete body binds, invalidThreshold 0 or absent means -1") {
  auto r = hri::parse_create_batch(
      tenant, R"({"name":"n","topic":"ingest.t.s.in","dataType":"claims","invalidThreshold":10,
                  "metadata":{"compression":"gzip","n":20},"status":"ignored"})");
  REQUIRE(r.ok());
  CHECK(r->name == "n");
  CHECK(r->topic == "ingest.t.s.in");
  CHECK(r->data_type == "claims");
  CHECK(r->invalid_threshold == 10);
  CHECK(r->metadata == hri::json({{"compression", "gzip"}, {"n", 20}}));
  CHECK(hri::parse_create_batch(tenant, good_batch)->invalid_threshold == -1);
  CHECK(hri::parse_create_batch(tenant, good_batch)->metadata.is_null());
  auto zero = hri::parse_create_batch(
      tenant, R"({"name":"b","topic":"t","dataType":"d","invalidThreshold":0})");
  CHECK(zero->invalid_threshold == -1);
  auto negative = hri::parse_create_batch(
      tenant, R"({"name":"b","topic":"t","dataType":"d","invalidThreshold":-3})");
  CHECK(negative->invalid_threshold == -3);         // HRI has no minimum in code
  CHECK(hri::parse_create_batch(good_batch).ok());  // the body-only form skips the tenant
}

TEST_CASE("create batch: missing fields, empty body and null are the sorted required errors") {
  CHECK(create_error("{}") == required_three);
  CHECK(create_error("") == required_three);  // Echo binds nothing for an empty body
  CHECK(create_error("null") == required_three);
  CHECK(create_error(R"({"name":null,"topic":"","dataType":null})") == required_three);
  CHECK(create_error(R"({"name":"n"})") ==
        "invalid request arguments:\n"
        "- dataType (json field in request body) is a required field\n"
        "- topic (json field in request body) is a required field");
}

TEST_CASE("create batch: injection characters in name, topic and dataType") {
  CHECK(
      create_error(R"({"name":"b","topic":"t","dataType":"invalidBodyParam{}][][??##^^%**!!"})") ==
      "invalid request arguments:\n- dataType (json field in request body) " + injection);
  for (std::string c : {"\\\"", "=", "<", ">", "[", "]", "{", "}"}) {
    CHECK(create_error(R"({"name":"a)" + c + R"(b","topic":"t","dataType":"d"})") ==
          "invalid request arguments:\n- name (json field in request body) " + injection);
  }
  CHECK(create_error(R"({"name":"a=","topic":"t<","dataType":"d"})") ==
        "invalid request arguments:\n- name (json field in request body) " + injection +
            "\n- topic (json field in request body) " + injection);
}

TEST_CASE("create batch: tenant id errors join the body's, sorted") {
  CHECK(create_error(good_batch, "BAD-93TENant-1") ==
        "invalid request arguments:\n- tenantId (url path parameter) may only contain lower-case "
        "alpha-numeric chars and the following 2 special chars: '-', '_'");
  CHECK(create_error(good_batch, "invalid$$??##^^%**!!") ==
        "invalid request arguments:\n- tenantId (url path parameter) may only contain lower-case "
        "alpha-numeric chars and the following 2 special chars: '-', '_'");
  CHECK(create_error(good_batch, "") ==
        "invalid request arguments:\n- tenantId (url path parameter) is a required field");
  CHECK(create_error(R"({"name":"n","dataType":"d"})", "") ==
        "invalid request arguments:\n"
        "- tenantId (url path parameter) is a required field\n"
        "- topic (json field in request body) is a required field");
}

TEST_CASE("create batch: JSON type mismatches name Go's types; the first one wins") {
  CHECK(create_error(R"({"id":"","name":9858,"topic":false,"dataType":"claims"})") ==
        R"(invalid request param "name": expected type string, but received type number)");
  CHECK(create_error(R"({"name":"n","topic":false,"dataType":"claims"})") ==
        R"(invalid request param "topic": expected type string, but received type bool)");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":["x"]})") ==
        R"(invalid request param "dataType": expected type string, but received type array)");
  CHECK(create_error(R"({"name":{},"topic":"t","dataType":"d"})") ==
        R"(invalid request param "name": expected type string, but received type object)");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","invalidThreshold":"10"})") ==
        R"(invalid request param "invalidThreshold": expected type int, but received type string)");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","invalidThreshold":1.5})") ==
        "invalid request param \"invalidThreshold\": expected type int, but received type "
        "number 1.5");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","invalidThreshold":1e3})") ==
        "invalid request param \"invalidThreshold\": expected type int, but received type "
        "number 1e3");
  CHECK(create_error(
            R"({"name":"n","topic":"t","dataType":"d","invalidThreshold":99999999999999999999})") ==
        "invalid request param \"invalidThreshold\": expected type int, but received type number "
        "99999999999999999999");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","metadata":100})") ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type number");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","metadata":"x"})") ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type string");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","metadata":[1]})") ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type array");
  CHECK(create_error(R"({"name":"n","topic":"t","dataType":"d","metadata":true})") ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type bool");
  // A mismatch earlier in the document wins even when a later duplicate would fit.
  CHECK(create_error(R"({"name":5,"name":"n","topic":"t","dataType":"d"})") ==
        R"(invalid request param "name": expected type string, but received type number)");
  // Binding errors come before validation errors.
  CHECK(create_error(R"({"name":5})") ==
        R"(invalid request param "name": expected type string, but received type number)");
}

TEST_CASE("create batch: Go's field matching, duplicates and strings") {
  auto folded = hri::parse_create_batch(tenant, R"({"NAME":"a","Topic":"b","datatype":"c"})");
  REQUIRE(folded.ok());
  CHECK(folded->name == "a");
  CHECK(folded->data_type == "c");
  auto exact =
      hri::parse_create_batch(tenant, R"({"NAME":"a","name":"x","topic":"b","dataType":"c"})");
  CHECK(exact->name == "x");
  auto merged = hri::parse_create_batch(
      tenant, R"({"name":"n","topic":"t","dataType":"d","metadata":{"a":1},"metadata":{"b":2}})");
  CHECK(merged->metadata == hri::json({{"a", 1}, {"b", 2}}));  // Go reuses the map
  auto reset = hri::parse_create_batch(
      tenant, R"({"name":"n","topic":"t","dataType":"d","metadata":{"a":1},"metadata":null})");
  CHECK(reset->metadata.is_null());
  auto empty_meta =
      hri::parse_create_batch(tenant, R"({"name":"n","topic":"t","dataType":"d","metadata":{}})");
  CHECK(empty_meta->metadata == hri::json::object());
  auto utf8 = hri::parse_create_batch(
      tenant,
      "{\"name\":\"b\xe4\xb8\xad\\u6587\\ud83d\\ude00\",\"topic\":\"t\",\"dataType\":\"d\"}");
  CHECK(utf8->name == "b\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80");
  auto broken = hri::parse_create_batch(
      tenant, "{\"name\":\"a\xff\\ud800z\",\"topic\":\"t\",\"dataType\":\"d\"}");
  CHECK(broken->name == "a\xef\xbf\xbd\xef\xbf\xbdz");  // Go's U+FFFD for both
  auto deep = hri::parse_create_batch(
      tenant,
      R"({"name":"n","topic":"t","dataType":"d","metadata":{"a":[1,{"b":[[],{}]},"x"],"c":1.5}})");
  CHECK(deep->metadata.dump() == R"({"a":[1,{"b":[[],{}]},"x"],"c":1.5})");
  // json.Decoder reads one value: what follows it is never looked at.
  CHECK(hri::parse_create_batch(tenant, good_batch + " trailing garbage {").ok());
}

TEST_CASE("create batch: bodies that are not JSON give Echo's texts") {
  CHECK(create_error(R"({"name": "x")") == "unable to parse request body due to unexpected EOF");
  CHECK(create_error("{") == "unable to parse request body due to unexpected EOF");
  CHECK(create_error(R"({"name":"x)") == "unable to parse request body due to unexpected EOF");
  CHECK(create_error("  -") == "unable to parse request body due to unexpected EOF");
  CHECK(create_error(" \n\t ") == "code=400, message=EOF, internal=EOF");
  auto syntax = [](int offset, const std::string& m) {
    return "code=400, message=Syntax error: offset=" + std::to_string(offset) + ", error=" + m +
           ", internal=" + m;
  };
  CHECK(create_error("{x}") ==
        syntax(2, "invalid character 'x' looking for beginning of object key string"));
  CHECK(create_error("x") == syntax(1, "invalid character 'x' looking for beginning of value"));
  CHECK(create_error(R"({"a" 1})") == syntax(6, "invalid character '1' after object key"));
  CHECK(create_error(R"({"a":1 "b":2})") ==
        syntax(8, "invalid character '\"' after object key:value pair"));
  CHECK(create_error(R"({"a":[1 2]})") == syntax(9, "invalid character '2' after array element"));
  CHECK(create_error(R"({"a":trux})") ==
        syntax(9, "invalid character 'x' in literal true (expecting 'e')"));
  CHECK(create_error(R"({"a":nul})") ==
        syntax(9, "invalid character '}' in literal null (expecting 'l')"));
  CHECK(create_error(R"({"a":fals})") ==
        syntax(10, "invalid character '}' in literal false (expecting 'e')"));
  CHECK(create_error(R"({"a":"\q"})") == syntax(8, "invalid character 'q' in string escape code"));
  CHECK(create_error(R"({"a":"\u12x4"})") ==
        syntax(11, "invalid character 'x' in \\u hexadecimal character escape"));
  CHECK(create_error("{\"a\":\"x\ny\"}") == syntax(8, "invalid character '\\n' in string literal"));
  CHECK(create_error(R"({"a":01})") ==
        syntax(7, "invalid character '1' after object key:value pair"));
  CHECK(create_error(R"({"a":1.})") ==
        syntax(8, "invalid character '}' after decimal point in numeric literal"));
  CHECK(create_error(R"({"a":-})") == syntax(7, "invalid character '}' in numeric literal"));
  CHECK(create_error(R"({"a":1e})") ==
        syntax(8, "invalid character '}' in exponent of numeric literal"));
  CHECK(create_error("{'a':1}") ==
        syntax(2, "invalid character '\\'' looking for beginning of object key string"));
  CHECK(create_error("\xef\xbb\xbf{}") ==
        syntax(1, "invalid character '\xc3\xaf' looking for beginning of value"));
  CHECK(create_error("\x01") ==
        syntax(1, "invalid character '\\x01' looking for beginning of value"));
  // Go stops at 10000 levels; medflowd at json.max_depth (256 by default), at the bracket.
  CHECK(create_error(std::string(10001, '[')) ==
        syntax(257, "nesting deeper than 256 levels (json.max_depth)"));
  std::string deep_metadata = R"({"name":"b","metadata":)" + std::string(300, '[');
  CHECK(create_error(deep_metadata) ==
        syntax(23 + 256, "nesting deeper than 256 levels (json.max_depth)"));
  CHECK(create_error(std::string(60000, '[') + std::string(60000, ']')) ==
        syntax(257, "nesting deeper than 256 levels (json.max_depth)"));
}

TEST_CASE("go_json: the nesting limit is exact") {
  namespace go = hri::go;
  std::string three = R"({"m":{"a":[1]}})";
  CHECK(std::holds_alternative<go::document>(go::decode(three, 3)));
  CHECK(std::get<std::string>(go::decode(three, 2)) ==
        "code=400, message=Syntax error: offset=11, error=nesting deeper than 2 levels "
        "(json.max_depth), internal=nesting deeper than 2 levels (json.max_depth)");
  auto doc = std::get<go::document>(go::decode(R"({"m":)" + std::string(255, '[') +
                                               std::string(255, ']') + "}"));
  REQUIRE(doc.members.size() == 1);
  CHECK(doc.members[0].k == go::kind::array);
}

TEST_CASE("create batch: a top-level value that is not an object gives Echo's raw text") {
  auto raw = [](const std::string& got, int offset) {
    return "code=400, message=Unmarshal type error: expected=model.CreateBatch, got=" + got +
           ", field=, offset=" + std::to_string(offset) + ", internal=json: cannot unmarshal " +
           got + " into Go value of type model.CreateBatch";
  };
  CHECK(create_error("[1]") == raw("array", 1));
  CHECK(create_error("  [1]") == raw("array", 3));
  CHECK(create_error(R"("invalid body")") == raw("string", 14));
  CHECK(create_error("123") == raw("number", 3));
  CHECK(create_error("true") == raw("bool", 4));
}

TEST_CASE("sendComplete: counts, the deprecated recordCount and metadata") {
  auto r =
      hri::parse_action(action::send_complete, tenant, batch_id, R"({"expectedRecordCount": 100})");
  REQUIRE(r.ok());
  CHECK(r->a == action::send_complete);
  CHECK(r->expected_record_count == 100);
  CHECK(r->metadata.is_null());
  auto old =
      hri::parse_action(action::send_complete, tenant, batch_id,
                        R"({"recordCount": 100, "metadata":{"field1":"field1","field2":10}})");
  CHECK(old->expected_record_count == 100);
  CHECK(old->metadata == hri::json({{"field1", "field1"}, {"field2", 10}}));
  auto both = hri::parse_action(action::send_complete, tenant, batch_id,
                                R"({"expectedRecordCount": 5, "recordCount": 7})");
  CHECK(both->expected_record_count == 5);
  auto zero = hri::parse_action(action::send_complete, R"({"expectedRecordCount": 0})");
  CHECK(zero->expected_record_count == 0);  // the code allows 0 (the spec says 1)
}

TEST_CASE("sendComplete: 400 texts") {
  auto err = [](const std::string& body, const std::string& t = tenant,
                const std::string& id = batch_id) {
    return bad(hri::parse_action(action::send_complete, t, id, body));
  };
  const std::string neither =
      "invalid request arguments:\n"
      "- expectedRecordCount (json field in request body) must be present if recordCount (json "
      "field in request body) is not present\n"
      "- recordCount (json field in request body) must be present if expectedRecordCount (json "
      "field in request body) is not present";
  CHECK(err("{}") == neither);
  CHECK(err("") == neither);
  CHECK(err(R"({"expectedRecordCount":null})") == neither);
  CHECK(err(R"({"expectedRecordCount": -100})") ==
        "invalid request arguments:\n- expectedRecordCount (json field in request body) must be 0 "
        "or greater");
  CHECK(err(R"({"recordCount": -1})") ==
        "invalid request arguments:\n- recordCount (json field in request body) must be 0 or "
        "greater");
  CHECK(err(R"({"expectedRecordCount": "100"})") ==
        "invalid request param \"expectedRecordCount\": expected type int, but received type "
        "string");
  CHECK(err(R"({"expectedRecordCount": 100})", "", "") ==
        "invalid request arguments:\n"
        "- id (url path parameter) is a required field\n"
        "- tenantId (url path parameter) is a required field");
  CHECK(err(R"({"expectedRecordCount": 1, "metadata": []})") ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type array");
  CHECK(err("[]") ==
        "code=400, message=Unmarshal type error: expected=model.SendCompleteRequest, got=array, "
        "field=, offset=1, internal=json: cannot unmarshal array into Go value of type "
        "model.SendCompleteRequest");
}

TEST_CASE("terminate: optional metadata; 400 texts") {
  auto none = hri::parse_action(action::terminate, tenant, batch_id, "");
  REQUIRE(none.ok());
  CHECK(none->metadata.is_null());
  auto meta = hri::parse_action(action::terminate, tenant, batch_id,
                                R"({"metadata":{"field1":"field1","field2":10}})");
  CHECK(meta->metadata == hri::json({{"field1", "field1"}, {"field2", 10}}));
  CHECK(bad(hri::parse_action(action::terminate, tenant, batch_id, R"({"metadata": 100})")) ==
        "invalid request param \"metadata\": expected type map[string]interface {}, but received "
        "type number");
  CHECK(bad(hri::parse_action(action::terminate, "", "", "")) ==
        "invalid request arguments:\n"
        "- id (url path parameter) is a required field\n"
        "- tenantId (url path parameter) is a required field");
  CHECK(bad(hri::parse_action(action::terminate, tenant, batch_id, "{\"metadata\":")) ==
        "unable to parse request body due to unexpected EOF");
}

TEST_CASE("processingComplete: counts required, 0 allowed; 400 texts") {
  auto r = hri::parse_action(action::processing_complete, tenant, batch_id,
                             R"({"actualRecordCount":0,"invalidRecordCount":0})");
  REQUIRE(r.ok());
  CHECK(r->actual_record_count == 0);
  CHECK(r->invalid_record_count == 0);
  auto err = [](const std::string& body, const std::string& id = batch_id) {
    return bad(hri::parse_action(action::processing_complete, tenant, id, body));
  };
  CHECK(err(R"({"actualRecordCount":15})") ==
        "invalid request arguments:\n- invalidRecordCount (json field in request body) is a "
        "required field");
  CHECK(err(R"({"invalidRecordCount":15})") ==
        "invalid request arguments:\n- actualRecordCount (json field in request body) is a "
        "required field");
  CHECK(err(R"({"actualRecordCount": -100,"invalidRecordCount":10})") ==
        "invalid request arguments:\n- actualRecordCount (json field in request body) must be 0 "
        "or greater");
  CHECK(
      err(R"({"actualRecordCount": "1","invalidRecordCount":10})") ==
      R"(invalid request param "actualRecordCount": expected type int, but received type string)");
  CHECK(
      err(R"({"invalidRecordCount": "1","actualRecordCount":10})") ==
      R"(invalid request param "invalidRecordCount": expected type int, but received type string)");
  CHECK(err(R"({"invalidRecordCount":10})", "") ==
        "invalid request arguments:\n"
        "- actualRecordCount (json field in request body) is a required field\n"
        "- id (url path parameter) is a required field");
}

TEST_CASE("fail: counts and failureMessage required; 400 texts") {
  auto r = hri::parse_action(
      action::fail, tenant, batch_id,
      R"({"actualRecordCount":100,"invalidRecordCount":10,"failureMessage":"a bad batch"})");
  REQUIRE(r.ok());
  CHECK(r->actual_record_count == 100);
  CHECK(r->invalid_record_count == 10);
  CHECK(r->failure_message == "a bad batch");
  auto err = [](const std::string& body) {
    return bad(hri::parse_action(action::fail, tenant, batch_id, body));
  };
  CHECK(err(R"({"actualRecordCount":100,"invalidRecordCount":10,"failureMessage":""})") ==
        "invalid request arguments:\n- failureMessage (json field in request body) is a required "
        "field");
  CHECK(err("{}") ==
        "invalid request arguments:\n"
        "- actualRecordCount (json field in request body) is a required field\n"
        "- failureMessage (json field in request body) is a required field\n"
        "- invalidRecordCount (json field in request body) is a required field");
  CHECK(
      err(R"({"actualRecordCount":"100","invalidRecordCount":10,"failureMessage":"m"})") ==
      R"(invalid request param "actualRecordCount": expected type int, but received type string)");
  CHECK(
      err(R"({"actualRecordCount":1,"invalidRecordCount":1,"failureMessage":7})") ==
      R"(invalid request param "failureMessage": expected type string, but received type number)");
  CHECK(err("5") ==
        "code=400, message=Unmarshal type error: expected=model.FailRequest, got=number, field=, "
        "offset=1, internal=json: cannot unmarshal number into Go value of type model.FailRequest");
}

TEST_CASE("path checks: tenant, batch and stream ids") {
  CHECK_FALSE(hri::check_tenant_id("tenant_33-z"));
  CHECK(hri::check_tenant_id("Tenant")->message ==
        "invalid request arguments:\n- tenantId (url path parameter) may only contain lower-case "
        "alpha-numeric chars and the following 2 special chars: '-', '_'");
  CHECK(hri::check_tenant_id("t.1")->status == 400);
  CHECK(hri::check_tenant_id("")->message ==
        "invalid request arguments:\n- tenantId (url path parameter) is a required field");
  CHECK_FALSE(hri::check_stream_id("data-int_1.qualifier"));
  const std::string stream_text =
      "invalid request arguments:\n- id (url path parameter) may only contain lower-case "
      "alpha-numeric characters, no more than one '.', and the following 2 special chars: '-', "
      "'_'";
  CHECK(hri::check_stream_id("a.b.c")->message == stream_text);
  CHECK(hri::check_stream_id("INVALID")->message == stream_text);
  CHECK(hri::check_stream_id("")->message ==
        "invalid request arguments:\n- id (url path parameter) is a required field");
  // The read endpoints only require the ids (HRI lets any tenant text reach the store).
  CHECK_FALSE(hri::check_tenant_present("ANY"));
  CHECK_FALSE(hri::check_batch_ids("ANY", "x"));
  CHECK(hri::check_batch_ids("", "")->message ==
        "invalid request arguments:\n"
        "- id (url path parameter) is a required field\n"
        "- tenantId (url path parameter) is a required field");
  CHECK(hri::check_tenant_present("")->message ==
        "invalid request arguments:\n- tenantId (url path parameter) is a required field");
  CHECK_FALSE(hri::check_stream_ids("ANY", "s.q"));
  CHECK(hri::check_stream_ids("", "a.b.c")->message ==
        "invalid request arguments:\n"
        "- id (url path parameter) may only contain lower-case alpha-numeric characters, no more "
        "than one '.', and the following 2 special chars: '-', '_'\n"
        "- tenantId (url path parameter) is a required field");
}

TEST_CASE("streams: a valid body, defaults and medflow's validator field") {
  auto r =
      hri::parse_stream("tenant_id", "stream_id", R"({"numPartitions":1,"retentionMs":3600000})");
  REQUIRE(r.ok());
  CHECK(r->num_partitions == 1);
  CHECK(r->retention_ms == 3600000);
  CHECK_FALSE(r->retention_bytes);
  CHECK_FALSE(r->cleanup_policy);
  CHECK(r->validator == "fhir");
  auto full =
      hri::parse_stream("t", "s.q",
                        R"({"numPartitions":99,"retentionMs":2592000000,"retentionBytes":1073741824,
          "cleanupPolicy":"compact","segmentMs":300000,"segmentBytes":536870912,
          "segmentIndexBytes":102400,"validator":"passthrough"})");
  REQUIRE(full.ok());
  CHECK(full->num_partitions == 99);
  CHECK(full->retention_ms == 2592000000);
  CHECK(full->retention_bytes == 1073741824);
  CHECK(full->cleanup_policy == "compact");
  CHECK(full->segment_ms == 300000);
  CHECK(full->segment_bytes == 536870912);
  CHECK(full->segment_index_bytes == 102400);
  CHECK(full->validator == "passthrough");
  CHECK(hri::parse_stream(R"({"numPartitions":1,"retentionMs":3600000,"validator":"json"})")
            ->validator == "json");
  CHECK(
      hri::parse_stream(R"({"numPartitions":1,"retentionMs":3600000,"validator":""})")->validator ==
      "fhir");
}

TEST_CASE("streams: 400 texts for fields, ranges, types and ids") {
  auto err = [](const std::string& body, const std::string& t = "tenant_id",
                const std::string& s = "stream_id") { return bad(hri::parse_stream(t, s, body)); };
  CHECK(err(R"({"cleanupPolicy": "bogus"})") ==
        "invalid request arguments:\n"
        "- cleanupPolicy (json field in request body) must be one of [delete compact]\n"
        "- numPartitions (json field in request body) is a required field\n"
        "- retentionMs (json field in request body) is a required field");
  CHECK(err("{") == "unable to parse request body due to unexpected EOF");
  auto one = [&](const std::string& extra) {
    return err(R"({"numPartitions":1,"retentionMs":3600000,)" + extra + "}");
  };
  auto line = [](const std::string& field, const std::string& m) {
    return "invalid request arguments:\n- " + field + " (json field in request body) " + m;
  };
  CHECK(err(R"({"numPartitions":0,"retentionMs":3600000})") ==
        line("numPartitions", "must be 1 or greater"));
  CHECK(err(R"({"numPartitions":100,"retentionMs":3600000})") ==
        line("numPartitions", "must be 99 or less"));
  CHECK(err(R"({"numPartitions":1,"retentionMs":3599999})") ==
        line("retentionMs", "must be 3,600,000 or greater"));
  CHECK(err(R"({"numPartitions":1,"retentionMs":2592000001})") ==
        line("retentionMs", "must be 2,592,000,000 or less"));
  CHECK(one(R"("retentionBytes":0)") == line("retentionBytes", "must be 10,485,760 or greater"));
  CHECK(one(R"("retentionBytes":1073741825)") ==
        line("retentionBytes", "must be 1,073,741,824 or less"));
  CHECK(one(R"("segmentMs":299999)") == line("segmentMs", "must be 300,000 or greater"));
  CHECK(one(R"("segmentMs":2592000001)") == line("segmentMs", "must be 2,592,000,000 or less"));
  CHECK(one(R"("segmentBytes":10485759)") == line("segmentBytes", "must be 10,485,760 or greater"));
  CHECK(one(R"("segmentBytes":536870913)") == line("segmentBytes", "must be 536,870,912 or less"));
  CHECK(one(R"("segmentIndexBytes":102399)") ==
        line("segmentIndexBytes", "must be 102,400 or greater"));
  CHECK(one(R"("segmentIndexBytes":104857601)") ==
        line("segmentIndexBytes", "must be 104,857,600 or less"));
  CHECK(one(R"("cleanupPolicy":"")") == line("cleanupPolicy", "must be one of [delete compact]"));
  CHECK(one(R"("validator":"xml")") == line("validator", "must be one of [passthrough json fhir]"));
  CHECK(err(R"({"numPartitions":"1","retentionMs":3600000})") ==
        R"(invalid request param "numPartitions": expected type int64, but received type string)");
  CHECK(err(R"({"numPartitions":1,"retentionMs":1.5})") ==
        R"(invalid request param "retentionMs": expected type int, but received type number 1.5)");
  CHECK(one(R"("cleanupPolicy":1)") ==
        R"(invalid request param "cleanupPolicy": expected type string, but received type number)");
  CHECK(one(R"("validator":true)") ==
        R"(invalid request param "validator": expected type string, but received type bool)");
  CHECK(err(R"({"numPartitions":1,"retentionMs":3600000})", "INVALID") ==
        "invalid request arguments:\n- tenantId (url path parameter) may only contain lower-case "
        "alpha-numeric chars and the following 2 special chars: '-', '_'");
  CHECK(err(R"({"numPartitions":1,"retentionMs":3600000})", "t", "INVALID") ==
        "invalid request arguments:\n- id (url path parameter) may only contain lower-case "
        "alpha-numeric characters, no more than one '.', and the following 2 special chars: '-', "
        "'_'");
  CHECK(err(R"({"numPartitions":0})", "t", "") ==
        "invalid request arguments:\n"
        "- id (url path parameter) is a required field\n"
        "- numPartitions (json field in request body) must be 1 or greater\n"
        "- retentionMs (json field in request body) is a required field");
}
