#include "core/json_schema.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using medflow::json_schema::schema;
using medflow::json_schema::violation;
using nlohmann::json;

namespace {

std::vector<violation> run(const json& schema_doc, const json& instance) {
  return schema::compile(schema_doc).validate(instance);
}

// Checks that exactly one violation came back and that it has these fields.
void check_single(const std::vector<violation>& found, const std::string& entry,
                  const std::string& rule, const std::string& description, const json& params) {
  REQUIRE(found.size() == 1);
  CHECK(found[0].entry == entry);
  CHECK(found[0].rule == rule);
  CHECK(found[0].description == description);
  CHECK(found[0].params == params);
}

std::string compile_error(const json& schema_doc) {
  try {
    schema::compile(schema_doc);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("json_schema: required reports the missing property's path and keeps validating") {
  const json s = {{"type", "object"},
                  {"required", {"name", "age"}},
                  {"properties", {{"age", {{"type", "integer"}}}}}};
  const auto found = run(s, {{"age", "x"}});
  REQUIRE(found.size() == 2);
  CHECK(found[0].entry == "$.name");
  CHECK(found[0].rule == "required");
  CHECK(found[0].description == "required property name was not present");
  CHECK(found[0].params == json::array());
  CHECK(found[1].entry == "$.age");
  CHECK(found[1].rule == "cast");
  CHECK(run(s, {{"name", "n"}, {"age", 3}}).empty());
}

TEST_CASE("json_schema: type mismatch is a cast violation with capitalised type names") {
  check_single(run({{"type", "string"}}, 5), "$", "cast",
               "type mismatch. Expected String but got Integer", json::array({"string"}));
  check_single(run({{"type", {"string", "null"}}}, 5), "$", "cast",
               "type mismatch. Expected String or Null but got Integer",
               json::array({"string", "null"}));
  check_single(run({{"type", "integer"}}, 1.5), "$", "cast",
               "type mismatch. Expected Integer but got Number", json::array({"integer"}));
  check_single(run({{"type", "object"}}, json::array()), "$", "cast",
               "type mismatch. Expected Object but got Array", json::array({"object"}));
  check_single(run({{"type", {"array", "boolean"}}}, json::object()), "$", "cast",
               "type mismatch. Expected Array or Boolean but got Object",
               json::array({"array", "boolean"}));
  check_single(run({{"type", "number"}}, nullptr), "$", "cast",
               "type mismatch. Expected Number but got Null", json::array({"number"}));
  check_single(run({{"type", "null"}}, true), "$", "cast",
               "type mismatch. Expected Null but got Boolean", json::array({"null"}));
  check_single(run({{"type", "boolean"}}, "true"), "$", "cast",
               "type mismatch. Expected Boolean but got String", json::array({"boolean"}));
}

TEST_CASE("json_schema: integer is any number without a fractional part; number takes both") {
  CHECK(run({{"type", "integer"}}, 3).empty());
  CHECK(run({{"type", "integer"}}, json::parse("2.0")).empty());
  CHECK(run({{"type", "integer"}}, json::parse("-7")).empty());
  CHECK(run({{"type", "integer"}}, json::parse("18446744073709551615")).empty());
  CHECK(run({{"type", "number"}}, 3).empty());
  CHECK(run({{"type", "number"}}, 3.25).empty());
  CHECK(run({{"type", {"null", "string"}}}, nullptr).empty());
  CHECK(run({{"type", {"null", "string"}}}, "x").empty());
}

TEST_CASE("json_schema: a type mismatch hides the value's other keywords") {
  const json s = {{"type", "string"}, {"minLength", 5}, {"enum", {"abcdef"}}};
  check_single(run(s, 3), "$", "cast", "type mismatch. Expected String but got Integer",
               json::array({"string"}));
  const json obj = {{"type", "object"}, {"required", {"a"}}, {"additionalProperties", false}};
  CHECK(run(obj, json::array({1})).size() == 1);
}

TEST_CASE("json_schema: keywords only apply to values of their own kind") {
  // eHealth's approval_create.json puts object keywords on an array-typed property.
  const json s = {{"minLength", 3}, {"minimum", 10}, {"minItems", 2}, {"required", {"a"}}};
  CHECK(run(s, "abc").empty());
  CHECK(run(s, 11).empty());
  CHECK(run(s, json::array({1, 2})).empty());
  CHECK(run(s, {{"a", 1}}).empty());
  CHECK(run(s, nullptr).empty());
  CHECK(run(s, "ab").size() == 1);
}

TEST_CASE("json_schema: enum is an inclusion violation carrying the allowed values") {
  const json s = {{"enum", {"active", "closed"}}};
  CHECK(run(s, "active").empty());
  check_single(run(s, "entered_in_error"), "$", "inclusion", "value is not allowed in enum",
               json::array({"active", "closed"}));
  check_single(run(s, 1), "$", "inclusion", "value is not allowed in enum",
               json::array({"active", "closed"}));
  const json mixed = {{"enum", {1, "a", nullptr, {{"k", {1, 2}}}}}};
  CHECK(run(mixed, json::parse("1.0")).empty());
  CHECK(run(mixed, nullptr).empty());
  CHECK(run(mixed, {{"k", {1, 2}}}).empty());
  CHECK(run(mixed, {{"k", {2, 1}}}).size() == 1);
  CHECK(run(mixed, "b").size() == 1);
  const json many = {{"enum", {"f", "e", "d", "c", "b", "a", "g", "h", "i", "j", "k"}}};
  CHECK(run(many, "a").empty());
  CHECK(run(many, "k").empty());
  CHECK(run(many, "z").size() == 1);
}

TEST_CASE("json_schema: pattern is a format violation naming the pattern; it searches") {
  const std::string time = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$";
  const json s = {{"type", "string"}, {"pattern", time}};
  CHECK(run(s, "23:59:59").empty());
  check_single(run(s, "24:00:00"), "$", "format", "string does not match pattern \"" + time + "\"",
               json::array({time}));
  // JSON Schema patterns are not implicitly anchored.
  CHECK(run({{"pattern", "b+"}}, "abbbc").empty());
  CHECK(run({{"pattern", "^b+"}}, "abbbc").size() == 1);
}

TEST_CASE("json_schema: patterns see characters, not bytes, in non-ASCII text") {
  CHECK(run({{"pattern", "^.{4}$"}}, "Київ").empty());
  CHECK(run({{"pattern", "^.{8}$"}}, "Київ").size() == 1);
  const json cyrillic = {{"pattern", "^[А-ЯІЇЄҐ][а-яіїєґ']+$"}};
  CHECK(run(cyrillic, "Шевченко").empty());
  CHECK(run(cyrillic, "шевченко").size() == 1);
  CHECK(run(cyrillic, "Shevchenko").size() == 1);
  CHECK(run({{"pattern", "^\\d+$"}}, "١٢").size() == 1);
}

TEST_CASE("json_schema: a pattern matches a long string without exhausting the stack") {
  const std::string long_text(300000, 'a');
  CHECK(run({{"pattern", "^[a-z]+$"}}, long_text).empty());
  CHECK(run({{"pattern", "^[a-z]+$"}}, long_text + "1").size() == 1);
}

TEST_CASE("json_schema: format date wants YYYY-MM-DD naming a real day") {
  const json s = {{"type", "string"}, {"format", "date"}};
  CHECK(run(s, "2024-02-29").empty());
  CHECK(run(s, "2000-02-29").empty());
  CHECK(run(s, "2023-12-31").empty());
  check_single(run(s, "2023-02-29"), "$", "date",
               "expected \"2023-02-29\" to be a valid ISO 8601 date",
               json::array({"^\\d{4}-\\d{2}-\\d{2}$"}));
  for (const char* bad : {"1900-02-29", "2023-04-31", "2023-13-01", "2023-00-10", "2023-01-00",
                          "2023-1-01", "20230101", "2023-01-01T00:00:00Z", "", "２０２３-01-01"}) {
    CAPTURE(bad);
    const auto found = run(s, bad);
    REQUIRE(found.size() == 1);
    CHECK(found[0].rule == "date");
  }
}

TEST_CASE("json_schema: format date-time is RFC 3339 with a zone and a real day") {
  const json s = {{"format", "date-time"}};
  for (const char* good :
       {"2023-05-01T10:00:00Z", "2023-05-01T10:00:00.123456Z", "2023-05-01T23:59:59+03:00",
        "2024-02-29T00:00:00-11:30", "2023-05-01t10:00:00z"}) {
    CAPTURE(good);
    CHECK(run(s, good).empty());
  }
  check_single(run(s, "2023-05-01T10:00:00"), "$", "datetime",
               "expected \"2023-05-01T10:00:00\" to be a valid ISO 8601 date-time", json::array());
  for (const char* bad : {"2023-02-30T10:00:00Z", "2023-05-01T24:00:00Z", "2023-05-01T10:60:00Z",
                          "2023-05-01 10:00:00Z", "2023-05-01T10:00Z", "2023-05-01T10:00:00.Z",
                          "2023-05-01T10:00:00+0300", "2023-05-01T10:00:00+24:00", "2023-05-01"}) {
    CAPTURE(bad);
    const auto found = run(s, bad);
    REQUIRE(found.size() == 1);
    CHECK(found[0].rule == "datetime");
  }
}

TEST_CASE("json_schema: formats uuid, email and uri; unknown formats are ignored") {
  const json uuid = {{"format", "uuid"}};
  CHECK(run(uuid, "4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0c3").empty());
  CHECK(run(uuid, "4AD1A7F6-E6A7-4C5E-8D8A-5B1A8BD1B0C3").empty());
  check_single(run(uuid, "4ad1a7f6e6a74c5e8d8a5b1a8bd1b0c3"), "$", "uuid",
               "expected \"4ad1a7f6e6a74c5e8d8a5b1a8bd1b0c3\" to be a valid UUID", json::array());
  CHECK(run(uuid, "4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0cg").size() == 1);

  const json email = {{"format", "email"}};
  CHECK(run(email, "doctor.house+ward@clinic.kyiv.ua").empty());
  check_single(run(email, "doctor@localhost"), "$", "email",
               "expected \"doctor@localhost\" to be an email address", json::array());
  for (const char* bad : {"@clinic.ua", "a..b@clinic.ua", "a@clinic..ua", "a@clinic.u", "a b@x.ua",
                          "a@.ua", "a@clinic.ua1", "a"}) {
    CAPTURE(bad);
    CHECK(run(email, bad).size() == 1);
  }

  const json uri = {{"format", "uri"}};
  CHECK(run(uri, "https://ehealth.gov.ua/api/episodes?page=1#top").empty());
  CHECK(run(uri, "urn:uuid:4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0c3").empty());
  check_single(run(uri, "/relative/path"), "$", "format",
               "expected \"/relative/path\" to be a valid URI", json::array());
  CHECK(run(uri, "http://host/a b").size() == 1);
  CHECK(run(uri, "http://host/%zz").size() == 1);

  CHECK(run({{"format", "dateTime"}}, "whenever").empty());
  CHECK(run({{"format", "date"}}, 20230101).empty());
}

TEST_CASE("json_schema: minLength and maxLength count code points") {
  const json s = {{"minLength", 2}, {"maxLength", 4}};
  CHECK(run(s, "Київ").empty());  // 4 characters, 8 bytes
  CHECK(run(s, "😀😀").empty());
  check_single(run(s, "Ї"), "$", "length", "expected value to have a minimum length of 2 but was 1",
               json{{"min", 2}, {"actual", 1}});
  check_single(run(s, "Україна"), "$", "length",
               "expected value to have a maximum length of 4 but was 7",
               json{{"max", 4}, {"actual", 7}});
}

TEST_CASE("json_schema: minItems and maxItems") {
  const json s = {{"type", "array"}, {"minItems", 1}, {"maxItems", 2}};
  CHECK(run(s, json::array({1, 2})).empty());
  check_single(run(s, json::array()), "$", "length", "expected a minimum of 1 items but got 0",
               json{{"min", 1}, {"actual", 0}});
  check_single(run(s, json::array({1, 2, 3})), "$", "length",
               "expected a maximum of 2 items but got 3", json{{"max", 2}, {"actual", 3}});
}

TEST_CASE("json_schema: a count written as a float beyond 2^64 saturates instead of overflowing") {
  // json_schema_fuzz: "maxItems": 3.1e70 was cast from double to size_t (undefined behaviour).
  const json s = json::parse(R"({"type":"array","maxItems":3.1e70,"minLength":1e300})");
  CHECK(run(s, json::array({1, 2, 3})).empty());
  const json at_least = json::parse(R"({"type":"array","minItems":1e30})");
  CHECK(run(at_least, json::array({1})).size() == 1);
  CHECK(contains(compile_error(json::parse(R"({"maxItems":-1e30})")),
                 "\"maxItems\" must be a non-negative"));
}

TEST_CASE("json_schema: minimum and maximum, inclusive and draft-04 exclusive") {
  const json inclusive = {{"minimum", 1}, {"maximum", 10}};
  CHECK(run(inclusive, 1).empty());
  CHECK(run(inclusive, 10).empty());
  check_single(run(inclusive, 0), "$", "number", "expected the value to be >= 1",
               json{{"greater_than_or_equal_to", 1}});
  check_single(run(inclusive, 10.5), "$", "number", "expected the value to be <= 10",
               json{{"less_than_or_equal_to", 10}});

  const json exclusive = {
      {"minimum", 0}, {"exclusiveMinimum", true}, {"maximum", 2.5}, {"exclusiveMaximum", true}};
  CHECK(run(exclusive, 0.001).empty());
  check_single(run(exclusive, 0), "$", "number", "expected the value to be > 0",
               json{{"greater_than", 0}});
  check_single(run(exclusive, 2.5), "$", "number", "expected the value to be < 2.5",
               json{{"less_than", 2.5}});

  const json explicit_false = {{"minimum", 0}, {"exclusiveMinimum", false}};
  CHECK(run(explicit_false, 0).empty());
  CHECK(run({{"maximum", 9007199254740993}}, json::parse("9007199254740993")).empty());
  CHECK(run({{"maximum", 9007199254740992}}, json::parse("9007199254740993")).size() == 1);
}

TEST_CASE("json_schema: multipleOf, minProperties and maxProperties") {
  CHECK(run({{"multipleOf", 5}}, 25).empty());
  check_single(run({{"multipleOf", 5}}, 12), "$", "number",
               "expected value to be a multiple of 5 but got 12",
               json{{"multiple_of", 5}, {"actual", 12}});
  CHECK(run({{"multipleOf", 0.1}}, 0.3).empty());
  CHECK(run({{"multipleOf", 0.1}}, 0.35).size() == 1);

  const json s = {{"minProperties", 1}, {"maxProperties", 2}};
  check_single(run(s, json::object()), "$", "length",
               "expected a minimum of 1 properties but got 0", json{{"min", 1}, {"actual", 0}});
  check_single(run(s, {{"a", 1}, {"b", 2}, {"c", 3}}), "$", "length",
               "expected a maximum of 2 properties but got 3", json{{"max", 2}, {"actual", 3}});
}

TEST_CASE("json_schema: additionalProperties false reports each unexpected member") {
  const json s = {{"type", "object"},
                  {"properties", {{"code", {{"type", "string"}}}}},
                  {"additionalProperties", false}};
  CHECK(run(s, {{"code", "x"}}).empty());
  const auto found = run(s, {{"code", "x"}, {"extra", 1}, {"more", {{"deep", true}}}});
  REQUIRE(found.size() == 2);
  // Members are visited in key order.
  CHECK(found[0].entry == "$.extra");
  CHECK(found[1].entry == "$.more");
  for (const auto& v : found) {
    CHECK(v.rule == "schema_does_not_allow_additional_properties");
    CHECK(v.description == "schema does not allow additional properties");
    CHECK(v.params == json::object());
  }
}

TEST_CASE("json_schema: additionalProperties as a schema and patternProperties") {
  const json s = {{"properties", {{"id", {{"type", "string"}}}}},
                  {"patternProperties", {{"^x_", {{"type", "integer"}}}}},
                  {"additionalProperties", {{"type", "boolean"}}}};
  CHECK(run(s, {{"id", "a"}, {"x_count", 3}, {"flag", true}}).empty());
  const auto found = run(s, {{"id", 1}, {"x_count", "3"}, {"flag", "yes"}});
  REQUIRE(found.size() == 3);
  CHECK(found[0].entry == "$.flag");
  CHECK(found[0].description == "type mismatch. Expected Boolean but got String");
  CHECK(found[1].entry == "$.id");
  CHECK(found[2].entry == "$.x_count");
  CHECK(found[2].description == "type mismatch. Expected Integer but got String");

  const json closed = {{"patternProperties", {{"^x_", json::object()}}},
                       {"additionalProperties", false}};
  CHECK(run(closed, {{"x_a", 1}}).empty());
  const auto extra = run(closed, {{"x_a", 1}, {"y", 2}});
  REQUIRE(extra.size() == 1);
  CHECK(extra[0].entry == "$.y");
}

TEST_CASE("json_schema: uniqueItems compares JSON values, not their spelling") {
  const json s = {{"uniqueItems", true}};
  CHECK(run(s, json::array({1, 2, "1", {{"a", 1}}, {{"a", 2}}})).empty());
  check_single(run(s, json::array({1, 2, 1})), "$", "unique",
               "expected items to be unique but they were not", json::array());
  CHECK(run(s, json::parse(R"([1, 1.0])")).size() == 1);
  CHECK(run(s, json::parse(R"([{"a": 1, "b": 2}, {"b": 2, "a": 1}])")).size() == 1);
  CHECK(run({{"uniqueItems", false}}, json::array({1, 1})).empty());
}

TEST_CASE("json_schema: nested paths name object members and array elements") {
  const json coding = {
      {"type", "object"},
      {"properties",
       {{"system", {{"type", "string"}}}, {"code", {{"type", "string"}, {"enum", {"employee"}}}}}},
      {"required", {"code", "system"}},
      {"additionalProperties", false}};
  const json s = {{"type", "object"},
                  {"properties",
                   {{"items",
                     {{"type", "array"},
                      {"items",
                       {{"type", "object"},
                        {"properties",
                         {{"id", {{"type", "string"}, {"format", "uuid"}}},
                          {"coding", {{"type", "array"}, {"items", coding}}}}}}}}},
                    {"period",
                     {{"type", "object"},
                      {"properties", {{"end", {{"type", "string"}, {"format", "date"}}}}}}}}}};
  const json instance = json::parse(R"({
    "items": [
      {"id": "4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0c3"},
      {"id": "nope", "coding": [{"system": "s", "code": "employee"}, {"code": "x", "z": 1}]}
    ],
    "period": {"end": "2023-02-30"}
  })");
  const auto found = run(s, instance);
  REQUIRE(found.size() == 5);
  CHECK(found[0].entry == "$.items[1].coding[1].system");
  CHECK(found[0].rule == "required");
  CHECK(found[1].entry == "$.items[1].coding[1].code");
  CHECK(found[1].rule == "inclusion");
  CHECK(found[2].entry == "$.items[1].coding[1].z");
  CHECK(found[2].rule == "schema_does_not_allow_additional_properties");
  CHECK(found[3].entry == "$.items[1].id");
  CHECK(found[3].rule == "uuid");
  CHECK(found[4].entry == "$.period.end");
  CHECK(found[4].rule == "date");

  const auto top = run({{"items", {{"type", "integer"}}}}, json::array({1, "two"}));
  REQUIRE(top.size() == 1);
  CHECK(top[0].entry == "$[1]");
}

TEST_CASE("json_schema: items in tuple form validate by position") {
  const json s = {{"items", {{{"type", "string"}}, {{"type", "integer"}}}}};
  CHECK(run(s, json::array({"a", 1, "anything", nullptr})).empty());
  const auto found = run(s, json::array({1, "a"}));
  REQUIRE(found.size() == 2);
  CHECK(found[0].entry == "$[0]");
  CHECK(found[1].entry == "$[1]");
}

TEST_CASE("json_schema: $ref into definitions and other pointers, nested and escaped") {
  const json s = json::parse(R"({
    "definitions": {
      "uuid": {
        "type": "string",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
      },
      "reference": {
        "type": "object",
        "properties": {"identifier": {"$ref": "#/definitions/identifier"}},
        "required": ["identifier"]
      },
      "identifier": {
        "type": "object",
        "properties": {"value": {"type": "string", "$ref": "#/definitions/uuid"}},
        "required": ["value"]
      },
      "a/b": {"type": "integer"},
      "t~x": {"type": "boolean"},
      "with space": {"type": "null"}
    },
    "x-lists": {"list": [{"type": "string"}, {"minimum": 5}]},
    "type": "object",
    "properties": {
      "context": {"$ref": "#/definitions/reference"},
      "slash": {"$ref": "#/definitions/a~1b"},
      "tilde": {"$ref": "#/definitions/t~0x"},
      "space": {"$ref": "#/definitions/with%20space"},
      "indexed": {"$ref": "#/x-lists/list/1"}
    }
  })");
  const json good = json::parse(R"({
    "context": {"identifier": {"value": "4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0c3"}},
    "slash": 1, "tilde": true, "space": null, "indexed": 6
  })");
  CHECK(run(s, good).empty());
  const json bad = json::parse(R"({
    "context": {"identifier": {"value": "XYZ"}},
    "slash": "1", "tilde": 1, "space": 0, "indexed": 4
  })");
  const auto found = run(s, bad);
  REQUIRE(found.size() == 5);
  CHECK(found[0].entry == "$.context.identifier.value");
  CHECK(found[0].rule == "format");
  CHECK(found[1].entry == "$.indexed");
  CHECK(found[1].rule == "number");
  CHECK(found[2].entry == "$.slash");
  CHECK(found[2].description == "type mismatch. Expected Integer but got String");
  CHECK(found[3].entry == "$.space");
  CHECK(found[3].description == "type mismatch. Expected Null but got Integer");
  CHECK(found[4].entry == "$.tilde");
  CHECK(found[4].description == "type mismatch. Expected Boolean but got Integer");

  const auto missing = run(s, json::parse(R"({"context": {"identifier": {}}})"));
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].entry == "$.context.identifier.value");
  CHECK(missing[0].rule == "required");
}

