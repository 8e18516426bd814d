#include "core/jwt.hpp"

#include "core/base64.hpp"
#include "core/json.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace medflow::jwt {

namespace {

using json = nlohmann::json;

// One deleter for every OpenSSL type this file owns, so each handle is a unique_ptr.
struct openssl_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(char* p) const { OPENSSL_free(p); }
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
template <class T>
using ossl_ptr = std::unique_ptr<T, openssl_free>;

// ES256 signatures in JWS are R and S as fixed-width big-endian integers (RFC 7518 3.4).
constexpr size_t p256_coordinate_size = 32;
constexpr size_t hs256_size = 32;

// Failed OpenSSL calls leave entries on the calling thread's error queue; unless they are
// dropped they surface later as bogus errors in unrelated code on the same thread (TLS).
struct error_queue_guard {
  ~error_queue_guard() { ERR_clear_error(); }
};

std::string openssl_error_text() {
  unsigned long code = ERR_peek_last_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

error unauthorized(std::string message) {
  return error{401, "unauthorized", std::move(message), {}};
}

// JSON quoting, so that quotes or control characters in a token cannot garble a message.
std::string quote(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string quote_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += quote(items[i]);
  }
  return out + "]";
}

// -- signatures --------------------------------------------------------------------------------

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // HMAC() with a zero-length key must still get a valid pointer.
  static const unsigned char empty_key = 0;
  const void* key_ptr = key.empty() ? &empty_key : static_cast<const void*>(key.data());
  if (!HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &md_len)) {
    throw std::runtime_error("HMAC-SHA256 failed: " + openssl_error_text());
  }
  return std::string(reinterpret_cast<const char*>(md), md_len);
}

// JWS raw R||S -> the DER ECDSA-Sig-Value OpenSSL verifies; nullopt if not 64 bytes.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * p256_coordinate_size) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ossl_ptr<ECDSA_SIG> sig(ECDSA_SIG_new());
  ossl_ptr<BIGNUM> r(BN_bin2bn(bytes, p256_coordinate_size, nullptr));
  ossl_ptr<BIGNUM> s(BN_bin2bn(bytes + p256_coordinate_size, p256_coordinate_size, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    throw std::bad_alloc();
  }
  // ECDSA_SIG_set0 took ownership of r and s.
  r.release();
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

// DER ECDSA-Sig-Value from OpenSSL -> JWS raw R||S.
std::string ecdsa_der_to_raw(std::string_view der) {
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  ossl_ptr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (!sig) throw std::runtime_error("ECDSA signature is not DER: " + openssl_error_text());
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * p256_coordinate_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, p256_coordinate_size) < 0 ||
      BN_bn2binpad(s, out + p256_coordinate_size, p256_coordinate_size) < 0) {
    throw std::runtime_error("ECDSA signature does not fit P-256");
  }
  return raw;
}

bool verify_sha256(EVP_PKEY* key, std::string_view input, std::string_view sig) {
  ossl_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string sign_sha256(EVP_PKEY* key, std::string_view input) {
  ossl_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    throw std::runtime_error("cannot sign the token: " + openssl_error_text());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1) {
    throw std::runtime_error("cannot sign the token: " + openssl_error_text());
  }
  sig.resize(len);
  return sig;
}

// -- keys --------------------------------------------------------------------------------------

// The JWS algorithm a public key can verify, or why it cannot be used.
struct key_kind {
  std::string alg;      // "RS256" / "ES256"; empty when unusable
  std::string problem;  // set when alg is empty
};

key_kind classify(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return {"RS256", ""};
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
      return {"", "EC key without a named curve is not supported (ES256 needs P-256)"};
    }
    if (std::string_view(group) != SN_X9_62_prime256v1) {
      return {"", std::string("EC curve ") + group + " is not supported (ES256 needs P-256)"};
    }
    return {"ES256", ""};
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return {"", std::string("key type ") + (type ? type : "unknown") +
                  " is not supported (RSA or EC P-256 only)"};
}

struct loaded_key {
  std::string alg;     // RS256 or ES256
  std::string kid;     // the JWKS kid, or the position in a PEM file ("0", "1", ...)
  bool named = false;  // kid came from the JWKS (PEM positions are only a convenience)
  ossl_ptr<EVP_PKEY> pkey;
};

class key_file_error : public std::runtime_error {
 public:
  key_file_error(const std::string& path, const std::string& problem)
      : std::runtime_error("public keys file " + quote(path) + ": " + problem) {}
};

