#include "net/url.hpp"

#include "net/message.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using medflow::net::fields;

TEST_SUITE_BEGIN("url");

namespace {

std::optional<std::string> decoded(std::string_view in, bool plus_is_space = false) {
  std::string out;
  if (!medflow::net::percent_decode(in, out, plus_is_space)) return std::nullopt;
  return out;
}

std::optional<fields> query(std::string_view in) {
  fields out;
  if (!medflow::net::parse_query(in, out)) return std::nullopt;
  return out;
}

}  // namespace

TEST_CASE("percent_decode decodes escapes in either case and keeps everything else") {
  CHECK(decoded("") == "");
  CHECK(decoded("/plain/path") == "/plain/path");
  CHECK(decoded("/a%20b%2Fc%2fd") == "/a b/c/d");
  CHECK(decoded("caf%C3%A9") == "caf\xc3\xa9");
  CHECK(decoded("%25") == "%");
  CHECK(decoded("%2525") == "%25");  // once, not twice
  CHECK(decoded("a+b") == "a+b");
  CHECK(decoded("a+b", true) == "a b");
  CHECK(decoded("a%2Bb", true) == "a+b");
  CHECK(decoded("%ff%80") == "\xff\x80");
}

TEST_CASE("percent_decode refuses a malformed escape and a NUL") {
  for (const char* bad : {"%", "%2", "a%", "%g0", "%0g", "%%20", "%-1", "%+1", "% 1", "%00",
                          "ok%00ok"}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(decoded(bad));
    CHECK_FALSE(decoded(bad, true));
  }
}

TEST_CASE("parse_query: pairs in order, empty values, empty pieces skipped") {
  CHECK(query("") == fields{});
  CHECK(query("a=1&b=2&a=3") == fields{{"a", "1"}, {"b", "2"}, {"a", "3"}});
  CHECK(query("flag&empty=&&x=a=b") == fields{{"flag", ""}, {"empty", ""}, {"x", "a=b"}});
  CHECK(query("na%6De=v+1%26") == fields{{"name", "v 1&"}});
  CHECK(query("=v") == fields{{"", "v"}});
  CHECK_FALSE(query("a=%zz"));
  CHECK_FALSE(query("%zz=1"));
  CHECK_FALSE(query("a=%00"));
}

TEST_CASE("parse_query refuses more than max_query_params pieces") {
  std::string q;
  for (size_t i = 0; i < medflow::net::max_query_params; ++i) q += "a&";
  CHECK(query(q)->size() == medflow::net::max_query_params);
  CHECK_FALSE(query(q + "b"));
}

TEST_SUITE_END();