TEST_CASE("json_schema: recursive schemas through definitions and the root") {
  const json tree = json::parse(R"({
    "definitions": {
      "node": {
        "type": "object",
        "properties": {
          "name": {"type": "string"},
          "children": {"type": "array", "items": {"$ref": "#/definitions/node"}}
        },
        "required": ["name"],
        "additionalProperties": false
      }
    },
    "$ref": "#/definitions/node"
  })");
  const json good =
      json::parse(R"({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]})");
  CHECK(run(tree, good).empty());
  const json bad =
      json::parse(R"({"name": "a", "children": [{"name": "b", "children": [{"nam": "c"}]}]})");
  const auto found = run(tree, bad);
  REQUIRE(found.size() == 2);
  CHECK(found[0].entry == "$.children[0].children[0].name");
  CHECK(found[0].rule == "required");
  CHECK(found[1].entry == "$.children[0].children[0].nam");
  CHECK(found[1].rule == "schema_does_not_allow_additional_properties");

  const json root = {{"type", {"array", "integer"}}, {"items", {{"$ref", "#"}}}};
  CHECK(run(root, json::parse("[1, [2, [3, []]]]")).empty());
  const auto deep = run(root, json::parse(R"([1, [2, [3, ["x"]]]])"));
  REQUIRE(deep.size() == 1);
  CHECK(deep[0].entry == "$[1][1][1][0]");
}

