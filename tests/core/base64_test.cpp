// Base64: the lenient decoder (both alphabets, padding optional) and the strict base64url one
// JWS needs (one encoding per byte string).
#include "core/base64.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace medflow;

TEST_SUITE_BEGIN("base64");

TEST_CASE("decode_url_strict takes back what encode_url wrote, for every length") {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    CAPTURE(n);
    std::string text = base64::encode_url(bytes);
    auto back = base64::decode_url_strict(text);
    REQUIRE(back);
    CHECK(*back == bytes);
    bytes += static_cast<char>((n * 151 + 7) & 0xff);  // every byte value class over time
  }
  CHECK(base64::decode_url_strict("")->empty());
  CHECK(*base64::decode_url_strict("-_-_") == "\xfb\xff\xbf");
}

TEST_CASE("decode_url_strict refuses padding, the other alphabet, spare bits and junk") {
  CHECK(base64::decode("Zm8=") == std::string("fo"));         // the lenient one takes these
  CHECK(base64::decode("+/+/") == std::string("\xfb\xff\xbf"));
  CHECK(!base64::decode_url_strict("Zm8="));   // padding
  CHECK(!base64::decode_url_strict("Zg=="));
  CHECK(!base64::decode_url_strict("Zm9v="));
  CHECK(!base64::decode_url_strict("+/+/"));   // standard alphabet
  CHECK(!base64::decode_url_strict("Zm9v+"));
  CHECK(!base64::decode_url_strict("Z"));      // one character cannot be a byte
  CHECK(!base64::decode_url_strict("Zm9vY"));
  CHECK(!base64::decode_url_strict("Zm 9v"));  // whitespace
  CHECK(!base64::decode_url_strict("Zm9v\n"));
  CHECK(!base64::decode_url_strict(std::string("Zm\0v", 4)));
  // "Zg" is 'f'; "Zh" to "Zv" have the 4 unused bits set and would be 'f' as well.
  CHECK(*base64::decode_url_strict("Zg") == "f");
  for (char c : std::string("hijklmnopqrstuv")) {
    CAPTURE(c);
    CHECK(base64::decode(std::string("Z") + c) == std::string("f"));
    CHECK(!base64::decode_url_strict(std::string("Z") + c));
  }
  // "Zm8" is "fo"; "Zm9".."Zm-" have spare bits in the last character.
  CHECK(*base64::decode_url_strict("Zm8") == "fo");
  CHECK(!base64::decode_url_strict("Zm9"));
  CHECK(!base64::decode_url_strict("Zm-"));
}
