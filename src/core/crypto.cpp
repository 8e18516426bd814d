#include "core/crypto.hpp"

#include "core/base64.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace medflow::crypto {

namespace {

constexpr size_t nonce_bytes = 12;
constexpr size_t tag_bytes = 16;
constexpr std::string_view version_prefix = "v1:";

struct cipher_ctx_free {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

error open_error(std::string code, std::string message) {
  return {500, std::move(code), std::move(message), {}};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Shared by encrypt and decrypt: a context set up for AES-256-GCM with a 12-byte iv and the
// aad fed in.
cipher_ctx gcm_context(bool encrypt, const key256& key, std::string_view iv, std::string_view aad) {
  if (iv.size() != nonce_bytes) throw std::invalid_argument("AES-GCM iv must be 12 bytes");
  if (aad.size() > max_plaintext_bytes) throw std::length_error("AES-GCM aad too large");
  cipher_ctx ctx{EVP_CIPHER_CTX_new()};
  if (!ctx) throw std::runtime_error("EVP_CIPHER_CTX_new failed");
  auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
  int outl = 0;
  if (init(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_bytes),
                          nullptr) != 1 ||
      init(ctx.get(), nullptr, nullptr, key.bytes.data(), bytes(iv)) != 1)
    throw std::runtime_error("AES-GCM init failed");
  if (!aad.empty()) {
    auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
    if (update(ctx.get(), nullptr, &outl, bytes(aad), static_cast<int>(aad.size())) != 1)
      throw std::runtime_error("AES-GCM aad failed");
  }
  return ctx;
}

}  // namespace

std::string sha256(std::string_view data) {
  // The algorithm fetched once and a context per thread, reused: EVP_Digest with EVP_sha256()
  // fetches the implementation and allocates a context on every call, which costs ten times the
  // hashing of a short text (every job's request hash, issue 20).
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local context c;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!md || !c.ctx || EVP_DigestInit_ex2(c.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(c.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(c.ctx, out, &n) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string sha256_hex(std::string_view data) {
  return to_hex(sha256(data));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), out,
            &n))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string to_hex(std::string_view raw) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

result<key256> parse_key_hex(std::string_view hex) {
  if (hex.size() != 64)
    return error{
        400,
        "invalid_key",
        "a 256-bit key must be 64 hex digits, got " + std::to_string(hex.size()) + " characters",
        {}};
  for (size_t i = 0; i < hex.size(); ++i)
    if (hex_value(hex[i]) < 0)
      return error{400,
                   "invalid_key",
                   "a 256-bit key must be 64 hex digits; character " + std::to_string(i + 1) +
                       " is not a hex digit",
                   {}};
  key256 k;
  auto raw = *from_hex(hex);
  for (size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<unsigned char>(raw[i]);
  return k;
}

std::string aes256_gcm_encrypt(const key256& key, std::string_view iv, std::string_view plaintext,
                               std::string_view aad) {
  if (plaintext.size() > max_plaintext_bytes) throw std::length_error("plaintext too large");
  auto ctx = gcm_context(true, key, iv, aad);
  std::string out(plaintext.size() + tag_bytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, fin = 0;
  if (EVP_EncryptUpdate(ctx.get(), o, &n, bytes(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes),
                          o + plaintext.size()) != 1)
    throw std::runtime_error("AES-GCM encryption failed");
  return out;
}

std::optional<std::string> aes256_gcm_decrypt(const key256& key, std::string_view iv,
                                              std::string_view sealed, std::string_view aad) {
  if (sealed.size() < tag_bytes || sealed.size() > max_plaintext_bytes + tag_bytes)
    return std::nullopt;
  auto ctx = gcm_context(false, key, iv, aad);
  auto ciphertext = sealed.substr(0, sealed.size() - tag_bytes);
  std::string tag(sealed.substr(ciphertext.size()));
  std::string out(ciphertext.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, fin = 0;
  if (EVP_DecryptUpdate(ctx.get(), o, &n, bytes(ciphertext), static_cast<int>(ciphertext.size())) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes),
                          tag.data()) != 1)
    throw std::runtime_error("AES-GCM decryption setup failed");
  // Final is where GCM compares the tag: failure means wrong key, aad or bytes.
  if (EVP_DecryptFinal_ex(ctx.get(), o + n, &fin) != 1) return std::nullopt;
  return out;
}

std::string seal(const key256& key, std::string_view plaintext, std::string_view aad) {
  if (plaintext.size() > max_plaintext_bytes) throw std::length_error("plaintext too large");
  unsigned char nonce[nonce_bytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string iv(reinterpret_cast<char*>(nonce), sizeof nonce);
  return std::string(version_prefix) +
         base64::encode(iv + aes256_gcm_encrypt(key, iv, plaintext, aad));
}

result<std::string> open(const key256& key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() > max_sealed_chars)
    return open_error("malformed_sealed_value", "sealed value too large");
  if (sealed.substr(0, version_prefix.size()) != version_prefix) {
    auto colon = sealed.find(':');
    bool versioned = sealed.size() > 1 && sealed[0] == 'v' && colon != std::string_view::npos &&
                     colon > 1 && colon < 12;
    for (size_t i = 1; versioned && i < colon; ++i)
      versioned = sealed[i] >= '0' && sealed[i] <= '9';
    if (versioned)
      return open_error("unsupported_seal_version", "sealed value of unsupported version " +
                                                        std::string(sealed.substr(0, colon)));
    return open_error("malformed_sealed_value", "sealed value does not start with v1:");
  }
  auto body = sealed.substr(version_prefix.size());
  auto raw = base64::decode(body);
  // Only the canonical encoding opens, so one stored value has exactly one text.
  if (!raw || base64::encode(*raw) != body)
    return open_error("malformed_sealed_value", "sealed value is not canonical base64");
  if (raw->size() < nonce_bytes + tag_bytes)
    return open_error("malformed_sealed_value", "sealed value too short");
  auto view = std::string_view(*raw);
  auto plain = aes256_gcm_decrypt(key, view.substr(0, nonce_bytes), view.substr(nonce_bytes), aad);
  if (!plain)
    return open_error("seal_authentication_failed",
                      "sealed value does not open: wrong key, wrong record or altered");
  return std::move(*plain);
}

std::string keyed_hash(const key256& key, std::string_view text) {
  return to_hex(hmac_sha256(key.view(), text));
}

}  // namespace medflow::crypto
