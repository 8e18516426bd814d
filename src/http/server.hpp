// The HTTP routing layer on medflowd's own engine (net/http_server): routes registered with a
// path template ("/topics/{topic}/records"), per-route request metrics, JSON bodies for every
// error (404, 405, 413, 500 and unreadable requests included), and /openapi.json: the routes'
// description in src/http/openapi.json (built in), for the routes registered.
#pragma once

#include "core/error.hpp"
#include "net/message.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace medflow {
class config;
namespace metrics {
class counter;
class histogram;
}  // namespace metrics
namespace net {
class http_server;
class exchange;
class answer_stream;
struct stream_events;
}  // namespace net
}  // namespace medflow

namespace medflow::http {

using params = std::map<std::string, std::string>;
using handler = std::function<void(const net::request&, net::response&, const params&)>;

// The answering end of an asynchronous route's request: call it once, from any thread (an
// actor, typically). Copies share the one request. A responder refers to its server: answer
// or drop them all before the server is destroyed (the daemon stops its actors first). The
// last copy dropped unanswered answers 500.
class responder {
 public:
  struct target {
    virtual ~target() = default;
    virtual bool respond(net::response res) = 0;
    virtual void respond_with(std::function<net::response()> make) = 0;
    virtual void deadline(int64_t timeout_ms, net::response fallback) = 0;
    virtual std::shared_ptr<net::answer_stream> stream(net::response head,
                                                       net::stream_events ev) = 0;
    virtual bool answered() const = 0;
  };
  explicit responder(std::shared_ptr<target> t) : t_(std::move(t)) {}
  // Answers; false when the request had been answered already (by its deadline).
  bool operator()(net::response res) const { return t_->respond(std::move(res)); }
  // Answers with what `make` returns, built on the connection's own thread (see
  // net::exchange::respond_with): for callers on a serial stage such as the store's writer.
  void later(std::function<net::response()> make) const { t_->respond_with(std::move(make)); }
  // Unless answered within timeout_ms from now, `fallback` is the answer.
  void deadline(int64_t timeout_ms, net::response fallback) const {
    t_->deadline(timeout_ms, std::move(fallback));
  }
  // Answers with a streamed body instead (net::exchange::start_stream): `head` now, the body
  // through the stream. nullptr when answered already, or answered 503 here (too many streams,
  // stopping).
  std::shared_ptr<net::answer_stream> stream(net::response head, net::stream_events ev) const;
  // Answered already (by a call, or by its deadline's fallback).
  bool answered() const { return t_->answered(); }

 private:
  std::shared_ptr<target> t_;
};
using async_handler = std::function<void(const net::request&, const params&, responder)>;

class server {
 public:
  struct options {
    std::string host = "127.0.0.1";
    int port = 8080;
    size_t io_threads = 1;  // epoll threads
    int read_timeout_ms = 5000;
    size_t threads = 64;    // most blocking handlers at once
    size_t max_body_bytes = 1 << 20;
    size_t keep_alive_max_count = 100000;
    int keep_alive_timeout_s = 30;
    int send_timeout_ms = 30000;
    size_t max_connections = 10000;
    size_t reserved_connections = 32;
    size_t max_inflight_body_bytes = size_t{64} << 20;
    size_t max_streams = 1000;
    size_t stream_buffer_bytes = 256 * 1024;
    bool access_log = false;  // log.access: one info line per request
  };
  static options options_from(const config& cfg);

  explicit server(options opts);
  ~server();

  // Registers a route. `path` uses {name} for parameters; they reach the handler decoded.
  // `nonblocking`: the handler returns at once without waiting on anything (no disk, no
  // network, no lock held for long), so the engine runs it on the connection's thread rather
  // than handing it to its pool.
  void add(const std::string& method, const std::string& path, handler h,
           bool nonblocking = false);
  // Registers a route answered through a responder, possibly later and from another thread.
  // `nonblocking`: the handler returns quickly without blocking (no disk or network wait), so
  // the engine may run it on its connection thread instead of handing it to its pool.
  void add_async(const std::string& method, const std::string& path, async_handler h,
                 bool nonblocking);
  // How errors that no route rendered (404, 405, 413, 500) look for paths under `prefix`
  // (default: medflow's JSON error body). A flow mirroring another system sets its own.
  using error_renderer =
      std::function<void(const net::request&, net::response&, const error&)>;
  void set_error_renderer(const std::string& prefix, error_renderer fn);
  // Headers added to every response (e.g. security headers of a flow) for paths under prefix.
  void add_default_headers(const std::string& prefix, net::fields headers);

