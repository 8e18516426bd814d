#include "core/jwt.hpp"

#include "core/base64.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

using json = nlohmann::json;
using medflow::jwt::claims;
using medflow::jwt::mint_hs256;
using medflow::jwt::mint_with_pem;
using medflow::jwt::verifier;
using medflow::jwt::verifier_options;
using medflow::test::temp_dir;

constexpr int64_t now = 1'700'000'000;

struct openssl_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(OSSL_ENCODER_CTX* p) const { OSSL_ENCODER_CTX_free(p); }
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
template <class T>
using ossl_ptr = std::unique_ptr<T, openssl_free>;
using pkey_ptr = ossl_ptr<EVP_PKEY>;

pkey_ptr rsa_key() {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  if (!key) throw std::runtime_error("RSA key generation failed");
  return key;
}

pkey_ptr ec_key(const char* curve = "P-256") {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  if (!key) throw std::runtime_error("EC key generation failed");
  return key;
}

// Key generation is the slow part of these tests, so the keys are made once per run.
struct test_keys {
  pkey_ptr rsa = rsa_key();
  pkey_ptr rsa2 = rsa_key();
  pkey_ptr ec = ec_key();
  pkey_ptr ec2 = ec_key();
};

const test_keys& keys() {
  static const test_keys k;
  return k;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string public_pem(EVP_PKEY* key) {
  ossl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key) == 1);
  return bio_text(bio.get());
}

std::string private_pem(EVP_PKEY* key) {
  ossl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return bio_text(bio.get());
}

// PKCS#1 "RSA PUBLIC KEY", the form `openssl rsa -RSAPublicKey_out` writes.
std::string rsa_pkcs1_pem(EVP_PKEY* key) {
  ossl_ptr<OSSL_ENCODER_CTX> ctx(
      OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", nullptr));
  unsigned char* data = nullptr;
  size_t len = 0;
  REQUIRE(ctx);
  REQUIRE(OSSL_ENCODER_to_data(ctx.get(), &data, &len) == 1);
  ossl_ptr<unsigned char> owned(data);
  return std::string(reinterpret_cast<char*>(data), len);
}

std::string self_signed_cert_pem(EVP_PKEY* key) {
  ossl_ptr<X509> cert(X509_new());
  REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("medflow-test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  REQUIRE(X509_sign(cert.get(), key, EVP_sha256()) > 0);
  ossl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509(bio.get(), cert.get()) == 1);
  return bio_text(bio.get());
}

std::string bn_param(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* raw = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &raw) == 1);
  ossl_ptr<BIGNUM> bn(raw);
  std::string out(width ? static_cast<size_t>(width) : static_cast<size_t>(BN_num_bytes(raw)),
                  '\0');
  REQUIRE(BN_bn2binpad(raw, reinterpret_cast<unsigned char*>(out.data()),
                       static_cast<int>(out.size())) > 0);
  return medflow::base64::encode_url(out);
}

json rsa_jwk(EVP_PKEY* key, const std::string& kid) {
  json jwk = {{"kty", "RSA"},
              {"use", "sig"},
              {"alg", "RS256"},
              {"n", bn_param(key, OSSL_PKEY_PARAM_RSA_N)},
              {"e", bn_param(key, OSSL_PKEY_PARAM_RSA_E)}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

json ec_jwk(EVP_PKEY* key, const std::string& kid) {
  json jwk = {{"kty", "EC"},
              {"crv", "P-256"},
              {"x", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)},
              {"y", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)}};
  if (!kid.empty()) jwk["kid"] = kid;
  return jwk;
}

std::string write_file(const temp_dir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

json base_claims() {
  return {{"sub", "integrator-1"},
          {"scope", "tenant_t1 hri_data_integrator"},
          {"iat", now},
          {"exp", now + 3600}};
}

// A token with any header at all, HMAC-signed with `secret` (for headers mint_* won't write).
std::string hs256_token(const json& header, const json& payload, const std::string& secret) {
  std::string input = medflow::base64::encode_url(header.dump()) + "." +
                      medflow::base64::encode_url(payload.dump());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &len);
  return input + "." + medflow::base64::encode_url(std::string(reinterpret_cast<char*>(md), len));
}