std::string read_whole_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw key_file_error(path, std::string("cannot read it: ") + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  std::string text;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  if (std::ferror(f)) {
    throw key_file_error(path, std::string("cannot read it: ") + std::strerror(errno));
  }
  return text;
}

std::vector<loaded_key> load_pem_keys(const std::string& path, const std::string& text) {
  ossl_ptr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw std::bad_alloc();
  std::vector<loaded_key> keys;
  for (size_t index = 0;; ++index) {
    char* name_raw = nullptr;
    char* header_raw = nullptr;
    unsigned char* data_raw = nullptr;
    long len = 0;
    ERR_clear_error();
    int ok = PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len);
    ossl_ptr<char> name(name_raw), header(header_raw);
    ossl_ptr<unsigned char> data(data_raw);
    if (!ok) {
      // "No start line" is how PEM_read_bio reports that no further block follows.
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) break;
      throw key_file_error(
          path, "PEM block " + std::to_string(index) + " is malformed: " + openssl_error_text());
    }
    const std::string block = name_raw;
    const std::string where = "PEM block " + std::to_string(index) + " (" + block + ")";
    const unsigned char* p = data.get();
    ossl_ptr<EVP_PKEY> key;
    if (block == "PUBLIC KEY") {
      key.reset(d2i_PUBKEY(nullptr, &p, len));
    } else if (block == "RSA PUBLIC KEY") {
      key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, len));
    } else if (block == "CERTIFICATE") {
      ossl_ptr<X509> cert(d2i_X509(nullptr, &p, len));
      if (cert) key.reset(X509_get_pubkey(cert.get()));
    } else {
      // Refusing private keys here keeps a misplaced secret from being silently accepted.
      throw key_file_error(path, where + " is not a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE");
    }
    if (!key) throw key_file_error(path, where + " cannot be decoded: " + openssl_error_text());
    key_kind kind = classify(key.get());
    if (kind.alg.empty()) throw key_file_error(path, where + ": " + kind.problem);
    keys.push_back({kind.alg, std::to_string(index), false, std::move(key)});
  }
  if (keys.empty()) throw key_file_error(path, "contains neither PEM blocks nor a JWKS document");
  return keys;
}

// A base64url JWK member decoded to bytes; nullopt when missing, not a string, or not base64.
std::optional<std::string> jwk_bytes(const json& jwk, const char* member) {
  auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string()) return std::nullopt;
  auto bytes = base64::decode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return std::nullopt;
  return bytes;
}

ossl_ptr<EVP_PKEY> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  ossl_ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  ossl_ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return ossl_ptr<EVP_PKEY>(raw);
}

ossl_ptr<BIGNUM> to_bignum(const std::string& bytes) {
  ossl_ptr<BIGNUM> bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()), nullptr));
  if (!bn) throw std::bad_alloc();
  return bn;
}

ossl_ptr<EVP_PKEY> rsa_from_jwk(const json& jwk, const std::string& path,
                                const std::string& where) {
  auto n = jwk_bytes(jwk, "n");
  if (!n) throw key_file_error(path, where + ": \"n\" is missing or not base64url");
  auto e = jwk_bytes(jwk, "e");
  if (!e) throw key_file_error(path, where + ": \"e\" is missing or not base64url");
  ossl_ptr<BIGNUM> n_bn = to_bignum(*n), e_bn = to_bignum(*e);
  ossl_ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    throw std::bad_alloc();
  }
  auto key = pkey_from_params("RSA", bld.get());
  if (!key) throw key_file_error(path, where + ": invalid RSA key: " + openssl_error_text());
  return key;
}

ossl_ptr<EVP_PKEY> ec_from_jwk(const json& jwk, const std::string& path, const std::string& where) {
  auto x = jwk_bytes(jwk, "x");
  auto y = jwk_bytes(jwk, "y");
  // RFC 7518 6.2.1.2: coordinates are the full field size, leading zeros included.
  if (!x || x->size() != p256_coordinate_size) {
    throw key_file_error(path, where + ": \"x\" is missing or not a 32-byte base64url value");
  }
  if (!y || y->size() != p256_coordinate_size) {
    throw key_file_error(path, where + ": \"y\" is missing or not a 32-byte base64url value");
  }
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  ossl_ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1,
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    throw std::bad_alloc();
  }
  auto key = pkey_from_params("EC", bld.get());
  if (!key) throw key_file_error(path, where + ": invalid EC key: " + openssl_error_text());
  // An off-curve point would make every signature check meaningless (invalid-curve attacks).
  ossl_ptr<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    throw key_file_error(path, where + ": EC point is not on P-256");
  }
  return key;
}

