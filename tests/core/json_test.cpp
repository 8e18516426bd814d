// parse_json_limited: the same documents as nlohmann's parser, a nesting limit checked while
// parsing (named, with its position), numbers beyond a double's range named by their field.
#include "core/json.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace medflow;
using json = nlohmann::json;

TEST_SUITE_BEGIN("json");

namespace {

std::string nested(size_t depth, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += open;
  s += "1";
  for (size_t i = 0; i < depth; ++i) s += close;
  return s;
}

std::string message(std::string_view text, size_t max_depth = 256, bool comments = false) {
  auto r = parse_json_limited(text, max_depth, comments);
  if (r.ok()) return "<parsed>";
  CHECK(r.err().status == 400);
  CHECK(r.err().code == "bad_request");
  return r.err().message;
}

}  // namespace

TEST_CASE("documents parse as nlohmann's own parser parses them") {
  const char* docs[] = {
      "null", "true", "0", "-1", "18446744073709551615", "-9223372036854775808", "1.5e300",
      "\"x\\u00e9\\ud83d\\ude00\"", "[]", "{}", "[1,[2,[3,{}]],{\"a\":[]}]",
      "{\"b\":1,\"a\":{\"c\":[true,false,null]},\"z\":\"\"}",
      "{\"dup\":1,\"dup\":2}",  // the last one wins, as in nlohmann
      "  \n[ 1 , 2 ]\t",
  };
  for (const char* d : docs) {
    CAPTURE(d);
    auto r = parse_json_limited(d, 256);
    REQUIRE(r.ok());
    CHECK(*r == json::parse(d));
    CHECK(r->dump() == json::parse(d).dump());
  }
  // Number types are kept (unsigned, signed, float).
  CHECK(parse_json_limited("18446744073709551615", 4)->is_number_unsigned());
  CHECK(parse_json_limited("-3", 4)->is_number_integer());
  CHECK(parse_json_limited("3.0", 4)->is_number_float());
}

TEST_CASE("syntax errors keep nlohmann's text") {
  const char* bad[] = {"", "{", "[1,]", "{\"a\" 1}", "nul", "[1] x", "\"\\x\"", "01"};
  for (const char* b : bad) {
    CAPTURE(b);
    std::string expected;
    try {
      json ignored = json::parse(b);
      CHECK(ignored.is_null());  // not reached: b is not JSON
    } catch (const json::exception& e) {
      expected = json_error_text(e);
    }
    REQUIRE(!expected.empty());
    auto r = parse_json_limited(b, 256);
    REQUIRE(!r.ok());
    CHECK(r.err().message == expected);
    CHECK(r.err().detail.is_null());
  }
}

TEST_CASE("nesting up to the limit parses, one level more is refused where it starts") {
  CHECK(parse_json_limited(nested(256), 256).ok());
  CHECK(message(nested(257)) ==
        "nesting deeper than 256 levels (json.max_depth) at line 1, column 257");
  CHECK(parse_json_limited(nested(257), 256).err().detail == json{{"max_depth", 256}});
  // Objects count as arrays do; the position counts lines.
  CHECK(parse_json_limited(nested(3, "{\"a\":", "}"), 3).ok());
  CHECK(message("{\"a\":\n {\"b\":\n  [\"[{\", [1]]}}", 3) ==
        "nesting deeper than 3 levels (json.max_depth) at line 3, column 10");
  // Scalars are depth 0; with a limit of 1 only flat containers pass.
  CHECK(parse_json_limited("5", 0).ok());
  CHECK(message("[]", 0) == "nesting deeper than 0 levels (json.max_depth) at line 1, column 1");
  CHECK(parse_json_limited("[1,{},[]]", 2).ok());
  CHECK(message("[1,{\"k\":[]}]", 2) ==
        "nesting deeper than 2 levels (json.max_depth) at line 1, column 9");
}

TEST_CASE("a value nested 100,000 deep is refused without walking it") {
  // Parsing this with nlohmann and then dumping it overflows the stack.
  auto r = parse_json_limited(nested(100000), 256);
  REQUIRE(!r.ok());
  CHECK(r.err().message.rfind("nesting deeper than 256 levels (json.max_depth)", 0) == 0);
  auto o = parse_json_limited("{\"records\":[{\"value\":" + nested(100000, "{\"a\":", "}") + "}]}",
                              256);
  REQUIRE(!o.ok());
  CHECK(o.err().message.rfind("nesting deeper than 256", 0) == 0);
  // An unterminated one too (the limit comes before the syntax error at the end).
  CHECK(message(std::string(100000, '[')).rfind("nesting deeper than 256", 0) == 0);
}

TEST_CASE("the position of a too deep value skips brackets in strings and comments") {
  CHECK(message("[\"[[[[\", [\"]\\\"[\", [1]]]", 2) ==
        "nesting deeper than 2 levels (json.max_depth) at line 1, column 19");
  CHECK(message("// [[[\n[ /* ]]] [ */ [[1]]]", 2, true) ==
        "nesting deeper than 2 levels (json.max_depth) at line 2, column 16");
  CHECK(parse_json_limited("// c\n{\"a\": /* [ */ [1]}", 2, true).ok());
  CHECK(!parse_json_limited("// c\n{\"a\": [1]}", 2, false).ok());  // comments only when asked
}

TEST_CASE("a number beyond a double's range names its field") {
  CHECK(message("1e999") == "number out of range at the top level: 1e999");
  CHECK(message("{\"partitions\":1e999}") == "number out of range at partitions: 1e999");
  CHECK(message("{\"records\":[{\"key\":\"k\",\"value\":{\"dose\":[1,-2e400]}}]}") ==
        "number out of range at records[0].value.dose[1]: -2e400");
  CHECK(message("[[1],[2,3,[4,1E+309]]]") == "number out of range at [1][2][1]: 1E+309");
  CHECK(message("{\"a b\":{\"\\\"\":9e9999}}") ==
        "number out of range at [\"a b\"][\"\\\"\"]: 9e9999");
  auto r = parse_json_limited("{\"x\":{\"y\":1e999}}", 256);
  CHECK(r.err().detail == json{{"field", "x.y"}});
  // A long literal is cut.
  std::string huge = "1" + std::string(100, '0') + "e999";
  CHECK(message("[" + huge + "]") == "number out of range at [0]: " + huge.substr(0, 40) + "...");
  // Large but finite numbers are numbers.
  CHECK(parse_json_limited("[1e308, -1.7e308, 1e-400]", 4).ok());
}

TEST_CASE("the process-wide limit is json.max_depth") {
  CHECK(max_json_depth() == default_max_json_depth);
  CHECK(parse_json_limited(nested(256)).ok());
  CHECK(!parse_json_limited(nested(257)).ok());
  set_max_json_depth(4);
  CHECK(parse_json_limited(nested(4)).ok());
  CHECK(parse_json_limited(nested(5)).err().message ==
        "nesting deeper than 4 levels (json.max_depth) at line 1, column 5");
  set_max_json_depth(default_max_json_depth);
  CHECK(json_nesting_text(256) == "nesting deeper than 256 levels (json.max_depth)");
}