verifier secret_verifier(const std::string& secret = "s3cret") {
  verifier_options o;
  o.hs256_secret = secret;
  return verifier(o);
}

verifier file_verifier(const std::string& path) {
  verifier_options o;
  o.public_keys_file = path;
  return verifier(o);
}

// The message of a refused token, after checking it is refused as 401 unauthorized.
std::string refusal(const verifier& v, const std::string& token, int64_t at = now) {
  auto r = v.verify(token, at);
  if (r.ok()) return "<accepted>";
  CHECK(r.err().status == 401);
  CHECK(r.err().code == "unauthorized");
  return r.err().message;
}

std::string load_error(const std::string& path) {
  try {
    file_verifier(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "<loaded>";
}

// Changes one byte in the decoded segment `part` (0 header, 1 payload, 2 signature).
std::string tamper(const std::string& token, int part) {
  size_t dot1 = token.find('.');
  size_t dot2 = token.find('.', dot1 + 1);
  std::string segs[3] = {token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1),
                         token.substr(dot2 + 1)};
  std::string bytes = *medflow::base64::decode(segs[part]);
  bytes[bytes.size() / 2] ^= 0x01;
  segs[part] = medflow::base64::encode_url(bytes);
  return segs[0] + "." + segs[1] + "." + segs[2];
}

}  // namespace

TEST_SUITE_BEGIN("jwt");

TEST_CASE("jwt: HS256 tokens verify with the configured secret") {
  auto v = secret_verifier();
  json payload = base_claims();
  payload["tenant"] = "t1";
  auto r = v.verify(mint_hs256(payload, "s3cret"), now);
  REQUIRE(r.ok());
  CHECK(r->sub == "integrator-1");
  CHECK(r->scopes == std::vector<std::string>{"tenant_t1", "hri_data_integrator"});
  CHECK(r->payload["tenant"] == "t1");
  CHECK(r->has_scope("tenant_t1"));
  CHECK_FALSE(r->has_scope("tenant_t"));

  std::string token = mint_hs256(payload, "s3cret");
  json header = json::parse(*medflow::base64::decode(token.substr(0, token.find('.'))));
  CHECK(header == json{{"alg", "HS256"}, {"typ", "JWT"}});

  CHECK(refusal(v, mint_hs256(payload, "other")) == "signature is invalid");
  CHECK(refusal(v, tamper(mint_hs256(payload, "s3cret"), 2)) == "signature is invalid");
  CHECK(refusal(v, tamper(mint_hs256(payload, "s3cret"), 1)) == "signature is invalid");
  CHECK_THROWS_AS(mint_hs256(payload, ""), std::invalid_argument);
}

TEST_CASE("jwt: RS256 and ES256 tokens verify with PEM public keys") {
  temp_dir dir;
  const auto& k = keys();
  auto v =
      file_verifier(write_file(dir, "keys.pem", public_pem(k.rsa.get()) + public_pem(k.ec.get())));

  std::string rs = mint_with_pem(base_claims(), "RS256", private_pem(k.rsa.get()));
  auto r = v.verify(rs, now);
  REQUIRE(r.ok());
  CHECK(r->sub == "integrator-1");

  std::string es = mint_with_pem(base_claims(), "ES256", private_pem(k.ec.get()), "key-1");
  CHECK(medflow::base64::decode(es.substr(es.rfind('.') + 1))->size() == 64);  // raw R||S
  json header = json::parse(*medflow::base64::decode(es.substr(0, es.find('.'))));
  CHECK(header == json{{"alg", "ES256"}, {"kid", "key-1"}, {"typ", "JWT"}});
  CHECK(v.verify(es, now).ok());  // an unknown kid falls back to the PEM keys

  CHECK(refusal(v, tamper(rs, 2)) == "signature is invalid");
  CHECK(refusal(v, tamper(es, 2)) == "signature is invalid");
  CHECK(refusal(v, tamper(rs, 1)) == "signature is invalid");
  CHECK(refusal(v, tamper(es, 1)) == "signature is invalid");
  // A DER signature (what OpenSSL produces) is not a JWS ES256 signature.
  std::string truncated =
      es.substr(0, es.rfind('.') + 1) + medflow::base64::encode_url(std::string(63, '\x01'));
  CHECK(refusal(v, truncated) == "signature is invalid");
}