std::vector<loaded_key> load_jwks(const std::string& path, const std::string& text) {
  auto parsed = parse_json_limited(text);
  if (!parsed) {
    // A limit names itself; a syntax error keeps the short text.
    throw key_file_error(path, parsed.err().detail.is_null()
                                   ? std::string("is not valid JSON")
                                   : "is not valid JSON: " + parsed.err().message);
  }
  json doc = std::move(*parsed);
  auto list = doc.is_object() ? doc.find("keys") : doc.end();
  if (!doc.is_object() || list == doc.end() || !list->is_array()) {
    throw key_file_error(path, "JWKS has no \"keys\" array");
  }
  std::vector<loaded_key> keys;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& jwk = (*list)[i];
    std::string where = "JWKS key " + std::to_string(i);
    if (!jwk.is_object()) throw key_file_error(path, where + " is not an object");
    auto member = [&](const char* name) -> std::optional<std::string> {
      auto it = jwk.find(name);
      if (it == jwk.end()) return std::nullopt;
      if (!it->is_string()) {
        throw key_file_error(path, where + ": \"" + name + "\" is not a string");
      }
      return it->get<std::string>();
    };
    auto kid = member("kid");
    if (kid) where += " (kid " + quote(*kid) + ")";
    auto kty = member("kty");
    if (!kty) throw key_file_error(path, where + ": \"kty\" is missing");
    auto use = member("use");
    auto alg = member("alg");
    auto crv = member("crv");
    // An identity provider's JWKS may also publish encryption keys or algorithms this
    // verifier does not implement; those are skipped rather than failing the whole file.
    if (use && *use != "sig") continue;
    ossl_ptr<EVP_PKEY> key;
    std::string key_alg;
    if (*kty == "RSA" && (!alg || *alg == "RS256")) {
      key = rsa_from_jwk(jwk, path, where);
      key_alg = "RS256";
    } else if (*kty == "EC" && crv && *crv == "P-256" && (!alg || *alg == "ES256")) {
      key = ec_from_jwk(jwk, path, where);
      key_alg = "ES256";
    } else {
      continue;
    }
    keys.push_back({key_alg, kid.value_or(""), kid.has_value(), std::move(key)});
  }
  if (keys.empty()) throw key_file_error(path, "JWKS has no RS256 or ES256 signing key");
  return keys;
}

std::vector<loaded_key> load_key_file(const std::string& path) {
  error_queue_guard guard;
  std::string text = read_whole_file(path);
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw key_file_error(path, "is empty");
  if (text[first] == '{') return load_jwks(path, text);
  return load_pem_keys(path, text);
}

// -- claims ------------------------------------------------------------------------------------

// A NumericDate claim (seconds, possibly fractional); error when present but not a number.
std::optional<error> numeric_claim(const json& payload, const char* name,
                                   std::optional<double>& out) {
  auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return unauthorized(std::string("claim \"") + name + "\" is not a number");
  out = it->get<double>();
  return std::nullopt;
}

std::optional<error> string_claim(const json& payload, const char* name, std::string& out) {
  auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return unauthorized(std::string("claim \"") + name + "\" is not a string");
  out = it->get<std::string>();
  return std::nullopt;
}

void split_whitespace(const std::string& text, std::vector<std::string>& out) {
  const char* space = " \t\r\n\f\v";
  size_t pos = text.find_first_not_of(space);
  while (pos != std::string::npos) {
    size_t end = text.find_first_of(space, pos);
    out.push_back(text.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    pos = end == std::string::npos ? end : text.find_first_not_of(space, end);
  }
}

// "scope" (RFC 8693 style, space separated) or, failing that, "scp" (an array, as some
// identity providers issue it).
std::optional<error> scopes_claim(const json& payload, std::vector<std::string>& out) {
  auto scope = payload.find("scope");
  if (scope != payload.end() && !scope->is_null()) {
    if (!scope->is_string()) return unauthorized("claim \"scope\" is not a string");
    split_whitespace(scope->get_ref<const std::string&>(), out);
    return std::nullopt;
  }
  auto scp = payload.find("scp");
  if (scp == payload.end() || scp->is_null()) return std::nullopt;
  if (scp->is_string()) {
    split_whitespace(scp->get_ref<const std::string&>(), out);
    return std::nullopt;
  }
  if (!scp->is_array() ||
      !std::all_of(scp->begin(), scp->end(), [](const json& s) { return s.is_string(); })) {
    return unauthorized("claim \"scp\" is not a string or an array of strings");
  }
  for (const auto& s : *scp) out.push_back(s.get<std::string>());
  return std::nullopt;
}

std::optional<error> audience_claim(const json& payload, std::vector<std::string>& out) {
  auto aud = payload.find("aud");
  if (aud == payload.end() || aud->is_null()) return std::nullopt;
  if (aud->is_string()) {
    out.push_back(aud->get<std::string>());
    return std::nullopt;
  }
  if (!aud->is_array() ||
      !std::all_of(aud->begin(), aud->end(), [](const json& s) { return s.is_string(); })) {
    return unauthorized("claim \"aud\" is not a string or an array of strings");
  }
  for (const auto& s : *aud) out.push_back(s.get<std::string>());
  return std::nullopt;
}

std::string signing_input(const json& header, const json& payload) {
  if (!payload.is_object()) throw std::invalid_argument("JWT payload must be a JSON object");
  return base64::encode_url(header.dump()) + "." + base64::encode_url(payload.dump());
}

}  // namespace