TEST_CASE("json_schema: a recursive schema stops at a bounded nesting depth") {
  const json root = {{"type", "array"}, {"items", {{"$ref", "#"}}}};
  std::string text;
  for (int i = 0; i < 10000; ++i) text += '[';
  for (int i = 0; i < 10000; ++i) text += ']';
  const auto found = run(root, json::parse(text));
  REQUIRE(found.size() == 1);
  CHECK(found[0].rule == "invalid");
  CHECK(found[0].description == "value is nested too deeply to validate (more than 128 levels)");
  CHECK(found[0].entry.size() == 1 + 3 * 129);
  CHECK(run(root, json::parse("[[[[]]]]")).empty());
}

TEST_CASE("json_schema: oneOf needs exactly one branch") {
  const json s = {
      {"oneOf",
       {{{"type", "string"}}, {{"type", "string"}, {"maxLength", 3}}, {{"type", "integer"}}}}};
  CHECK(run(s, "long string").empty());
  CHECK(run(s, 5).empty());
  check_single(run(s, nullptr), "$", "schemata",
               "expected exactly one of the schemata to match, but none of them did",
               json::array());
  check_single(run(s, "abc"), "$", "schemata",
               "expected exactly one of the schemata to match, but the schemata at indices 0, 1 "
               "matched",
               json::array({0, 1}));
}