TEST_CASE("jwt: tokens signed by another key are refused") {
  temp_dir dir;
  const auto& k = keys();
  auto v =
      file_verifier(write_file(dir, "keys.pem", public_pem(k.rsa.get()) + public_pem(k.ec.get())));
  CHECK(refusal(v, mint_with_pem(base_claims(), "RS256", private_pem(k.rsa2.get()))) ==
        "signature is invalid");
  CHECK(refusal(v, mint_with_pem(base_claims(), "ES256", private_pem(k.ec2.get()))) ==
        "signature is invalid");

  auto rsa_only = file_verifier(write_file(dir, "rsa.pem", public_pem(k.rsa.get())));
  CHECK(refusal(rsa_only, mint_with_pem(base_claims(), "ES256", private_pem(k.ec.get()))) ==
        "no key configured for algorithm ES256");
}

TEST_CASE("jwt: alg none and algorithms outside HS256/RS256/ES256 are refused") {
  auto v = secret_verifier();
  std::string unsigned_token = medflow::base64::encode_url(R"({"alg":"none","typ":"JWT"})") + "." +
                               medflow::base64::encode_url(base_claims().dump()) + ".";
  CHECK(refusal(v, unsigned_token) == "unsupported algorithm none");
  CHECK(refusal(v, hs256_token({{"alg", "none"}}, base_claims(), "s3cret")) ==
        "unsupported algorithm none");
  CHECK(refusal(v, hs256_token({{"alg", "HS512"}}, base_claims(), "s3cret")) ==
        "unsupported algorithm HS512");
  CHECK(refusal(v, hs256_token({{"alg", "hs256"}}, base_claims(), "s3cret")) ==
        "unsupported algorithm hs256");
  CHECK(refusal(v, hs256_token({{"typ", "JWT"}}, base_claims(), "s3cret")) ==
        "malformed JWS header: \"alg\" is missing or not a string");
  CHECK(refusal(v, hs256_token({{"alg", 256}}, base_claims(), "s3cret")) ==
        "malformed JWS header: \"alg\" is missing or not a string");
  CHECK(refusal(v, hs256_token({{"alg", "HS256"}, {"crit", {"exp"}}, {"exp", 1}}, base_claims(),
                               "s3cret")) == "unsupported critical header parameters");
  CHECK(refusal(v, hs256_token({{"alg", "HS256"}, {"kid", 7}}, base_claims(), "s3cret")) ==
        "malformed JWS header: \"kid\" is not a string");
}

TEST_CASE("jwt: HS256 signed with the public key is refused when only public keys are set") {
  // The classic algorithm confusion: an attacker HMACs a token with the (public) RSA key.
  temp_dir dir;
  const auto& k = keys();
  std::string pem = public_pem(k.rsa.get());
  auto v = file_verifier(write_file(dir, "rsa.pem", pem));
  CHECK(refusal(v, mint_hs256(base_claims(), pem)) == "no key configured for algorithm HS256");
  CHECK(refusal(v, hs256_token({{"alg", "HS256"}, {"kid", "0"}}, base_claims(), pem)) ==
        "no key configured for algorithm HS256");

  // With a secret as well, the public key still is not an HMAC key.
  verifier_options both;
  both.hs256_secret = "s3cret";
  both.public_keys_file = dir.file("rsa.pem");
  verifier v2(both);
  CHECK(refusal(v2, mint_hs256(base_claims(), pem)) == "signature is invalid");
  CHECK(v2.verify(mint_hs256(base_claims(), "s3cret"), now).ok());
  CHECK(v2.verify(mint_with_pem(base_claims(), "RS256", private_pem(k.rsa.get())), now).ok());
}

