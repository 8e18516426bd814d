// An asynchronous HTTP client: a fixed number of I/O threads (one by default), each an epoll
// loop driving libcurl's multi interface (https) and medflowd's own HTTP/1.1 connections
// (plain http, see http_native.hpp), so calls in flight hold no thread each. Connections are
// kept alive and reused per host and I/O thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medflow::net::http_client {

struct request {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t timeout_ms = 4000;          // the whole call
  int64_t connect_timeout_ms = 2000;
};

struct response {
  enum class outcome {
    ok,              // an HTTP response arrived (any status)
    timeout,         // timeout_ms passed first
    connect_failed,  // no connection (refused, unresolvable, connect timeout)
    failed,          // anything else (broken connection, malformed response, client stopped)
  };
  outcome result = outcome::failed;
  int status = 0;              // HTTP status when ok
  std::string body;
  std::string error;           // curl's message otherwise, e.g. "Operation timed out after ..."
  int64_t elapsed_us = 0;
};

// A finished call: its callback and its response, for options::deliver to run.
struct completion {
  std::function<void(response)> done;
  response res;
};

// Runs c.done(c.res) (nothing when `done` is empty); what it throws is logged, not passed on.
void run(completion& c) noexcept;

class client {
 public:
  struct options {
    // Several thousand calls in flight to one host (a gateway, a test double) must not queue.
    // (over all I/O threads)
    long max_connections_per_host = 2048;
    long max_total_connections = 4096;
    // I/O threads, each with its own curl multi handle and connections; calls are spread
    // over them in turn. One thread at ~60 µs of CPU per call saturates near 10,000 calls/s
    // and then queues calls; more spread that work over the cores.
    int io_threads = 1;
    // How finished calls reach their callbacks. Unset, the I/O thread runs each `done` as soon
    // as its call completes. Set, the I/O thread hands it the completions of one epoll round
    // together, at the end of the round (after it has read every socket that was ready): to
    // run them on another thread with one wake-up per round rather than one per call. It
    // runs on the I/O thread, must not throw, and must see that each `done` runs exactly once
    // (http_client::run), also when whatever it hands them to has gone away.
    std::function<void(std::vector<completion>)> deliver;
    // Plain http:// calls on medflowd's own HTTP/1.1 connections rather than libcurl's (a
    // fraction of the CPU per call); https:// and URLs with credentials always use libcurl, and
    // so does everything while http_proxy or all_proxy is set.
    bool native_http = true;
    // A response body larger than this fails its call (outcome::failed, error "response body
    // too large (over N bytes)"), on either engine, before more than that is held.
    size_t max_response_bytes = size_t{256} << 20;
    // https:// (libcurl): whom to trust, and the certificate to show a server that asks for
    // one (mutual TLS). Files in PEM; empty: the system's CAs, no client certificate. The
    // client refuses to start when a named file cannot be read.
    struct tls_files {
      std::string ca_file;       // CAs the servers' certificates must chain to
      std::string cert_file;     // our certificate (and its chain)
      std::string key_file;      // its private key (empty: in cert_file)
      std::string key_password;  // of an encrypted key
    } tls;
  };
  explicit client(options opts);
  client();
  ~client();  // stops the I/O threads; calls still in flight complete with outcome::failed
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts a call. `done` runs exactly once: on an I/O thread (keep it short, e.g. send an
  // actor message), or where options::deliver runs it.
  void call(request r, std::function<void(response)> done);
  // The same, on the I/O thread chosen by `affinity`: calls with equal affinity share a thread
  // (e.g. the calls of one aggregated request, whose answers then come in one epoll round
  // instead of waking several threads).
  void call(request r, std::function<void(response)> done, size_t affinity);
  size_t in_flight() const;

 private:
  struct impl;
  std::vector<std::unique_ptr<impl>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace medflow::net::http_client