bool claims::has_scope(const std::string& s) const {
  return std::find(scopes.begin(), scopes.end(), s) != scopes.end();
}

struct verifier::impl {
  verifier_options opts;
  std::vector<loaded_key> keys;

  // The keys a token may have been signed with: those whose kid matches the token's; when none
  // does, the keys without a JWKS kid (PEM keys), since an issuer's kid cannot name those.
  std::vector<const loaded_key*> candidates(const std::string& alg,
                                            const std::optional<std::string>& kid) const {
    std::vector<const loaded_key*> out;
    for (const auto& k : keys) {
      if (k.alg == alg && (!kid || k.kid == *kid)) out.push_back(&k);
    }
    if (kid && out.empty()) {
      for (const auto& k : keys) {
        if (k.alg == alg && !k.named) out.push_back(&k);
      }
    }
    return out;
  }

  std::optional<error> check_signature(const std::string& alg,
                                       const std::optional<std::string>& kid,
                                       std::string_view input, const std::string& sig) const {
    if (alg == "HS256") {
      if (opts.hs256_secret.empty()) return unauthorized("no key configured for algorithm HS256");
      std::string expected = hmac_sha256(opts.hs256_secret, input);
      if (sig.size() != hs256_size || CRYPTO_memcmp(sig.data(), expected.data(), hs256_size)) {
        return unauthorized("signature is invalid");
      }
      return std::nullopt;
    }
    auto found = candidates(alg, kid);
    if (found.empty()) {
      bool any = std::any_of(keys.begin(), keys.end(), [&](const auto& k) { return k.alg == alg; });
      if (!any || !kid) return unauthorized("no key configured for algorithm " + alg);
      return unauthorized("no key with kid " + quote(*kid) + " for algorithm " + alg);
    }
    std::string der;
    if (alg == "ES256") {
      auto converted = ecdsa_raw_to_der(sig);
      if (!converted) return unauthorized("signature is invalid");
      der = std::move(*converted);
    }
    const std::string& wire = alg == "ES256" ? der : sig;
    for (const loaded_key* k : found) {
      if (verify_sha256(k->pkey.get(), input, wire)) return std::nullopt;
    }
    return unauthorized("signature is invalid");
  }

  std::optional<error> check_claims(const json& payload, int64_t now_s, claims& out) const {
    // The order of the checks follows go-oidc (issuer, audience, expiry, not-before), so a
    // token with several problems gets the message HRI would have given.
    std::string iss;
    if (auto e = string_claim(payload, "iss", iss)) return e;
    if (!opts.issuer.empty() && iss != opts.issuer) {
      return unauthorized("issuer " + quote(iss) + " is not " + quote(opts.issuer));
    }
    std::vector<std::string> aud;
    if (auto e = audience_claim(payload, aud)) return e;
    if (!opts.audience.empty() && std::find(aud.begin(), aud.end(), opts.audience) == aud.end()) {
      return unauthorized("expected audience " + quote(opts.audience) + " got " + quote_list(aud));
    }
    std::optional<double> exp, nbf, iat;
    if (auto e = numeric_claim(payload, "exp", exp)) return e;
    if (auto e = numeric_claim(payload, "nbf", nbf)) return e;
    if (auto e = numeric_claim(payload, "iat", iat)) return e;
    // A token without exp would be good forever, whoever obtained it.
    if (!exp) return unauthorized("token has no expiry (claim \"exp\" is missing)");
    if (*exp <= static_cast<double>(now_s - opts.leeway_s)) {
      return unauthorized("token is expired");
    }
    if (nbf && *nbf > static_cast<double>(now_s + opts.leeway_s)) {
      return unauthorized("token is not valid yet");
    }
    if (iat && *iat > static_cast<double>(now_s + opts.leeway_s)) {
      return unauthorized("token is issued in the future");
    }
    if (auto e = string_claim(payload, "sub", out.sub)) return e;
    if (auto e = scopes_claim(payload, out.scopes)) return e;
    return std::nullopt;
  }
};