TEST_CASE("jwt: exp is required; exp, nbf and iat are checked with the leeway") {
  verifier_options o;
  o.hs256_secret = "s3cret";
  o.leeway_s = 60;
  verifier v(o);
  auto token_with = [](const json& extra) {
    json p = {{"sub", "s"}, {"exp", now + 3600}};
    p.update(extra);
    return mint_hs256(p, "s3cret");
  };
  CHECK(v.verify(token_with(json::object()), now).ok());
  // Without exp a token would be good forever.
  CHECK(refusal(v, mint_hs256({{"sub", "s"}}, "s3cret")) ==
        "token has no expiry (claim \"exp\" is missing)");
  CHECK(refusal(v, token_with({{"exp", nullptr}})) ==
        "token has no expiry (claim \"exp\" is missing)");
  CHECK(refusal(v, mint_hs256({{"sub", "s"}, {"nbf", now - 10}, {"iat", now - 10}}, "s3cret")) ==
        "token has no expiry (claim \"exp\" is missing)");
  // iat: in the past is fine, in the future only within the leeway.
  CHECK(v.verify(token_with({{"iat", now - 86400}}), now).ok());
  CHECK(v.verify(token_with({{"iat", now + 60}}), now).ok());
  CHECK(refusal(v, token_with({{"iat", now + 61}})) == "token is issued in the future");
  CHECK(refusal(v, token_with({{"iat", "yesterday"}})) == "claim \"iat\" is not a number");
  CHECK(v.verify(token_with({{"exp", now - 59}}), now).ok());
  CHECK(refusal(v, token_with({{"exp", now - 60}})) == "token is expired");
  CHECK(refusal(v, token_with({{"exp", now - 3600}})) == "token is expired");
  CHECK(v.verify(token_with({{"exp", now - 59.5}}), now).ok());  // NumericDate may be fractional
  CHECK(v.verify(token_with({{"nbf", now + 60}}), now).ok());
  CHECK(refusal(v, token_with({{"nbf", now + 61}})) == "token is not valid yet");
  CHECK(refusal(v, token_with({{"exp", "tomorrow"}})) == "claim \"exp\" is not a number");
  CHECK(refusal(v, token_with({{"nbf", "now"}})) == "claim \"nbf\" is not a number");

  o.leeway_s = 0;
  verifier strict(o);
  CHECK(refusal(strict, token_with({{"exp", now}})) == "token is expired");
  CHECK(strict.verify(token_with({{"exp", now + 1}}), now).ok());
  CHECK(refusal(strict, token_with({{"nbf", now + 1}})) == "token is not valid yet");
  CHECK(refusal(strict, token_with({{"iat", now + 1}})) == "token is issued in the future");
  CHECK(strict.verify(token_with({{"iat", now}}), now).ok());
}

TEST_CASE("jwt: the issuer must match when configured") {
  verifier_options o;
  o.hs256_secret = "s3cret";
  o.issuer = "https://idp.example/t1";
  verifier v(o);
  json p = base_claims();
  p["iss"] = "https://idp.example/t1";
  CHECK(v.verify(mint_hs256(p, "s3cret"), now).ok());
  p["iss"] = "https://evil.example";
  CHECK(refusal(v, mint_hs256(p, "s3cret")) ==
        "issuer \"https://evil.example\" is not \"https://idp.example/t1\"");
  p.erase("iss");
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "issuer \"\" is not \"https://idp.example/t1\"");
  p["iss"] = 5;
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "claim \"iss\" is not a string");
  // Not configured: any issuer passes.
  p["iss"] = "https://evil.example";
  CHECK(secret_verifier().verify(mint_hs256(p, "s3cret"), now).ok());
}