TEST_CASE("json_schema: anyOf, as episode_update.json uses it") {
  const json s = {{"type", "object"},
                  {"anyOf", {{{"required", {"name"}}}, {{"required", {"care_manager"}}}}}};
  CHECK(run(s, {{"name", "x"}}).empty());
  CHECK(run(s, {{"care_manager", {}}, {"name", "x"}}).empty());
  check_single(run(s, {{"status", "closed"}}), "$", "schemata",
               "expected any of the schemata to match but none did", json::array());
}

TEST_CASE("json_schema: allOf reports the failing branches' own violations; not inverts") {
  const json s = {{"allOf", {{{"type", "string"}}, {{"minLength", 3}}, {{"pattern", "^a"}}}}};
  CHECK(run(s, "abc").empty());
  const auto found = run(s, "b");
  REQUIRE(found.size() == 2);
  CHECK(found[0].rule == "length");
  CHECK(found[1].rule == "format");

  const json negated = {{"not", {{"enum", {"entered_in_error"}}}}};
  CHECK(run(negated, "active").empty());
  check_single(run(negated, "entered_in_error"), "$", "schemata",
               "expected schema not to match but it did", json::array());
}

TEST_CASE("json_schema: combinators inside arrays report at the element") {
  const json s = {{"type", "array"},
                  {"items", {{"oneOf", {{{"type", "string"}}, {{"type", "integer"}}}}}}};
  const auto found = run(s, json::array({"a", 1, true}));
  REQUIRE(found.size() == 1);
  CHECK(found[0].entry == "$[2]");
  CHECK(found[0].rule == "schemata");
}

