// medflow-token: mints a bearer token for local use against medflowd (development, tests,
// demos). The signing key is either an HS256 shared secret or a PEM private key (RS256/ES256).
#include "core/jwt.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

const char usage_text[] =
    "usage: medflow-token (--secret S | --key PRIVATE.pem [--alg RS256|ES256] [--kid K])\n"
    "                     --sub SUB --scope \"SCOPE ...\" [--aud A] [--iss I]\n"
    "                     [--ttl SECONDS] [--claim NAME=VALUE ...]\n"
    "\n"
    "Prints a signed JWT on standard output.\n"
    "  --secret S       sign with HS256 and the shared secret S\n"
    "  --key FILE       sign with a PEM private key (RSA: RS256, EC P-256: ES256)\n"
    "  --alg ALG        RS256 or ES256; by default the one the key's type implies\n"
    "  --kid K          the \"kid\" header (PEM keys only)\n"
    "  --sub SUB        the \"sub\" claim (the integrator id)\n"
    "  --scope S        the \"scope\" claim, space separated (e.g. \"tenant_t1 hri_consumer\")\n"
    "  --aud A          the \"aud\" claim\n"
    "  --iss I          the \"iss\" claim\n"
    "  --ttl SECONDS    lifetime; \"exp\" is now + SECONDS (default 3600)\n"
    "  --claim N=V      an extra claim (may override iat/exp); V is JSON when it parses\n"
    "                   (numbers, true, [\"a\"]), as a string otherwise; may repeat\n";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct options {
  std::optional<std::string> secret;
  std::optional<std::string> key_file;
  std::optional<std::string> alg;
  std::optional<std::string> kid;
  std::optional<std::string> sub;
  std::optional<std::string> scope;
  std::optional<std::string> aud;
  std::optional<std::string> iss;
  int64_t ttl_s = 3600;
  std::vector<std::pair<std::string, json>> extra_claims;
};

// A century: far beyond any sensible token lifetime, and exp = now + ttl cannot overflow.
constexpr int64_t max_ttl_s = 100LL * 366 * 24 * 3600;

int64_t parse_ttl(const std::string& text) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v <= 0 || v > max_ttl_s) {
    throw usage_error("--ttl must be a positive number of seconds (at most a century), got \"" +
                      text + "\"");
  }
  return v;
}

std::pair<std::string, json> parse_claim(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw usage_error("--claim must be NAME=VALUE, got \"" + text + "\"");
  }
  std::string value = text.substr(eq + 1);
  json parsed = json::parse(value, nullptr, false);
  return {text.substr(0, eq), parsed.is_discarded() ? json(value) : parsed};
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      std::exit(0);
    }
    static const char* const with_value[] = {"--secret", "--key", "--alg", "--kid", "--sub",
                                             "--scope",  "--aud", "--iss", "--ttl", "--claim"};
    if (std::find(std::begin(with_value), std::end(with_value), arg) == std::end(with_value)) {
      throw usage_error("unknown option " + arg);
    }
    if (i + 1 >= argc) throw usage_error(arg + " needs a value");
    std::string value = argv[++i];
    if (arg == "--secret") {
      o.secret = value;
    } else if (arg == "--key") {
      o.key_file = value;
    } else if (arg == "--alg") {
      o.alg = value;
    } else if (arg == "--kid") {
      o.kid = value;
    } else if (arg == "--sub") {
      o.sub = value;
    } else if (arg == "--scope") {
      o.scope = value;
    } else if (arg == "--aud") {
      o.aud = value;
    } else if (arg == "--iss") {
      o.iss = value;
    } else if (arg == "--ttl") {
      o.ttl_s = parse_ttl(value);
    } else {
      o.extra_claims.push_back(parse_claim(value));
    }
  }
  if (o.secret.has_value() == o.key_file.has_value()) {
    throw usage_error("exactly one of --secret and --key is required");
  }
  if (o.secret && o.secret->empty()) throw usage_error("--secret must not be empty");
  if (o.secret && (o.alg || o.kid)) throw usage_error("--alg and --kid go with --key only");
  if (o.alg && *o.alg != "RS256" && *o.alg != "ES256") {
    throw usage_error("--alg must be RS256 or ES256, got \"" + *o.alg + "\"");
  }
  if (!o.sub) throw usage_error("--sub is required");
  if (!o.scope) throw usage_error("--scope is required");
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The algorithm a PEM private key implies, so that --alg is only needed to double-check.
std::string alg_for_key(const std::string& pem) {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                          &BIO_free);
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr,
      &EVP_PKEY_free);
  // Anything unusual is left to mint_with_pem, which explains what is wrong with the key.
  return key && EVP_PKEY_is_a(key.get(), "EC") ? "ES256" : "RS256";
}

std::string mint(const options& o) {
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  json payload = json::object();
  payload["iat"] = now;
  payload["exp"] = now + o.ttl_s;
  // Extra claims override the computed iat/exp (e.g. --claim exp=1000000000 for an expired
  // token in tests); the named options win over extra claims of the same name.
  for (const auto& [name, value] : o.extra_claims) payload[name] = value;
  payload["sub"] = *o.sub;
  payload["scope"] = *o.scope;
  if (o.aud) payload["aud"] = *o.aud;
  if (o.iss) payload["iss"] = *o.iss;
  if (o.secret) return medflow::jwt::mint_hs256(payload, *o.secret);
  std::string pem = read_file(*o.key_file);
  std::string alg = o.alg ? *o.alg : alg_for_key(pem);
  return medflow::jwt::mint_with_pem(payload, alg, pem, o.kid.value_or(""));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::cout << mint(parse_args(argc, argv)) << '\n';
    return 0;
  } catch (const usage_error& e) {
    std::cerr << "medflow-token: " << e.what() << "\n\n" << usage_text;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "medflow-token: " << e.what() << '\n';
    return 2;
  }
}