TEST_CASE("jwt: the audience may be a string or an array and must contain the configured one") {
  verifier_options o;
  o.hs256_secret = "s3cret";
  o.audience = "hri";
  verifier v(o);
  json p = base_claims();
  p["aud"] = "hri";
  CHECK(v.verify(mint_hs256(p, "s3cret"), now).ok());
  p["aud"] = {"other", "hri"};
  CHECK(v.verify(mint_hs256(p, "s3cret"), now).ok());
  p["aud"] = "other";
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "expected audience \"hri\" got [\"other\"]");
  p["aud"] = {"a", "b"};
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "expected audience \"hri\" got [\"a\",\"b\"]");
  p["aud"] = {"hri-x"};
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "expected audience \"hri\" got [\"hri-x\"]");
  p.erase("aud");
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "expected audience \"hri\" got []");
  p["aud"] = {"hri", 3};
  CHECK(refusal(v, mint_hs256(p, "s3cret")) ==
        "claim \"aud\" is not a string or an array of strings");
  // Not configured: any audience passes.
  p["aud"] = "other";
  CHECK(secret_verifier().verify(mint_hs256(p, "s3cret"), now).ok());
}

TEST_CASE("jwt: scopes are the whitespace-separated tokens of scope, or the scp array") {
  auto v = secret_verifier();
  auto scopes_of = [&](const json& extra) {
    json p = {{"sub", "s"}, {"exp", now + 3600}};
    p.update(extra);
    auto r = v.verify(mint_hs256(p, "s3cret"), now);
    REQUIRE(r.ok());
    return r->scopes;
  };
  using list = std::vector<std::string>;
  CHECK(scopes_of({{"scope", "  a\tb\n c  "}}) == list{"a", "b", "c"});
  CHECK(scopes_of({{"scope", ""}}) == list{});
  CHECK(scopes_of(json::object()) == list{});
  CHECK(scopes_of({{"scp", {"x", "y"}}}) == list{"x", "y"});
  CHECK(scopes_of({{"scope", "a"}, {"scp", {"x"}}}) == list{"a"});  // scope wins

  json p = {{"sub", "s"}, {"exp", now + 3600}, {"scope", {"a"}}};
  CHECK(refusal(v, mint_hs256(p, "s3cret")) == "claim \"scope\" is not a string");
  p = {{"sub", "s"}, {"exp", now + 3600}, {"scp", {"a", 1}}};
  CHECK(refusal(v, mint_hs256(p, "s3cret")) ==
        "claim \"scp\" is not a string or an array of strings");

  auto r = v.verify(mint_hs256({{"scope", "a"}, {"exp", now + 3600}}, "s3cret"), now);
  REQUIRE(r.ok());
  CHECK(r->sub == "");
  CHECK(refusal(v, mint_hs256({{"sub", 42}, {"exp", now + 3600}}, "s3cret")) ==
        "claim \"sub\" is not a string");
}

TEST_CASE("jwt: kid selects among JWKS keys") {
  temp_dir dir;
  const auto& k = keys();
  json jwks = {{"keys",
                {rsa_jwk(k.rsa.get(), "a"),
                 rsa_jwk(k.rsa2.get(), "b"),
                 ec_jwk(k.ec.get(), "c"),
                 // Keys this verifier cannot use are skipped, not fatal.
                 {{"kty", "oct"}, {"kid", "h"}, {"k", "c2VjcmV0"}},
                 {{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}},
                 {{"kty", "EC"}, {"kid", "p384"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}}}}};
  auto v = file_verifier(write_file(dir, "jwks.json", jwks.dump(2)));
  std::string rsa2_pem = private_pem(k.rsa2.get());

  CHECK(v.verify(mint_with_pem(base_claims(), "RS256", rsa2_pem, "b"), now).ok());
  CHECK(v.verify(mint_with_pem(base_claims(), "RS256", rsa2_pem), now).ok());  // tries all
  CHECK(refusal(v, mint_with_pem(base_claims(), "RS256", rsa2_pem, "a")) == "signature is invalid");
  CHECK(refusal(v, mint_with_pem(base_claims(), "RS256", rsa2_pem, "zzz")) ==
        "no key with kid \"zzz\" for algorithm RS256");
  // kid "c" is the EC key: it does not serve RS256.
  CHECK(refusal(v, mint_with_pem(base_claims(), "RS256", rsa2_pem, "c")) ==
        "no key with kid \"c\" for algorithm RS256");
  CHECK(v.verify(mint_with_pem(base_claims(), "ES256", private_pem(k.ec.get()), "c"), now).ok());
  CHECK(refusal(v, mint_with_pem(base_claims(), "ES256", private_pem(k.ec2.get()), "c")) ==
        "signature is invalid");
}