TEST_CASE("json_schema: annotations and unknown keywords are ignored") {
  const json s = json::parse(R"({
    "$schema": "http://json-schema.org/draft-04/schema#",
    "id": "http://example.com/schema", "title": "t", "description": "d", "default": 1,
    "type": "object",
    "items": {"type": "object", "status": {"$ref": "#/nowhere"}},
    "properties": {"description": {"type": "string", "description": "a member named description"}}
  })");
  CHECK(run(s, {{"description", "x"}}).empty());
  CHECK(run(s, {{"description", 1}}).size() == 1);
}

TEST_CASE("json_schema: violations come out in a stable order across runs") {
  const json s = {{"type", "object"},
                  {"required", {"z", "a"}},
                  {"properties", {{"b", {{"type", "string"}}}, {"c", {{"type", "string"}}}}},
                  {"additionalProperties", false}};
  const json instance = {{"c", 1}, {"x", 1}, {"b", 2}};
  const schema compiled = schema::compile(s);
  const auto first = compiled.validate(instance);
  REQUIRE(first.size() == 5);
  std::vector<std::string> entries;
  for (const auto& v : first) entries.push_back(v.entry);
  CHECK(entries == std::vector<std::string>{"$.z", "$.a", "$.b", "$.c", "$.x"});
  const auto second = compiled.validate(instance);
  REQUIRE(second.size() == first.size());
  for (std::size_t i = 0; i < first.size(); ++i) CHECK(second[i].entry == first[i].entry);
}

