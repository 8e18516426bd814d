#include "core/crypto.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace medflow::crypto {

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out, &n, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string sha256_hex(std::string_view data) {
  static const char digits[] = "0123456789abcdef";
  auto raw = sha256(data);
  std::string s;
  s.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

}  // namespace medflow::crypto