TEST_CASE("jwt: PEM keys are addressed by their position in the file") {
  temp_dir dir;
  const auto& k = keys();
  // PUBLIC KEY, CERTIFICATE and PKCS#1 RSA PUBLIC KEY blocks, with text between them.
  std::string pkcs1 = rsa_pkcs1_pem(k.rsa2.get());
  REQUIRE(pkcs1.find("-----BEGIN RSA PUBLIC KEY-----") == 0);
  std::string file =
      public_pem(k.rsa.get()) + "some comment\n" + self_signed_cert_pem(k.ec.get()) + pkcs1;
  auto v = file_verifier(write_file(dir, "keys.pem", file));
  std::string rsa2_pem = private_pem(k.rsa2.get());

  CHECK(v.verify(mint_with_pem(base_claims(), "RS256", rsa2_pem, "2"), now).ok());
  CHECK(refusal(v, mint_with_pem(base_claims(), "RS256", rsa2_pem, "0")) == "signature is invalid");
  CHECK(v.verify(mint_with_pem(base_claims(), "RS256", rsa2_pem, "idp-key-7"), now).ok());
  CHECK(v.verify(mint_with_pem(base_claims(), "ES256", private_pem(k.ec.get()), "1"), now).ok());
  CHECK(v.verify(mint_with_pem(base_claims(), "RS256", private_pem(k.rsa.get())), now).ok());
}

TEST_CASE("jwt: malformed tokens are refused with the reason") {
  auto v = secret_verifier();
  std::string good = mint_hs256(base_claims(), "s3cret");
  std::string header = good.substr(0, good.find('.'));
  std::string sig = good.substr(good.rfind('.') + 1);
  std::string payload = medflow::base64::encode_url(base_claims().dump());

  CHECK(refusal(v, "") == "compact JWS format must have three parts");
  CHECK(refusal(v, "abc") == "compact JWS format must have three parts");
  CHECK(refusal(v, header + "." + payload) == "compact JWS format must have three parts");
  CHECK(refusal(v, good + ".x") == "compact JWS format must have three parts");
  CHECK(refusal(v, "a.b.c.d.e") == "compact JWS format must have three parts");
  CHECK(refusal(v, "e30*." + payload + "." + sig) == "malformed JWS header: invalid base64url");
  CHECK(refusal(v, medflow::base64::encode_url("not json") + "." + payload + "." + sig) ==
        "malformed JWS header: not a JSON object");
  CHECK(refusal(v, medflow::base64::encode_url("[\"HS256\"]") + "." + payload + "." + sig) ==
        "malformed JWS header: not a JSON object");
  CHECK(refusal(v, header + ".a$b." + sig) == "malformed JWT payload: invalid base64url");
  CHECK(refusal(v, header + "." + payload + ".a") == "malformed JWS signature: invalid base64url");
  CHECK(refusal(v, header + "." + payload + ".") == "signature is invalid");
  CHECK(refusal(v, hs256_token({{"alg", "HS256"}}, "just a string", "s3cret")) ==
        "malformed JWT payload: not a JSON object");
  // A payload that is not JSON, validly signed: hs256_token only takes JSON, so sign by hand.
  std::string input = header + "." + medflow::base64::encode_url("{nope");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "s3cret", 6, reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), md, &len);
  std::string mac(reinterpret_cast<char*>(md), len);
  CHECK(refusal(v, input + "." + medflow::base64::encode_url(mac)) ==
        "malformed JWT payload: not a JSON object");
}

