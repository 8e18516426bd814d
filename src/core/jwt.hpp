// JSON Web Tokens (RFC 7519) for bearer authentication: verification of HS256, RS256 and
// ES256 signatures with configured keys (a shared secret, PEM public keys, or a JWKS file),
// the registered claims (exp required, nbf, iat, iss, aud), and minting for local development
// tools. The three parts are strict base64url (RFC 7515: no padding, one encoding per value);
// header and payload are JSON within json.max_depth.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace medflow::jwt {

struct verifier_options {
  std::string hs256_secret;       // empty: HS256 not accepted
  std::string public_keys_file;   // PEM (one or more public keys / certificates) or JWKS JSON
  std::string issuer;             // empty: not checked
  std::string audience;           // empty: not checked; else must be in "aud" (string or array)
  int64_t leeway_s = 60;          // clock skew allowed for exp, nbf and iat
};

// A verified token's claims.
struct claims {
  nlohmann::json payload;
  std::string sub;
  std::vector<std::string> scopes;  // "scope" split on whitespace (exact tokens)
  bool has_scope(const std::string& s) const;
};

class verifier {
 public:
  // Loads keys; throws std::runtime_error naming the file and what is wrong with it.
  explicit verifier(verifier_options opts);
  ~verifier();
  // Verifies a compact JWS ("xxx.yyy.zzz"). The error message says why it was refused, e.g.
  // "token is expired", "signature is invalid", "audience \"x\" not in [\"y\"]".
  result<claims> verify(const std::string& token, int64_t now_s) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Signs a token (HS256 with a secret, or RS256/ES256 with a PEM private key).
std::string mint_hs256(const nlohmann::json& payload, const std::string& secret);
std::string mint_with_pem(const nlohmann::json& payload, const std::string& alg,
                          const std::string& private_key_pem, const std::string& kid = "");

}  // namespace medflow::jwt
