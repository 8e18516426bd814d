#include "core/strings.hpp"

#include <doctest/doctest.h>

using namespace medflow::strings;

TEST_CASE("ASCII case folding leaves every other byte alone") {
  CHECK(ascii_lower("Content-TYPE") == "content-type");
  CHECK(ascii_lower("\xc3\x84") == "\xc3\x84");  // Ä in UTF-8 is not ASCII: unchanged
  CHECK(iequals("X-Rivta-Foo", "x-rivta-foo"));
  CHECK_FALSE(iequals("x-rivta-foo", "x-rivta-fo"));
  CHECK_FALSE(iequals("i", "\xc4\xb1"));  // dotless i is not an i
}

TEST_CASE("is_hex: 0-9, a-f, A-F and nothing else") {
  for (char c : std::string("0123456789abcdefABCDEF")) CHECK(is_hex(c));
  for (char c : std::string("gG/:@`xz \x80")) CHECK_FALSE(is_hex(c));
}