TEST_CASE("jwt: key file problems name the file and the problem") {
  temp_dir dir;
  const auto& k = keys();
  std::string missing = dir.file("missing.pem");
  CHECK(load_error(missing) ==
        "public keys file \"" + missing + "\": cannot read it: No such file or directory");
  CHECK(load_error(dir.path().string()) ==
        "public keys file \"" + dir.path().string() + "\": cannot read it: Is a directory");

  std::string empty = write_file(dir, "empty.pem", " \n");
  CHECK(load_error(empty) == "public keys file \"" + empty + "\": is empty");
  std::string junk = write_file(dir, "junk.pem", "hello\n");
  CHECK(load_error(junk) ==
        "public keys file \"" + junk + "\": contains neither PEM blocks nor a JWKS document");
  std::string priv =
      write_file(dir, "priv.pem", public_pem(k.rsa.get()) + private_pem(k.rsa.get()));
  CHECK(load_error(priv) == "public keys file \"" + priv +
                                "\": PEM block 1 (PRIVATE KEY) is not a PUBLIC KEY, RSA PUBLIC "
                                "KEY or CERTIFICATE");
  std::string bad_der =
      write_file(dir, "bad.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  CHECK(load_error(bad_der).find("public keys file \"" + bad_der +
                                 "\": PEM block 0 (PUBLIC KEY) cannot be decoded: ") == 0);
  std::string p384 = write_file(dir, "p384.pem", public_pem(ec_key("P-384").get()));
  CHECK(load_error(p384) == "public keys file \"" + p384 +
                                "\": PEM block 0 (PUBLIC KEY): EC curve secp384r1 is not "
                                "supported (ES256 needs P-256)");

  std::string bad_json = write_file(dir, "bad.json", "{\"keys\": [");
  CHECK(load_error(bad_json) == "public keys file \"" + bad_json + "\": is not valid JSON");
  std::string no_keys = write_file(dir, "nokeys.json", R"({"kty":"RSA"})");
  CHECK(load_error(no_keys) == "public keys file \"" + no_keys + "\": JWKS has no \"keys\" array");
  std::string none_usable = write_file(dir, "none.json", R"({"keys":[{"kty":"oct","k":"AA"}]})");
  CHECK(load_error(none_usable) ==
        "public keys file \"" + none_usable + "\": JWKS has no RS256 or ES256 signing key");
  std::string no_n =
      write_file(dir, "non.json", R"({"keys":[{"kty":"RSA","kid":"k1","e":"AQAB"}]})");
  CHECK(load_error(no_n) == "public keys file \"" + no_n +
                                "\": JWKS key 0 (kid \"k1\"): \"n\" is missing or not base64url");
  std::string no_kty = write_file(dir, "nokty.json", R"({"keys":[{"n":"AQAB"}]})");
  CHECK(load_error(no_kty) ==
        "public keys file \"" + no_kty + "\": JWKS key 0: \"kty\" is missing");
  std::string short_x = write_file(
      dir, "shortx.json", R"({"keys":[{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}]})");
  CHECK(load_error(short_x) ==
        "public keys file \"" + short_x +
            "\": JWKS key 0: \"x\" is missing or not a 32-byte base64url value");
  json off_curve = ec_jwk(k.ec.get(), "");
  off_curve["y"] = off_curve["x"];
  std::string off = write_file(dir, "off.json", json{{"keys", {off_curve}}}.dump());
  CHECK(load_error(off).find("public keys file \"" + off + "\": JWKS key 0: ") == 0);
}

namespace {

// `input` ("header.payload" exactly as given) with its HS256 signature appended.
std::string sign_as_is(const std::string& input, const std::string& secret = "s3cret") {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &len);
  return input + "." + medflow::base64::encode_url(std::string(reinterpret_cast<char*>(md), len));
}

}  // namespace

