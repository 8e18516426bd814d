// Outbound https with mutual TLS, against a real TLS server on loopback that requires a client
// certificate (cpp-httplib's SSLServer on OpenSSL). The CA and certificates are made here.
#include "net/http_client.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using namespace medflow::net::http_client;
using namespace std::chrono_literals;

TEST_SUITE_BEGIN("http_client_tls");

namespace {

struct key_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

key_ptr make_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  REQUIRE(k);
  return k;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext);
  REQUIRE(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

enum class role { ca, server, client };

// A certificate for `key`, signed by the issuer (itself for the CA), valid for an hour.
cert_ptr make_cert(EVP_PKEY* key, const char* cn, role r, X509* issuer, EVP_PKEY* issuer_key) {
  static long serial = 1;
  cert_ptr c(X509_new());
  X509* x = c.get();
  REQUIRE(X509_set_version(x, 2) == 1);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  REQUIRE(X509_set_pubkey(x, key) == 1);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer ? issuer : x;
  REQUIRE(X509_set_issuer_name(x, X509_get_subject_name(signer)) == 1);
  add_extension(x, signer, NID_subject_key_identifier, "hash");
  add_extension(x, signer, NID_authority_key_identifier, "keyid:always");
  switch (r) {
    case role::ca:
      add_extension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
      add_extension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case role::server:
      add_extension(x, signer, NID_basic_constraints, "CA:FALSE");
      add_extension(x, signer, NID_ext_key_usage, "serverAuth");
      add_extension(x, signer, NID_subject_alt_name, "IP:127.0.0.1");
      break;
    case role::client:
      add_extension(x, signer, NID_basic_constraints, "CA:FALSE");
      add_extension(x, signer, NID_ext_key_usage, "clientAuth");
      break;
  }
  REQUIRE(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return c;
}

void write_cert(const std::string& path, X509* cert) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  REQUIRE(PEM_write_X509(f, cert) == 1);
  std::fclose(f);
}

// Encrypted with `password` when it is not empty.
void write_key(const std::string& path, EVP_PKEY* key, const std::string& password = {}) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  const EVP_CIPHER* cipher = password.empty() ? nullptr : EVP_aes_256_cbc();
  REQUIRE(PEM_write_PrivateKey(f, key, cipher, nullptr, 0, nullptr,
                               password.empty() ? nullptr : const_cast<char*>(password.c_str())) ==
          1);
  std::fclose(f);
}

// A CA, a server certificate for 127.0.0.1 and client certificates: one from the CA, one from
// another CA the server does not trust.
struct pki {
  medflow::test::temp_dir dir;
  std::string ca = dir.file("ca.pem");
  std::string server_cert = dir.file("server.pem");
  std::string server_key = dir.file("server.key");
  std::string client_cert = dir.file("client.pem");
  std::string client_key = dir.file("client.key");
  std::string client_key_encrypted = dir.file("client-encrypted.key");
  std::string stranger_cert = dir.file("stranger.pem");
  std::string stranger_key = dir.file("stranger.key");

  pki() {
    auto ca_key = make_key();
    auto ca_cert = make_cert(ca_key.get(), "medflow test CA", role::ca, nullptr, nullptr);
    write_cert(ca, ca_cert.get());
    auto sk = make_key();
    write_cert(server_cert,
               make_cert(sk.get(), "127.0.0.1", role::server, ca_cert.get(), ca_key.get()).get());
    write_key(server_key, sk.get());
    auto ck = make_key();
    write_cert(client_cert,
               make_cert(ck.get(), "medflowd", role::client, ca_cert.get(), ca_key.get()).get());
    write_key(client_key, ck.get());
    write_key(client_key_encrypted, ck.get(), "s3cret");
    auto other_ca_key = make_key();
    auto other_ca = make_cert(other_ca_key.get(), "another CA", role::ca, nullptr, nullptr);
    auto xk = make_key();
    write_cert(stranger_cert, make_cert(xk.get(), "stranger", role::client, other_ca.get(),
                                        other_ca_key.get())
                                  .get());
    write_key(stranger_key, xk.get());
  }
};

// An https server on 127.0.0.1 that requires a client certificate from the CA.
struct tls_server {
  httplib::SSLServer svr;
  int port = 0;
  std::thread thread;
  std::atomic<int> served{0};  // requests that got past the handshake

  explicit tls_server(const pki& p)
      : svr(p.server_cert.c_str(), p.server_key.c_str(), p.ca.c_str()) {
    REQUIRE(svr.is_valid());
    svr.Post("/echo", [this](const httplib::Request& req, httplib::Response& res) {
      ++served;
      res.set_content("tls:" + req.body, "text/plain");
    });
    port = svr.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::yield();
  }
  ~tls_server() {
    svr.stop();
    thread.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/echo"; }
};

response call(client::options::tls_files tls, const std::string& url) {
  client::options o;
  o.tls = std::move(tls);
  client c(o);
  request r;
  r.url = url;
  r.body = "hello";
  r.timeout_ms = 5000;
  auto p = std::make_shared<std::promise<response>>();
  auto f = p->get_future();
  c.call(std::move(r), [p](response res) { p->set_value(std::move(res)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("a server requiring a client certificate accepts the configured one, and only it") {
  pki p;
  tls_server server(p);

  response ok = call({p.ca, p.client_cert, p.client_key, ""}, server.url());
  CHECK(ok.result == response::outcome::ok);
  CHECK(ok.status == 200);
  CHECK(ok.body == "tls:hello");

  // An encrypted key, with its password.
  response encrypted = call({p.ca, p.client_cert, p.client_key_encrypted, "s3cret"}, server.url());
  CHECK(encrypted.result == response::outcome::ok);
  CHECK(encrypted.body == "tls:hello");

  // No certificate: the server ends the handshake.
  response none = call({p.ca, "", "", ""}, server.url());
  CHECK(none.result == response::outcome::failed);
  CHECK_FALSE(none.error.empty());
  // A certificate from a CA the server does not trust.
  response stranger = call({p.ca, p.stranger_cert, p.stranger_key, ""}, server.url());
  CHECK(stranger.result == response::outcome::failed);
  // The wrong password: the key cannot be used.
  response wrong = call({p.ca, p.client_cert, p.client_key_encrypted, "nope"}, server.url());
  CHECK(wrong.result == response::outcome::failed);
  // Without our CA the server's certificate is not trusted, whatever we show.
  response untrusted = call({"", p.client_cert, p.client_key, ""}, server.url());
  CHECK(untrusted.result == response::outcome::failed);
  CHECK(server.served == 2);  // the refused calls never reached the server's handler
}

TEST_CASE("a TLS file that cannot be read stops the client from starting") {
  client::options o;
  o.tls.cert_file = "/nonexistent/client.pem";
  CHECK_THROWS_WITH_AS(client{o},
                       "cannot read the TLS client certificate /nonexistent/client.pem: No such "
                       "file or directory",
                       std::runtime_error);
  client::options key_only;
  key_only.tls.key_file = "/dev/null";
  CHECK_THROWS_WITH_AS(client{key_only}, "a TLS client key without a client certificate",
                       std::runtime_error);
}

TEST_SUITE_END();