TEST_CASE("json_schema: compile rejects keywords it cannot honour, naming them") {
  CHECK(contains(compile_error({{"dependencies", {{"a", {"b"}}}}}), "\"dependencies\""));
  CHECK(contains(compile_error({{"properties", {{"a", {{"const", 1}}}}}}), "\"const\""));
  CHECK(contains(compile_error({{"properties", {{"a", {{"const", 1}}}}}}), "#/properties/a"));
  CHECK(contains(compile_error({{"additionalItems", false}}), "\"additionalItems\""));
  CHECK(contains(compile_error({{"$ref", "http://example.com/s.json#/definitions/a"}}),
                 "remote $ref"));
  CHECK(contains(compile_error({{"$ref", "other.json"}}), "remote $ref"));
  CHECK(contains(compile_error({{"$ref", "#anchor"}}), "not a JSON pointer"));
  CHECK(contains(compile_error({{"minimum", 0}, {"exclusiveMinimum", 0}}), "exclusiveMinimum"));
  CHECK(contains(compile_error({{"exclusiveMaximum", true}}), "needs \"maximum\""));
}

TEST_CASE("json_schema: compile rejects malformed schemas with a clear message") {
  CHECK(contains(compile_error({{"type", 5}}), "\"type\" must be"));
  CHECK(contains(compile_error({{"type", "text"}}), "unknown type \"text\""));
  CHECK(contains(compile_error({{"type", json::array()}}), "\"type\" must be"));
  CHECK(contains(compile_error({{"pattern", "(unclosed"}}), "invalid pattern \"(unclosed\""));
  CHECK(
      contains(compile_error({{"patternProperties", {{"[", json::object()}}}}), "invalid pattern"));
  CHECK(contains(compile_error({{"minLength", -1}}), "\"minLength\" must be a non-negative"));
  CHECK(contains(compile_error({{"maxItems", "3"}}), "\"maxItems\" must be a non-negative"));
  CHECK(contains(compile_error({{"enum", json::array()}}), "\"enum\" must be a non-empty array"));
  CHECK(contains(compile_error({{"required", true}}), "draft-03"));
  CHECK(contains(compile_error({{"properties", {{"a", true}}}}), "boolean schemas"));
  CHECK(contains(compile_error({{"items", 3}}), "must be a JSON object"));
  CHECK(contains(compile_error({{"oneOf", json::array()}}), "\"oneOf\" must be a non-empty"));
  CHECK(contains(compile_error({{"minimum", "1"}}), "\"minimum\" must be a number"));
  CHECK(contains(compile_error({{"multipleOf", 0}}), "\"multipleOf\""));
  CHECK(contains(compile_error({{"$ref", "#/definitions/missing"}}),
                 "unresolvable $ref \"#/definitions/missing\""));
  CHECK(contains(compile_error({{"$ref", "#/definitions/bad~2"}}), "invalid ~ escape"));
  // A definition nobody references is still checked.
  CHECK(contains(compile_error({{"definitions", {{"unused", {{"type", "strng"}}}}}}),
                 "#/definitions/unused"));
}

