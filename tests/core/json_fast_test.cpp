// core/json_fast::to_json: simdjson's reading of a text as nlohmann's value, which must be the
// value nlohmann::json::parse gives for the same text, number types included, or nothing.
#include "core/json_fast.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using json = nlohmann::json;
using medflow::json_fast::to_json;

namespace {

// Same value and same type at every level (nlohmann's == takes 1u for 1 and 1.0).
bool same(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object() || a.is_array()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (a.is_object() && ia.key() != ib.key()) return false;
      if (!same(*ia, *ib)) return false;
    }
    return true;
  }
  if (a.is_number_float())
    return a.get<double>() == b.get<double>() &&
           std::signbit(a.get<double>()) == std::signbit(b.get<double>());
  return a == b;
}

void as_nlohmann(const std::string& text) {
  CAPTURE(text);
  auto mine = to_json(text, 1 << 16);
  REQUIRE(mine);
  auto theirs = json::parse(text);
  CHECK(same(*mine, theirs));
  CHECK(mine->dump() == theirs.dump());
}

}  // namespace

TEST_CASE("to_json gives nlohmann's value for a stored document") {
  as_nlohmann(R"({"id":"e1","name":"name 7","status":"active","period":{"start":"2026-12-07"},)"
              R"("managing_organization":{"identifier":{"type":{"coding":[{"code":"legal_entity",)"
              R"("system":"eHealth/resources"}]},"value":"11111111-1111-4111-8111-111111111111"}},)"
              R"("status_history":[{"inserted_at":"2026-12-07T10:00:00.000Z","status":"active"}],)"
              R"("current_diagnoses":[],"closing_summary":null,"flag":true,"off":false})");
  as_nlohmann(R"("a string with \"escapes\", \\, \/, \n, \u00e9, \ud83d\ude00 and \u0000")");
  as_nlohmann("[]");
  as_nlohmann("{}");
  as_nlohmann("null");
  as_nlohmann("[[[[[[1]]]]]]");
}

TEST_CASE("to_json keeps nlohmann's number types") {
  // An integer of no sign is unsigned, a negative one signed, a fraction or exponent a float.
  as_nlohmann("[0, 1, 42, 9223372036854775807, 9223372036854775808, 18446744073709551615]");
  as_nlohmann("[-1, -42, -9223372036854775808]");
  as_nlohmann("[0.0, 1.5, -2.25, 1e3, 1E-7, 123456789.125, 5e-324, 1.7976931348623157e308]");
  CHECK(to_json("7", 100)->is_number_unsigned());
  CHECK(to_json("-7", 100)->is_number_integer());
  CHECK(!to_json("-7", 100)->is_number_unsigned());
  CHECK(to_json("7.0", 100)->is_number_float());
}

TEST_CASE("to_json leaves a negative zero to nlohmann") {
  // nlohmann reads "-0" as a signed 0 and "-0.0" as the float -0.0; simdjson the first as 0.
  CHECK(!to_json("-0", 100));
  CHECK(!to_json("[1, {\"a\": -0.0}]", 100));
  CHECK(!to_json("[1,-0]", 100));
  CHECK(!to_json("{\"a\":-0e3}", 100));
  as_nlohmann(R"({"date": "2026-01-07", "n": -1, "m": 10})");  // no "-0" token: the fast path
  as_nlohmann("[0, 0.0]");
}

TEST_CASE("to_json: a repeated key keeps the last value, as nlohmann does") {
  as_nlohmann(R"({"a": 1, "b": 2, "a": [3]})");
  CHECK((*to_json(R"({"a": 1, "a": {"x": 2}})", 100))["a"] == json{{"x", 2}});
}

TEST_CASE("to_json gives nothing where nlohmann decides") {
  CHECK(!to_json("", 100));
  CHECK(!to_json("{", 100));
  CHECK(!to_json("[1,]", 100));
  CHECK(!to_json("\"\xff\"", 100));         // not UTF-8 (nlohmann refuses it too)
  CHECK(!to_json("123456789012345678901234567890", 100));  // beyond 64 bits: nlohmann's float
  CHECK(!to_json(R"({"a": "too long for the cap"})", 10));
  medflow::json_fast::set_enabled(false);
  CHECK(!to_json("{}", 100));
  medflow::json_fast::set_enabled(true);
  CHECK(to_json("{}", 100));
}

namespace {

template <class Json>
void dumps_as_nlohmann(const Json& j) {
  using h = nlohmann::json::error_handler_t;
  CAPTURE(j.dump(-1, ' ', true, h::replace));
  // The same bytes, or the same exception (strict, on invalid UTF-8).
  auto outcome = [](auto&& f) -> std::string {
    try {
      return "ok: " + f();
    } catch (const json::exception& e) {
      return std::string("threw: ") + e.what();
    }
  };
  for (auto handler : {h::strict, h::replace, h::ignore})
    CHECK(outcome([&] { return medflow::json_fast::dump(j, handler); }) ==
          outcome([&] { return j.dump(-1, ' ', false, handler); }));
}

}  // namespace

TEST_CASE("dump writes nlohmann's bytes") {
  std::vector<json> values = {
      json::parse(R"({"id":"e1","name":"name 7","period":{"start":"2026-12-07"},"list":[1,-2,3.5,)"
                  R"(true,false,null,[],{}],"nested":{"a":{"b":[{"c":"d"}]}}})"),
      json("Олена Петрівна Ковальчук"),          // Cyrillic: copied as it is
      json("emoji \xF0\x9F\x98\x80 and \xE2\x82\xAC"),  // 4- and 3-byte UTF-8
      json("quote \" backslash \\ slash / tab \t newline \n cr \r bs \b ff \f"),
      json(std::string("nul \0 and \x01 and \x1f and \x7f", 23)),
      json::array({0, 1, -1, INT64_MIN, INT64_MAX, UINT64_MAX, 0u}),
      json::array({0.0, -0.0, 0.1, 1.0, -2.5, 1e300, 5e-324, 123456789.125, 1e21, 1e-7}),
      json::array({std::numeric_limits<double>::infinity(), std::nan("")}),  // nlohmann: null
      json::object({{"ключ", "значення"}, {"k\"ey", 1}, {"", ""}}),
      json(), json::array(), json::object(), json(true), json(""),
  };
  for (auto& v : values) {
    dumps_as_nlohmann(v);
    dumps_as_nlohmann(nlohmann::ordered_json::parse(v.dump()));
  }
  // ordered_json keeps insertion order; the dump must too.
  nlohmann::ordered_json o;
  o["z"] = 1;
  o["a"] = "x";
  o["m"] = {{"y", 2}, {"b", 3}};
  dumps_as_nlohmann(o);
  CHECK(medflow::json_fast::dump(o) == R"({"z":1,"a":"x","m":{"y":2,"b":3}})");
}

TEST_CASE("dump: invalid UTF-8 is the error handler's, as with nlohmann") {
  using h = nlohmann::json::error_handler_t;
  for (std::string bad : {std::string("\xff"), std::string("ab\xc3"), std::string("\xed\xa0\x80"),
                          std::string("ok \xc0\xaf over-long")}) {
    json v = {{"k", bad}, {bad, 1}};
    CHECK_THROWS_AS(medflow::json_fast::dump(v), json::type_error);
    CHECK_THROWS_AS(v.dump(), json::type_error);
    dumps_as_nlohmann(json::object({{"k", bad}}));
    CHECK(medflow::json_fast::dump(v, h::replace) == v.dump(-1, ' ', false, h::replace));
    CHECK(medflow::json_fast::dump(v, h::ignore) == v.dump(-1, ' ', false, h::ignore));
  }
}
