#include "core/ids.hpp"

#include "core/clock.hpp"
#include "core/strings.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>

namespace medflow::ids {
namespace {

void random_bytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

// Identifiers take their random bytes from a per-thread buffer that OpenSSL's generator fills
// 512 bytes at a time: each RAND_bytes call costs about what filling 512 bytes does (its lock,
// its DRBG state), and every request id and job nonce drew 8 – 16 bytes on their own (2.6 % of
// medflowd's CPU in the jobs profile, issue 20). The bytes are the generator's either way;
// those handed out are wiped from the buffer. Only for ids of up to 16 bytes: keys (32) draw
// directly. medflowd does not fork, so no two processes share a buffer.
constexpr size_t max_buffered = 16;

void id_bytes(unsigned char* out, size_t n) {
  if (n > max_buffered) return random_bytes(out, n);
  struct pool {
    unsigned char bytes[512];
    size_t left = 0;
    ~pool() { OPENSSL_cleanse(bytes, sizeof bytes); }
  };
  thread_local pool p;
  if (p.left < n) {
    random_bytes(p.bytes, sizeof p.bytes);
    p.left = sizeof p.bytes;
  }
  unsigned char* from = p.bytes + (p.left - n);
  std::memcpy(out, from, n);
  OPENSSL_cleanse(from, n);
  p.left -= n;
}

const char hexdigits[] = "0123456789abcdef";

void hex(std::string& out, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out += hexdigits[p[i] >> 4];
    out += hexdigits[p[i] & 15];
  }
}

}  // namespace

std::string uuid4() {
  unsigned char b[16];
  id_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string s;
  s.reserve(36);
  hex(s, b, 4);
  s += '-';
  hex(s, b + 4, 2);
  s += '-';
  hex(s, b + 6, 2);
  s += '-';
  hex(s, b + 8, 2);
  s += '-';
  hex(s, b + 10, 6);
  return s;
}

std::string object_id() {
  // 4-byte seconds, 5-byte process-random, 3-byte counter: the ObjectId layout.
  static const auto process_random = [] {
    std::array<unsigned char, 5> r{};
    random_bytes(r.data(), r.size());
    return r;
  }();
  static std::atomic<uint32_t> counter{[] {
    unsigned char c[4];
    random_bytes(c, 4);
    return static_cast<uint32_t>(c[0] | c[1] << 8 | c[2] << 16);
  }()};
  uint32_t secs = static_cast<uint32_t>(clock::now_ms() / 1000);
  uint32_t n = counter.fetch_add(1, std::memory_order_relaxed);
  unsigned char b[12] = {static_cast<unsigned char>(secs >> 24), static_cast<unsigned char>(secs >> 16),
                         static_cast<unsigned char>(secs >> 8), static_cast<unsigned char>(secs),
                         process_random[0], process_random[1], process_random[2],
                         process_random[3], process_random[4],
                         static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 8),
                         static_cast<unsigned char>(n)};
  std::string s;
  s.reserve(24);
  hex(s, b, 12);
  return s;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!strings::is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

bool is_object_id(std::string_view s) {
  if (s.size() != 24) return false;
  for (char c : s)
    if (!strings::is_hex(c)) return false;
  return true;
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  id_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n);
  std::string s;
  s.reserve(n * 2);
  hex(s, reinterpret_cast<const unsigned char*>(bytes.data()), n);
  return s;
}

}  // namespace medflow::ids