verifier::verifier(verifier_options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
  if (impl_->opts.leeway_s < 0) throw std::invalid_argument("JWT leeway must not be negative");
  if (!impl_->opts.public_keys_file.empty()) {
    impl_->keys = load_key_file(impl_->opts.public_keys_file);
  }
}

verifier::~verifier() = default;

result<claims> verifier::verify(const std::string& token, int64_t now_s) const {
  error_queue_guard guard;
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) {
    return unauthorized("compact JWS format must have three parts");
  }
  std::string_view view(token);
  std::string_view header_b64 = view.substr(0, dot1);
  std::string_view payload_b64 = view.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = view.substr(dot2 + 1);

  auto header_text = base64::decode_url_strict(header_b64);
  if (!header_text) return unauthorized("malformed JWS header: invalid base64url");
  auto header_parsed = parse_json_limited(*header_text);
  if (!header_parsed && !header_parsed.err().detail.is_null()) {
    return unauthorized("malformed JWS header: " + header_parsed.err().message);
  }
  if (!header_parsed || !header_parsed->is_object()) {
    return unauthorized("malformed JWS header: not a JSON object");
  }
  const json& header = *header_parsed;
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) {
    return unauthorized("malformed JWS header: \"alg\" is missing or not a string");
  }
  const std::string alg = alg_it->get<std::string>();
  if (alg != "HS256" && alg != "RS256" && alg != "ES256") {
    return unauthorized("unsupported algorithm " + alg);
  }
  // RFC 7515 4.1.11: a token that requires extensions we do not understand must be refused.
  if (header.contains("crit")) return unauthorized("unsupported critical header parameters");
  std::optional<std::string> kid;
  if (auto it = header.find("kid"); it != header.end() && !it->is_null()) {
    if (!it->is_string()) return unauthorized("malformed JWS header: \"kid\" is not a string");
    kid = it->get<std::string>();
  }
  auto payload_text = base64::decode_url_strict(payload_b64);
  if (!payload_text) return unauthorized("malformed JWT payload: invalid base64url");
  auto sig = base64::decode_url_strict(sig_b64);
  if (!sig) return unauthorized("malformed JWS signature: invalid base64url");

  // The signature covers the encoded header and payload exactly as they appear in the token.
  std::string_view input = view.substr(0, dot2);
  if (auto e = impl_->check_signature(alg, kid, input, *sig)) return *e;

  claims out;
  auto payload = parse_json_limited(*payload_text);
  if (!payload && !payload.err().detail.is_null()) {
    return unauthorized("malformed JWT payload: " + payload.err().message);
  }
  if (!payload || !payload->is_object()) {
    return unauthorized("malformed JWT payload: not a JSON object");
  }
  out.payload = std::move(*payload);
  if (auto e = impl_->check_claims(out.payload, now_s, out)) return *e;
  return out;
}

std::string mint_hs256(const json& payload, const std::string& secret) {
  if (secret.empty()) throw std::invalid_argument("HS256 secret must not be empty");
  std::string input = signing_input({{"alg", "HS256"}, {"typ", "JWT"}}, payload);
  return input + "." + base64::encode_url(hmac_sha256(secret, input));
}

std::string mint_with_pem(const json& payload, const std::string& alg,
                          const std::string& private_key_pem, const std::string& kid) {
  error_queue_guard guard;
  if (alg != "RS256" && alg != "ES256") {
    throw std::invalid_argument("unsupported signing algorithm " + alg + " (RS256 or ES256)");
  }
  ossl_ptr<BIO> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  if (!bio) throw std::bad_alloc();
  // A callback that supplies no passphrase: OpenSSL's default would prompt on the terminal.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  ossl_ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    throw std::invalid_argument("not an unencrypted PEM private key: " + openssl_error_text());
  }
  key_kind kind = classify(key.get());
  if (kind.alg.empty()) throw std::invalid_argument("private key: " + kind.problem);
  if (kind.alg != alg) {
    throw std::invalid_argument("private key is for " + kind.alg + ", not " + alg);
  }
  json header = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  std::string input = signing_input(header, payload);
  std::string sig = sign_sha256(key.get(), input);
  if (alg == "ES256") sig = ecdsa_der_to_raw(sig);
  return input + "." + base64::encode_url(sig);
}

}  // namespace medflow::jwt