TEST_CASE("jwt: the three parts are strict base64url: no padding, no other alphabet, no spare bits") {
  auto v = secret_verifier();
  std::string header_json = R"({"alg":"HS256","typ":"JWT"})";  // 27 bytes: no padding needed
  json claims_json = base_claims();
  claims_json["note"] = "~~~~~~";  // 0x7E7E7E encodes as "fn5-": a character the alphabets differ in
  std::string header = medflow::base64::encode_url(header_json);
  std::string payload = medflow::base64::encode_url(claims_json.dump());
  REQUIRE(payload.find('-') != std::string::npos);
  REQUIRE(v.verify(sign_as_is(header + "." + payload), now).ok());

  // Padding, even where it would be right in plain base64, correctly signed.
  std::string padded_header = medflow::base64::encode_url(R"({"alg":"HS256"})");  // 15 bytes
  REQUIRE(v.verify(sign_as_is(padded_header + "." + payload), now).ok());
  std::string with_pad = medflow::base64::encode(R"({"alg":"HS256" })");  // 16 bytes: "=="
  REQUIRE(with_pad.back() == '=');
  CHECK(refusal(v, sign_as_is(with_pad + "." + payload)) ==
        "malformed JWS header: invalid base64url");
  // The standard alphabet's '+' where base64url has '-'.
  std::string plus = payload;
  std::replace(plus.begin(), plus.end(), '-', '+');
  CHECK(refusal(v, sign_as_is(header + "." + plus)) == "malformed JWT payload: invalid base64url");
  // A signature of 32 bytes is 43 characters whose last one carries 2 unused bits: set one.
  std::string good = sign_as_is(header + "." + payload);
  std::string sig = good.substr(good.rfind('.') + 1);
  REQUIRE(sig.size() == 43);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t last = alphabet.find(sig.back());
  REQUIRE(last % 4 == 0);
  std::string spare = good.substr(0, good.size() - 1) + alphabet[last | 1];
  CHECK(refusal(v, spare) == "malformed JWS signature: invalid base64url");
  // Padding on the signature.
  CHECK(refusal(v, good + "=") == "malformed JWS signature: invalid base64url");
  // Whitespace inside a part.
  CHECK(refusal(v, header + ".\n" + payload.substr(1) + "." + sig) ==
        "malformed JWT payload: invalid base64url");
}

TEST_CASE("jwt: header and payload nested deeper than json.max_depth are refused, naming it") {
  auto v = secret_verifier();
  std::string deep_object;
  for (int i = 0; i < 300; ++i) deep_object += "{\"a\":";
  deep_object += "1" + std::string(300, '}');
  std::string header = medflow::base64::encode_url(R"({"alg":"HS256","x":)" + deep_object + "}");
  std::string payload = medflow::base64::encode_url(base_claims().dump());
  CHECK(refusal(v, sign_as_is(header + "." + payload)) ==
        "malformed JWS header: nesting deeper than 256 levels (json.max_depth) at line 1, "
        "column 1295");
  std::string claims_text = base_claims().dump();
  claims_text.insert(1, "\"deep\":" + deep_object + ",");
  std::string deep_payload = medflow::base64::encode_url(claims_text);
  std::string good_header = medflow::base64::encode_url(R"({"alg":"HS256","typ":"JWT"})");
  CHECK(refusal(v, sign_as_is(good_header + "." + deep_payload)) ==
        "malformed JWT payload: nesting deeper than 256 levels (json.max_depth) at line 1, "
        "column 1284");
}

TEST_CASE("jwt: minting with a PEM key checks the algorithm against the key") {
  const auto& k = keys();
  CHECK_THROWS_WITH_AS(mint_with_pem(base_claims(), "ES256", private_pem(k.rsa.get())),
                       "private key is for RS256, not ES256", std::invalid_argument);
  CHECK_THROWS_WITH_AS(mint_with_pem(base_claims(), "RS256", private_pem(k.ec.get())),
                       "private key is for ES256, not RS256", std::invalid_argument);
  CHECK_THROWS_WITH_AS(mint_with_pem(base_claims(), "PS256", private_pem(k.rsa.get())),
                       "unsupported signing algorithm PS256 (RS256 or ES256)",
                       std::invalid_argument);
  CHECK_THROWS_AS(mint_with_pem(base_claims(), "RS256", public_pem(k.rsa.get())),
                  std::invalid_argument);
  CHECK_THROWS_WITH_AS(mint_hs256(json::array(), "s3cret"), "JWT payload must be a JSON object",
                       std::invalid_argument);
}

TEST_SUITE_END();
