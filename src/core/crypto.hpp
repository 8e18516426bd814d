// Digests, keyed hashes and authenticated encryption at rest.
//
// Sealing (AES-256-GCM) is for personal data stored in the database (names, e-mail addresses,
// phone numbers). The sealed text form is self-describing and safe in a TEXT column:
//
//   "v1:" base64( nonce (12 bytes) || ciphertext || tag (16 bytes) )
//
// Every seal draws a fresh random 96-bit nonce from OpenSSL's RAND_bytes, so sealing the same
// value twice gives two different texts. The associated data (aad) binds a sealed value to
// its place: pass the record's id, so a value copied into another record no longer opens (the
// ZMED reference used one fixed IV and one fixed aad for everything, which breaks GCM).
//
// keyed_hash gives a stable HMAC-SHA256 of a value for lookup columns (find a patient by
// document without storing the document in clear). Use a key of its own, not the sealing key.
#pragma once

#include "core/error.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace medflow::crypto {

std::string sha256(std::string_view data);      // raw 32 bytes
std::string sha256_hex(std::string_view data);  // 64 lowercase hex digits

// HMAC-SHA256 of data under key (raw 32 bytes); any key length.
std::string hmac_sha256(std::string_view key, std::string_view data);

std::string to_hex(std::string_view bytes);  // lowercase
// nullopt unless `hex` is an even number of hex digits (either case).
std::optional<std::string> from_hex(std::string_view hex);

// A 256-bit key, for sealing or for keyed hashes.
struct key256 {
  std::array<unsigned char, 32> bytes{};
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};

// A key from exactly 64 hex digits (surrounding whitespace is not trimmed); the error says
// what is wrong (length, a non-hex character) without echoing the key.
result<key256> parse_key_hex(std::string_view hex);

// Largest plaintext seal accepts and largest sealed text open reads: sealed values live in
// database columns, not files.
constexpr size_t max_plaintext_bytes = 16 * 1024 * 1024;
constexpr size_t max_sealed_chars = (max_plaintext_bytes + 28 + 2) / 3 * 4 + 3;

// The sealed text of plaintext under key, bound to aad. Throws std::length_error above
// max_plaintext_bytes and std::runtime_error if OpenSSL fails (no randomness): both are
// programming or system faults, not data errors.
std::string seal(const key256& key, std::string_view plaintext, std::string_view aad);

// The plaintext of a sealed text, or an error value (never an exception):
//   code "malformed_sealed_value"  not "v1:" + canonical base64 of at least 28 bytes, or too big
//   code "unsupported_seal_version" another "vN:" prefix
//   code "seal_authentication_failed" wrong key, wrong aad, or altered bytes (GCM cannot tell
//                                     these apart, by design)
result<std::string> open(const key256& key, std::string_view sealed, std::string_view aad);

// Lowercase hex HMAC-SHA256 of text under key, for lookup columns.
std::string keyed_hash(const key256& key, std::string_view text);

// The raw primitive, exposed for known-answer tests: AES-256-GCM with a caller-given 12-byte
// iv (never reuse one under a key; seal draws them). Output: ciphertext || 16-byte tag.
std::string aes256_gcm_encrypt(const key256& key, std::string_view iv, std::string_view plaintext,
                               std::string_view aad);
// nullopt when the tag does not verify. `sealed` is ciphertext || tag.
std::optional<std::string> aes256_gcm_decrypt(const key256& key, std::string_view iv,
                                              std::string_view sealed, std::string_view aad);

}  // namespace medflow::crypto
