// An asynchronous HTTP client: libcurl's multi interface driven by one I/O thread, so many
// calls in flight hold no thread each. Connections are kept alive and reused per host.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medflow::http_client {

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

class client {
 public:
  struct options {
    // Several thousand calls in flight to one host (a gateway, a test double) must not queue.
    long max_connections_per_host = 2048;
    long max_total_connections = 4096;
  };
  explicit client(options opts);
  client();
  ~client();  // stops the I/O thread; calls still in flight complete with outcome::failed
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts a call. `done` runs exactly once, on the I/O thread: keep it short (e.g. send an
  // actor message).
  void call(request r, std::function<void(response)> done);
  size_t in_flight() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace medflow::http_client