  // The OpenAPI document of the registered routes: `doc` (by default the built-in
  // src/http/openapi.json) with info.version set to medflow::version() and `paths` holding, for
  // each registered route, doc's operation of that method and path template. Operations of
  // routes not registered (a disabled flow's) are left out; a registered route doc lacks gets
  // an operation without operationId saying so, which tests/e2e/openapi.sh refuses.
  nlohmann::json openapi() const;
  nlohmann::json openapi(const nlohmann::json& doc) const;

  // Binds (port 0: any free port) and serves on the engine's threads. Returns the port.
  int start();
  // Stops accepting, lets in-flight requests finish (for up to grace_ms when given, >= 0),
  // joins the threads.
  void stop(int grace_ms = -1);
  int port() const { return port_; }

 private:
  struct route_probe;
  struct route {
    std::string method;
    std::string path;
    std::vector<std::string> names;
    std::vector<std::string> segments;  // of the template; "{name}" is a parameter
    handler sync;         // one of the two
    async_handler async;
    bool nonblocking = false;
    route_probe* probe = nullptr;
  };
  // Matches a raw (not yet decoded) path against a route, collecting decoded parameters.
  static bool match(const route& r, const std::string& raw_path, params* out);
  route& make_route(const std::string& method, const std::string& path);
  struct exchange_target;
  void dispatch(const std::shared_ptr<net::exchange>& ex);
  void apply_default_headers(const std::string& path, net::response& res) const;
  net::response protocol_error(const net::request& req, int status, const std::string& why,
                               bool unread);
  // Per-route series, looked up once: a request only touches atomics.
  struct route_probe {
    std::string route;
    std::string method;
    metrics::histogram* seconds = nullptr;
    std::array<std::atomic<metrics::counter*>, 600> by_status{};
    void count(int status, double secs);
  };
  route_probe& probe(const std::string& route, const std::string& method);
  // The access log line of an answered request (log.access); `route` is its path template.
  void log_access(const net::request& req, const net::response& res, const std::string& route,
                  int64_t start_us) const;
  void on_error(const net::request& req, net::response& res);

  options opts_;
  std::unique_ptr<net::http_server> engine_;
  std::deque<route> routes_;  // stable addresses: handlers refer to their route
  std::vector<std::pair<std::string, net::fields>> default_headers_;
  std::vector<std::pair<std::string, error_renderer>> renderers_;
  void render_error(const net::request& req, net::response& res, const error& e);
  net::response rendered(const net::request& req, const error& e);
  int port_ = 0;
  std::mutex probes_mutex_;
  std::deque<route_probe> probes_;
};

// src/http/openapi.json, built in (CMakeLists.txt: medflow_embed_file).
std::string_view openapi_document();

// -- responses ------------------------------------------------------------------------------
void send_json(net::response& res, int status, const nlohmann::json& body);
// medflow's own error body: {"error": {"code": ..., "message": ...[, "detail": ...]}}
nlohmann::json error_body(const error& e);
void send_error(net::response& res, const error& e);

// -- request helpers --------------------------------------------------------------------------
// Parses a JSON body; a body that is not JSON gives 400 "request body is not valid JSON: ...",
// one nested deeper than json.max_depth or with a number out of range 400 "request body: ..."
// naming the limit or the field.
result<nlohmann::json> parse_json_body(const net::request& req);
// An integer query parameter within [min, max]; absent gives `def`. Strict: an optional '-'
// and decimal digits, nothing else (no sign '+', no spaces), and out of range is a 400, never
// a wrapped value.
result<int64_t> query_int(const net::request& req, const std::string& name, int64_t def,
                          int64_t min, int64_t max);
// The same for a path parameter (which must be there).
result<int64_t> path_int(const params& ps, const std::string& name, int64_t min, int64_t max);
// The integer `text` is, within [min, max]; false when it is not one (or out of that range).
bool parse_int(std::string_view text, int64_t min, int64_t max, int64_t& out);

}  // namespace medflow::http