TEST_CASE("json_schema: compile rejects $ref loops that never consume input") {
  const json cycle = json::parse(R"({
    "definitions": {
      "a": {"$ref": "#/definitions/b"},
      "b": {"allOf": [{"$ref": "#/definitions/a"}]}
    },
    "properties": {"x": {"$ref": "#/definitions/a"}}
  })");
  CHECK(contains(compile_error(cycle), "infinite recursion"));
  CHECK(contains(compile_error({{"$ref", "#"}}), "infinite recursion"));
  CHECK(contains(compile_error({{"anyOf", {{{"$ref", "#"}}}}}), "infinite recursion"));
}

TEST_CASE("json_schema: a schema that was never compiled refuses to validate") {
  const schema empty;
  CHECK_THROWS_AS(empty.validate(json::object()), std::logic_error);
}

TEST_CASE("json_schema: eHealth's episode_create.json compiles and validates") {
  std::string base;
  if (const char* shared = std::getenv("MEDFLOW_SHARED_DIR")) {
    base = shared;
  } else {
    base = std::string(MEDFLOW_SOURCE_DIR) + "/../shared";
  }
  const std::string path =
      base + "/reference/esoz_schemas/core/json_schemas/episodes/episode_create.json";
  std::ifstream file(path);
  if (!file) {
    MESSAGE("skipped: reference schema not found at " << path);
    return;
  }
  const schema compiled = schema::compile(json::parse(file));

  const json good = json::parse(R"({
    "id": "4ad1a7f6-e6a7-4c5e-8d8a-5b1a8bd1b0c3",
    "type": {"system": "eHealth/episode_types", "code": "TREATMENT"},
    "status": "active",
    "name": "Хронічний бронхіт",
    "managing_organization": {"identifier": {
      "type": {"coding": [{"system": "eHealth/resources", "code": "legal_entity"}]},
      "value": "80a9e15b-b71b-4caf-8f2e-ff247e8a5677"}},
    "period": {"start": "2023-05-01"},
    "care_manager": {"identifier": {
      "type": {"coding": [{"system": "eHealth/resources", "code": "employee"}]},
      "value": "7c3da506-804d-4550-8993-bf17f9ee0402"}}
  })");
  CHECK(compiled.validate(good).empty());

  json bad = good;
  bad["id"] = "4AD1A7F6-not-a-uuid";
  bad["status"] = "closed";
  bad["name"] = "";
  bad["period"]["start"] = "2023-02-29";
  bad["period"]["end"] = "2023-03-01";
  bad["care_manager"]["identifier"]["type"]["coding"][0]["code"] = "legal_entity";
  bad["managing_organization"]["identifier"]["type"]["coding"] = json::array();
  bad.erase("type");
  bad["extra"] = true;
  const auto found = compiled.validate(bad);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& v : found) got.emplace_back(v.entry, v.rule);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"$.type", "required"},
      {"$.care_manager.identifier.type.coding[0].code", "inclusion"},
      {"$.extra", "schema_does_not_allow_additional_properties"},
      {"$.id", "format"},
      {"$.managing_organization.identifier.type.coding", "length"},
      {"$.name", "length"},
      {"$.period.end", "schema_does_not_allow_additional_properties"},
      {"$.period.start", "date"},
      {"$.status", "inclusion"},
  };
  CHECK(got == expected);
}
