// libFuzzer target for the JWT verifier (src/core/jwt.cpp) and the strict base64url decoder
// under it (src/core/base64.cpp).
//
// Input, by its first byte:
// - 'S': "<header JSON>\0<payload JSON>", encoded and signed here with the verifier's HS256
//   secret, so the claims checks (exp required, nbf, iat, iss, aud, scopes) see arbitrary JSON;
// - anything else: the bytes after it are the token, as a client would send it (the verifier
//   also holds an EC P-256 public key, so ES256 tokens reach OpenSSL).
// These must hold:
// - a refusal is 401 "unauthorized" with a message; an accepted token has a numeric exp that is
//   not past (with the leeway), nbf and iat not in the future, and an object payload;
// - a token is accepted only if its three parts are strict base64url, and re-encoding what they
//   decode to gives the same text (one encoding per byte string);
// - decode_url_strict(encode_url(x)) == x for the decoded bytes.
#include "core/base64.hpp"
#include "core/jwt.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

namespace jwt = medflow::jwt;
namespace base64 = medflow::base64;

constexpr int64_t now = 1'700'000'000;
constexpr int64_t leeway = 60;
const char* const secret = "fuzz-secret";

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size() > 2000 ? 2000 : input.size()), input.data());
  std::abort();
}

// A P-256 public key in a temporary PEM file, made once.
std::string ec_public_key_file() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) std::abort();
  char path[] = "/tmp/medflow-jwt-fuzz-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) std::abort();
  FILE* f = fdopen(fd, "w");
  if (!f || PEM_write_PUBKEY(f, key) != 1) std::abort();
  std::fclose(f);
  EVP_PKEY_free(key);
  return path;
}

const jwt::verifier& the_verifier() {
  static const std::unique_ptr<jwt::verifier> v = [] {
    jwt::verifier_options o;
    o.hs256_secret = secret;
    o.public_keys_file = ec_public_key_file();
    o.leeway_s = leeway;
    auto made = std::make_unique<jwt::verifier>(o);
    unlink(o.public_keys_file.c_str());
    return made;
  }();
  return *v;
}

std::string hs256(const std::string& input) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret, static_cast<int>(std::string_view(secret).size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

void check_part(std::string_view part, std::string_view input) {
  auto bytes = base64::decode_url_strict(part);
  require(bytes.has_value(), "accepted a part that is not strict base64url", input);
  require(base64::encode_url(*bytes) == part, "a part has a second encoding", input);
  require(base64::decode_url_strict(base64::encode_url(*bytes)) == bytes, "round trip", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string token;
  if (input[0] == 'S') {
    std::string_view rest = input.substr(1);
    std::size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) return 0;
    std::string signing_input = base64::encode_url(rest.substr(0, nul)) + "." +
                                base64::encode_url(rest.substr(nul + 1));
    token = signing_input + "." + base64::encode_url(hs256(signing_input));
  } else {
    token.assign(input.substr(1));
  }

  auto r = the_verifier().verify(token, now);
  if (!r.ok()) {
    require(r.err().status == 401 && r.err().code == "unauthorized", "refusal is not 401", input);
    require(!r.err().message.empty(), "refusal without a message", input);
    return 0;
  }
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = token.find('.', dot1 + 1);
  std::string_view view(token);
  check_part(view.substr(0, dot1), input);
  check_part(view.substr(dot1 + 1, dot2 - dot1 - 1), input);
  check_part(view.substr(dot2 + 1), input);
  const auto& p = r->payload;
  require(p.is_object(), "accepted a payload that is not an object", input);
  require(p.contains("exp") && p["exp"].is_number(), "accepted a token without exp", input);
  require(p["exp"].get<double>() > static_cast<double>(now - leeway), "accepted an expired token",
          input);
  if (p.contains("nbf") && !p["nbf"].is_null()) {
    require(p["nbf"].get<double>() <= static_cast<double>(now + leeway), "nbf in the future",
            input);
  }
  if (p.contains("iat") && !p["iat"].is_null()) {
    require(p["iat"].get<double>() <= static_cast<double>(now + leeway), "iat in the future",
            input);
  }
  return 0;
}
