#include "core/crypto.hpp"

#include "core/base64.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>
#include <string>

namespace {

using namespace medflow;
using namespace medflow::crypto;

std::string unhex(std::string_view h) {
  auto r = from_hex(h);
  REQUIRE(r.has_value());
  return *r;
}

key256 key_of(std::string_view hex) {
  auto k = parse_key_hex(hex);
  REQUIRE(k.ok());
  return *k;
}

// Not through parse_key_hex: REQUIRE cannot run before main.
key256 raw_key(unsigned char first, int step) {
  key256 k;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = static_cast<unsigned char>(first + step * static_cast<int>(i));
  return k;
}
const key256 k1 = raw_key(0x00, 1);   // 000102...1f
const key256 k2 = raw_key(0x1f, -1);  // 1f1e...00

}  // namespace

TEST_SUITE("crypto") {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", the AES-256 cases of the test
  // vectors NIST's GCM validation uses (test cases 13 to 16).
  TEST_CASE("AES-256-GCM known answers") {
    auto zero = key_of(std::string(64, '0'));
    auto iv0 = unhex("000000000000000000000000");
    CHECK(to_hex(aes256_gcm_encrypt(zero, iv0, "", "")) == "530f8afbc74536b9a963b4f1c4cb738b");
    CHECK(to_hex(aes256_gcm_encrypt(zero, iv0, unhex("00000000000000000000000000000000"), "")) ==
          "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

    auto k = key_of("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    auto iv = unhex("cafebabefacedbaddecaf888");
    auto p = unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
        "49a6b525b16aedf5aa0de657ba637b39");
    auto a = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    auto c = aes256_gcm_encrypt(k, iv, p, a);
    CHECK(to_hex(c) ==
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
          "56828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b");
    auto back = aes256_gcm_decrypt(k, iv, c, a);
    REQUIRE(back.has_value());
    CHECK(*back == p);
    CHECK_FALSE(aes256_gcm_decrypt(k, iv, c, "other aad").has_value());
    CHECK_THROWS_AS(aes256_gcm_encrypt(k, "short", p, a), std::invalid_argument);
  }

  // RFC 4231 test case 2, and a 32-byte key (test case 1's key is 20 bytes).
  TEST_CASE("HMAC-SHA256 known answers and keyed_hash") {
    CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(to_hex(hmac_sha256(unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    auto h = keyed_hash(k1, "12345678901");
    CHECK(h.size() == 64);
    CHECK(h == to_hex(hmac_sha256(k1.view(), "12345678901")));
    CHECK(keyed_hash(k1, "12345678901") == h);  // stable: usable as a lookup column
    CHECK(keyed_hash(k2, "12345678901") != h);
    CHECK(keyed_hash(k1, "12345678902") != h);
  }

  TEST_CASE("hex keys") {
    auto ok = parse_key_hex("000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f");
    REQUIRE(ok.ok());
    CHECK(ok->bytes == k1.bytes);

    auto short_key = parse_key_hex("abcd");
    REQUIRE_FALSE(short_key.ok());
    CHECK(short_key.err().code == "invalid_key");
    CHECK(short_key.err().message == "a 256-bit key must be 64 hex digits, got 4 characters");

    auto bad = parse_key_hex(std::string(63, 'a') + "g");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.err().message ==
          "a 256-bit key must be 64 hex digits; character 64 is not a hex digit");
    CHECK_FALSE(parse_key_hex("").ok());
    CHECK_FALSE(parse_key_hex(" " + std::string(64, 'a')).ok());
    CHECK_FALSE(from_hex("abc").has_value());
    CHECK(from_hex("") == std::string());
  }

  TEST_CASE("seal and open round trip") {
    for (std::string plain : {std::string(), std::string("Maria da Silva"),
                              std::string("\0binary\xff\x80", 9), std::string(100000, 'x')}) {
      auto s = seal(k1, plain, "patient-42");
      CHECK(s.rfind("v1:", 0) == 0);
      auto back = open(k1, s, "patient-42");
      REQUIRE(back.ok());
      CHECK(*back == plain);
    }
  }

  TEST_CASE("every seal draws a fresh nonce") {
    std::set<std::string> texts, nonces;
    for (int i = 0; i < 200; ++i) {
      auto s = seal(k1, "same value", "same record");
      texts.insert(s);
      nonces.insert(base64::decode(s.substr(3))->substr(0, 12));
    }
    CHECK(texts.size() == 200);
    CHECK(nonces.size() == 200);
  }

  TEST_CASE("wrong key, wrong record, altered bytes do not open") {
    auto s = seal(k1, "maria@example.org", "patient-42");
    auto wrong_key = open(k2, s, "patient-42");
    REQUIRE_FALSE(wrong_key.ok());
    CHECK(wrong_key.err().code == "seal_authentication_failed");
    // The same ciphertext copied into another record's row.
    CHECK(open(k1, s, "patient-43").err().code == "seal_authentication_failed");
    CHECK(open(k1, s, "").err().code == "seal_authentication_failed");

    auto raw = *base64::decode(s.substr(3));
    for (size_t i = 0; i < raw.size(); ++i) {  // every byte: nonce, ciphertext, tag
      auto t = raw;
      t[i] = static_cast<char>(t[i] ^ 0x01);
      auto r = open(k1, "v1:" + base64::encode(t), "patient-42");
      REQUIRE_FALSE(r.ok());
      CHECK(r.err().code == "seal_authentication_failed");
    }
    // Truncated: the tag no longer matches (or the value is too short).
    auto cut = open(k1, "v1:" + base64::encode(raw.substr(0, raw.size() - 1)), "patient-42");
    CHECK_FALSE(cut.ok());
  }

  TEST_CASE("malformed sealed values are errors, never crashes") {
    auto s = seal(k1, "x", "r");
    auto code = [](const result<std::string>& r) {
      return r.ok() ? std::string("ok") : r.err().code;
    };
    CHECK(code(open(k1, "", "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, "v1:", "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, "v1:AAAA", "r")) == "malformed_sealed_value");  // 3 bytes
    CHECK(code(open(k1, "v1:" + base64::encode(std::string(27, 'a')), "r")) ==
          "malformed_sealed_value");  // < 28
    CHECK(code(open(k1, "v1:not base64!", "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, s.substr(3), "r")) == "malformed_sealed_value");  // no prefix
    CHECK(code(open(k1, "v2:" + s.substr(3), "r")) == "unsupported_seal_version");
    CHECK(code(open(k1, "v10:" + s.substr(3), "r")) == "unsupported_seal_version");
    CHECK(code(open(k1, "V1:" + s.substr(3), "r")) == "malformed_sealed_value");
    // The url-safe alphabet or missing padding decode to the same bytes but are not the
    // canonical text.
    auto unpadded = s;
    while (unpadded.back() == '=') unpadded.pop_back();
    if (unpadded != s) CHECK(code(open(k1, unpadded, "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, s + "\n", "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, std::string(max_sealed_chars + 1, 'A'), "r")) == "malformed_sealed_value");
    CHECK(code(open(k1, s, "r")) == "ok");
    CHECK_THROWS_AS(seal(k1, std::string(max_plaintext_bytes + 1, 'x'), "r"), std::length_error);
  }
}

TEST_CASE("sha256: FIPS 180-2 answers, the context reused call after call and per thread") {
  using namespace medflow::crypto;
  auto check_all = [] {
    for (int i = 0; i < 3; ++i) {
      CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
      CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
  };
  check_all();
  std::thread other(check_all);
  other.join();
}
