// `medflowd selector '<selector>' '<properties>'`: the answer on stdout and exit 0, or the error
// on stderr and exit 2; how JSON values become property types; hostile JSON.
#include "flows/resource_events/selector_cli.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>

namespace {

using medflow::flows::resource_events::max_properties_json_bytes;
using medflow::flows::resource_events::selector_command;

struct outcome {
  int code;
  std::string out;
  std::string err;
};

outcome run(std::string_view selector, std::string_view properties) {
  std::ostringstream out, err;
  int code = selector_command(selector, properties, out, err);
  return {code, out.str(), err.str()};
}

// The command's answer for a selector that must evaluate.
std::string answer(std::string_view selector, std::string_view properties) {
  auto o = run(selector, properties);
  INFO(selector, " on ", properties, ": ", o.err);
  CHECK(o.code == 0);
  CHECK(o.err.empty());
  return o.out;
}

// The command's error for input it must refuse.
std::string refusal(std::string_view selector, std::string_view properties) {
  auto o = run(selector, properties);
  INFO(selector, " on ", properties);
  CHECK(o.code == 2);
  CHECK(o.out.empty());
  return o.err;
}

}  // namespace

TEST_SUITE("selector_cli") {
  TEST_CASE("prints true, false or unknown and exits 0") {
    const char* event =
        R"({"eventType": "created", "resourceProfile": "ehealth-careplan",
          "patientReference": "https://patient.local/fhir/Patient/5508"})";
    CHECK(answer("eventType = 'created' AND resourceProfile IN ('ehealth-careplan', "
                 "'ehealth-episodeofcare')",
                 event) == "true\n");
    CHECK(answer("eventType = 'deleted'", event) == "false\n");
    CHECK(answer("resourceElement = 'subject'", event) == "unknown\n");
    CHECK(answer("", "{}") == "true\n");  // no selector
    CHECK(answer("  ", "{}") == "true\n");
  }

  TEST_CASE("JSON values become String, long, double, boolean or NULL properties") {
    // Strings are String properties: "2" is not a number.
    CHECK(answer("n > 1", R"({"n": "2"})") == "false\n");
    // Integers are longs (integer division), other numbers doubles.
    CHECK(answer("n / 2 = 2", R"({"n": 5})") == "true\n");
    CHECK(answer("n / 2 = 2.5", R"({"n": 5.0})") == "true\n");
    CHECK(answer("n = 500", R"({"n": 5e2})") == "true\n");
    CHECK(answer("n = -9223372036854775808", R"({"n": -9223372036854775808})") == "true\n");
    CHECK(answer("n = 9223372036854775807", R"({"n": 9223372036854775807})") == "true\n");
    CHECK(answer("b AND NOT c", R"({"b": true, "c": false})") == "true\n");
    CHECK(answer("b = 'true'", R"({"b": true})") == "false\n");
    // null and an absent name are NULL.
    CHECK(answer("x IS NULL AND y IS NULL", R"({"x": null})") == "true\n");
    CHECK(answer("x = 1", R"({"x": null})") == "unknown\n");
    CHECK(answer("s = 'ø ''q'''", R"({"s": "ø 'q'"})") == "true\n");
    CHECK(answer("s = 'a'", R"({"s": "\u0061"})") == "true\n");
  }

  TEST_CASE("an invalid selector: the error with its position, exit 2") {
    CHECK(refusal("(eventType = 'x'", "{}") ==
          "medflowd selector: invalid selector: expected AND, OR or ')' at column 17, found end "
          "of text\n");
    CHECK(refusal("a < 'b'", "{}") ==
          "medflowd selector: invalid selector: '<' cannot compare a string literal at column 5\n");
    CHECK(
        refusal("a = 'b", "{}") ==
        "medflowd selector: invalid selector: unterminated string literal starting at column 5\n");
    // The selector is checked first, whatever the properties.
    CHECK(refusal("in = 1", "not json").find("invalid selector") != std::string::npos);
  }

  TEST_CASE("properties that are not one flat JSON object: exit 2") {
    auto invalid = [](std::string_view properties) { return refusal("a = 1", properties); };
    CHECK(invalid(R"({"a": [1]})") ==
          "medflowd selector: invalid properties: property 'a' is an array; a property is a "
          "string, a number, a boolean or null\n");
    CHECK(invalid(R"({"a": {"b": 1}})") ==
          "medflowd selector: invalid properties: property 'a' is an object; a property is a "
          "string, a number, a boolean or null\n");
    CHECK(invalid("[]") ==
          "medflowd selector: invalid properties: the properties must be a JSON object\n");
    CHECK(invalid(R"("a")") ==
          "medflowd selector: invalid properties: the properties must be a JSON object\n");
    CHECK(invalid("5") ==
          "medflowd selector: invalid properties: the properties must be a JSON object\n");
    CHECK(invalid(R"({"a": 1, "a": 2})") ==
          "medflowd selector: invalid properties: property 'a' appears twice\n");
    CHECK(invalid(R"({"a": 9223372036854775808})") ==
          "medflowd selector: invalid properties: property 'a': 9223372036854775808 is out of the "
          "range of long\n");
    CHECK(invalid(R"({"a": 123456789012345678901234567890})") ==
          "medflowd selector: invalid properties: property 'a': 123456789012345678901234567890 is "
          "out of the range of long\n");
    CHECK(invalid(R"({"a": -9223372036854775809})").find("out of the range of long") !=
          std::string::npos);
    // Not JSON: nlohmann's message without its exception prefix.
    CHECK(invalid("").rfind("medflowd selector: invalid properties: parse error at line 1, "
                            "column 1: ",
                            0) == 0);
    CHECK(invalid(R"({"a": 1)").find("parse error") != std::string::npos);
    CHECK(invalid(R"({"a": 1} x)").find("parse error") != std::string::npos);
    CHECK(invalid(R"({"a": 'x'})").find("parse error") != std::string::npos);
    CHECK(invalid("{\"a\": \"\xFF\"}").find("parse error") != std::string::npos);
  }

  TEST_CASE("hostile properties: deep nesting and size are refused quickly") {
    // A million levels of nesting: refused at the first array, no recursion.
    std::string deep = R"({"a": )" + std::string(1000000, '[');
    CHECK(refusal("a = 1", deep).find("property 'a' is an array") != std::string::npos);
    std::string deep_array = std::string(1000000, '[');
    CHECK(refusal("a = 1", deep_array).find("must be a JSON object") != std::string::npos);
    // Size: at the limit it is read, one byte more is refused.
    std::string big = R"({"a": ")";
    big.append(max_properties_json_bytes - big.size() - 2, 'x');
    big += "\"}";
    REQUIRE(big.size() == max_properties_json_bytes);
    CHECK(answer("a LIKE 'xxx%'", big) == "true\n");
    big.insert(7, "x");
    CHECK(refusal("a = 1", big) ==
          "medflowd selector: invalid properties: 1048577 bytes of JSON, more than the limit of "
          "1048576\n");
  }

}  // TEST_SUITE
