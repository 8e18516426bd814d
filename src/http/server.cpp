#include "http/server.hpp"

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/json.hpp"
#include "core/json_fast.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/version.hpp"
#include "net/http_server.hpp"
#include "net/status.hpp"
#include "net/url.hpp"

#include <charconv>
#include <cstdio>

namespace medflow::http {

server::options server::options_from(const config& cfg) {
  options o;
  o.host = cfg.string("http.host");
  o.port = static_cast<int>(cfg.integer("http.port"));
  o.io_threads = static_cast<size_t>(cfg.integer("http.io_threads"));
  o.threads = static_cast<size_t>(cfg.integer("http.threads"));
  o.max_body_bytes = static_cast<size_t>(cfg.integer("http.max_body_bytes"));
  o.keep_alive_max_count = static_cast<size_t>(cfg.integer("http.keep_alive_max_count"));
  o.keep_alive_timeout_s = static_cast<int>(cfg.integer("http.keep_alive_timeout_s"));
  o.send_timeout_ms = static_cast<int>(cfg.integer("http.send_timeout_ms"));
  o.max_connections = static_cast<size_t>(cfg.integer("http.max_connections"));
  o.reserved_connections = static_cast<size_t>(cfg.integer("http.reserved_connections"));
  o.max_inflight_body_bytes = static_cast<size_t>(cfg.integer("http.max_inflight_body_bytes"));
  o.max_streams = static_cast<size_t>(cfg.integer("http.max_streams"));
  o.stream_buffer_bytes = static_cast<size_t>(cfg.integer("http.stream_buffer_bytes"));
  o.access_log = cfg.boolean("log.access");
  return o;
}

namespace {

// The method as a metrics label: any token is a method to the engine, and a label per
// made-up method would let clients grow the registry without limit.
const char* method_label(const std::string& m) {
  for (const char* k : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (m == k) return k;
  return m.empty() ? "-" : "other";
}

}  // namespace

server::server(options opts) : opts_(std::move(opts)) {}

server::~server() { stop(); }

void server::set_error_renderer(const std::string& prefix, error_renderer fn) {
  renderers_.emplace_back(prefix, std::move(fn));
}

net::response server::rendered(const net::request& req, const error& e) {
  net::response res;
  render_error(req, res, e);
  return res;
}

void server::render_error(const net::request& req, net::response& res, const error& e) {
  const error_renderer* best = nullptr;
  size_t best_len = 0;
  for (auto& [prefix, fn] : renderers_)
    if (req.path.rfind(prefix, 0) == 0 && prefix.size() >= best_len) {
      best = &fn;
      best_len = prefix.size();
    }
  if (best) (*best)(req, res, e);
  else send_error(res, e);
}

void server::add_default_headers(const std::string& prefix, net::fields headers) {
  default_headers_.emplace_back(prefix, std::move(headers));
}

// An answer no route wrote: 404 or 405 (with Allow), in the path's error format.
void server::on_error(const net::request& req, net::response& res) {
  for (auto& [prefix, hs] : default_headers_)
    if (req.path.rfind(prefix, 0) == 0)
      for (auto& [k, v] : hs)
        if (!res.has_header(k)) res.set_header(k, v);
  int status = res.status;
  render_error(req, res,
               error{status, net::error_code_for(status), net::error_message_for(status), {}});
  probe("unmatched", method_label(req.method)).count(status, 0);
}

void server::route_probe::count(int status, double secs) {
  if (status < 0 || status >= static_cast<int>(by_status.size())) status = 0;
  auto* c = by_status[static_cast<size_t>(status)].load(std::memory_order_acquire);
  if (!c) {
    // First request with this status: registering is idempotent, so a race is harmless.
    c = &metrics::registry::global().get_counter(
        "medflow_http_requests_total", "HTTP requests by route and status",
        {{"route", route}, {"method", method}, {"status", std::to_string(status)}});
    by_status[static_cast<size_t>(status)].store(c, std::memory_order_release);
  }
  c->inc();
  if (seconds) seconds->observe(secs);
}

// The route's template stands for the path: a path holds patient ids and other personal data,
// which no line at info carries.
void server::log_access(const net::request& req, const net::response& res,
                        const std::string& route, int64_t start_us) const {
  auto rid = res.header("x-request-id");
  if (rid.empty()) rid = req.header("x-request-id");
  auto ms = static_cast<double>(clock::steady_us() - start_us) / 1000.0;
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.3f", ms);
  log::fields fs{{"method", method_label(req.method)},
                 {"path", route},
                 {"status", std::to_string(res.status)},
                 {"bytes", std::to_string(res.body.size())},
                 {"duration_ms", dur},
                 {"request_id", rid.empty() ? "-" : rid}};
  // The aggregation flow's business correlation id (AgP's x-skltp-correlation-id).
  auto correlation = req.header("x-skltp-correlation-id");
  if (!correlation.empty()) fs.push_back({"correlation_id", correlation});
  if (log::current_level() <= log::level::info)
    log::write(log::level::info, "access", std::string(method_label(req.method)) + " " + route, fs);
}

server::route_probe& server::probe(const std::string& route, const std::string& method) {
  std::lock_guard<std::mutex> g{probes_mutex_};
  for (auto& p : probes_)
    if (p.route == route && p.method == method) return p;
  auto& p = probes_.emplace_back();
  p.route = route;
  p.method = method;
  if (route != "unmatched")
    p.seconds = &metrics::registry::global().get_histogram(
        "medflow_http_request_duration_seconds", "HTTP request handling time by route",
        metrics::latency_buckets_seconds(), {{"route", route}, {"method", method}});
  return p;
}

server::route& server::make_route(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" &&
      method != "DELETE")
    throw std::logic_error("unsupported method " + method);
  route r;
  r.method = method;
  r.path = path;
  for (size_t p = 1; p <= path.size();) {
    auto slash = std::min(path.find('/', p), path.size());
    auto seg = path.substr(p, slash - p);
    if (seg.find('{') != std::string::npos && (seg.front() != '{' || seg.back() != '}'))
      throw std::logic_error("a path parameter must be a whole segment: " + path);
    if (!seg.empty() && seg.front() == '{') r.names.push_back(seg.substr(1, seg.size() - 2));
    r.segments.push_back(std::move(seg));
    p = slash + 1;
  }
  r.probe = &probe(path, method);
  routes_.push_back(std::move(r));
  return routes_.back();
}

bool server::match(const route& r, const std::string& raw_path, params* out) {
  if (raw_path.empty() || raw_path[0] != '/') return false;
  size_t end = raw_path.size();
  if (end > 1 && raw_path[end - 1] == '/') --end;  // a trailing slash is ignored
  size_t p = 1;
  size_t names = 0;
  for (size_t k = 0; k < r.segments.size(); ++k) {
    if (p > end) return false;
    auto slash = std::min(raw_path.find('/', p), end);
    std::string_view seg(raw_path.data() + p, slash - p);
    auto& t = r.segments[k];
    if (!t.empty() && t.front() == '{') {
      if (seg.empty()) return false;
      if (out) {
        // The engine refused targets with a malformed escape: this cannot fail.
        std::string& value = (*out)[r.names[names]];
        value.clear();
        net::percent_decode(seg, value);
      }
      ++names;
    } else if (seg != t) {
      return false;
    }
    p = slash + 1;
  }
  return p > end;
}

void server::apply_default_headers(const std::string& path, net::response& res) const {
  for (auto& [prefix, hs] : default_headers_)
    if (path.rfind(prefix, 0) == 0)
      for (auto& [k, v] : hs) res.set_header(k, v);
}

void server::add(const std::string& method, const std::string& path, handler h,
                 bool nonblocking) {
  auto& r = make_route(method, path);
  r.nonblocking = nonblocking;
  r.sync = [this, h = std::move(h)](const net::request& req, net::response& res,
                                    const params& ps) {
    apply_default_headers(req.path, res);
    try {
      h(req, res, ps);
    } catch (const error_exception& e) {
      render_error(req, res, e.err());  // in the API's own error format (/api, /hri)
    }
  };
}

// The answer goes straight to the connection from whichever thread gives it.
struct server::exchange_target : responder::target {
  server* srv = nullptr;
  std::shared_ptr<net::exchange> ex;

  bool respond(net::response res) override {
    if (ex->answered()) return false;
    srv->apply_default_headers(ex->req.path, res);
    return ex->respond(std::move(res));
  }
  void respond_with(std::function<net::response()> make) override {
    ex->respond_with([srv = srv, ex = ex.get(), make = std::move(make)] {
      auto res = make();
      srv->apply_default_headers(ex->req.path, res);
      return res;
    });
  }
  void deadline(int64_t timeout_ms, net::response fb) override {
    srv->apply_default_headers(ex->req.path, fb);
    ex->set_deadline(clock::steady_us() + timeout_ms * 1000, std::move(fb));
  }
  std::shared_ptr<net::answer_stream> stream(net::response head, net::stream_events ev) override {
    srv->apply_default_headers(ex->req.path, head);
    return ex->start_stream(std::move(head), std::move(ev));
  }
  bool answered() const override { return ex->answered(); }
};

std::shared_ptr<net::answer_stream> responder::stream(net::response head,
                                                      net::stream_events ev) const {
  return t_->stream(std::move(head), std::move(ev));
}

void server::add_async(const std::string& method, const std::string& path, async_handler h,
                       bool nonblocking) {
  auto& r = make_route(method, path);
  r.async = std::move(h);
  r.nonblocking = nonblocking;
}

// On a loop thread of the engine, for each request read.
void server::dispatch(const std::shared_ptr<net::exchange>& ex) {
  auto start = clock::steady_us();
  static const std::string get = "GET";
  const std::string& method = ex->shape.head ? get : ex->req.method;  // GET without the body
  route* found = nullptr;
  std::string allow;  // the methods the path has, for a 405
  params ps;
  for (auto& r : routes_) {
    if (!match(r, ex->req.raw_path, &ps)) {
      ps.clear();  // what a partial match collected
      continue;
    }
    if (r.method == method) {
      found = &r;
      break;
    }
    ps.clear();
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (!found) {
    if (opts_.access_log)
      ex->on_answer = [this, req = &ex->req, start](const net::response& res) {
        log_access(*req, res, "(unmatched)", start);
      };
    net::response res;
    res.status = allow.empty() ? 404 : 405;
    if (!allow.empty()) res.set_header("Allow", allow);
    on_error(ex->req, res);
    ex->respond(std::move(res));
    return;
  }
  // A nonblocking route still parses its body: a large one goes to the pool rather than hold
  // up every other connection of the thread.
  constexpr size_t inline_body_max = 64 * 1024;
  bool here = found->nonblocking && ex->req.body.size() <= inline_body_max;
  route& r = *found;
  ex->on_answer = [this, &r, req = &ex->req, start](const net::response& res) {
    r.probe->count(res.status, static_cast<double>(clock::steady_us() - start) / 1e6);
    if (opts_.access_log) log_access(*req, res, r.path, start);
  };
  if (r.sync) {
    auto run = [this, ex, &r, ps = std::move(ps)] {
      net::response res;
      try {
        r.sync(ex->req, res, ps);
      } catch (const std::exception& e) {
        log::error("http", ex->req.method, " ", r.path, " failed: ", e.what());
        res = rendered(ex->req, error::internal("internal error"));
        apply_default_headers(ex->req.path, res);
      }
      ex->respond(std::move(res));
    };
    if (here) run();
    else engine_->run_blocking(std::move(run));
    return;
  }
  auto t = std::make_shared<exchange_target>();
  t->srv = this;
  t->ex = ex;
  auto run = [this, t, &r, ps = std::move(ps)] {
    try {
      r.async(t->ex->req, ps, responder(t));
    } catch (const error_exception& e) {
      t->respond(rendered(t->ex->req, e.err()));
    } catch (const std::exception& e) {
      log::error("http", t->ex->req.method, " ", r.path, " failed: ", e.what());
      t->respond(rendered(t->ex->req, error::internal("internal error")));
    }
  };
  if (here) run();
  else engine_->run_blocking(std::move(run));
}

net::response server::protocol_error(const net::request& req, int status, const std::string& why,
                                     bool unread) {
  auto res = rendered(req, error{status, net::error_code_for(status), why, {}});
  apply_default_headers(req.path, res);
  if (unread) probe("unmatched", method_label(req.method)).count(status, 0);
  return res;
}

nlohmann::json server::openapi() const {
  // The built-in document is ours, from the build: parsed once, trusted.
  static const nlohmann::json shipped = nlohmann::json::parse(openapi_document());
  return openapi(shipped);
}

nlohmann::json server::openapi(const nlohmann::json& doc) const {
  static const nlohmann::json no_paths = nlohmann::json::object();
  nlohmann::json out = nlohmann::json::object();
  for (auto& [k, v] : doc.items())
    if (k != "paths") out[k] = v;
  out["info"]["version"] = std::string(medflow::version());
  auto found = doc.find("paths");
  const nlohmann::json& documented = found != doc.end() ? *found : no_paths;
  nlohmann::json paths = nlohmann::json::object();
  for (auto& r : routes_) {
    std::string m = r.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto op = nlohmann::json::json_pointer() / r.path / m;
    if (documented.contains(op))
      paths[r.path][m] = documented[op];
    else
      paths[r.path][m] = {{"summary", "undocumented route: describe it in src/http/openapi.json"},
                          {"responses", {{"default", {{"description", "not described"}}}}}};
  }
  out["paths"] = std::move(paths);
  return out;
}

int server::start() {
  net::http_server::options o;
  o.host = opts_.host;
  o.port = opts_.port;
  o.loops = opts_.io_threads;
  o.pool_threads = opts_.threads;
  o.max_body_bytes = opts_.max_body_bytes;
  o.keep_alive_max_count = opts_.keep_alive_max_count;
  o.keep_alive_timeout_ms = opts_.keep_alive_timeout_s * 1000;
  o.read_timeout_ms = opts_.read_timeout_ms;
  o.send_timeout_ms = opts_.send_timeout_ms;
  o.max_connections = opts_.max_connections;
  o.reserved_connections = opts_.reserved_connections;
  o.max_inflight_body_bytes = opts_.max_inflight_body_bytes;
  o.max_streams = opts_.max_streams;
  o.stream_buffer_bytes = opts_.stream_buffer_bytes;
  // What a connection beyond max_connections may still ask (see http.reserved_connections).
  o.probe_paths = {"/healthz", "/readyz", "/metrics"};
  engine_ = std::make_unique<net::http_server>(
      o, [this](const std::shared_ptr<net::exchange>& ex) { dispatch(ex); },
      [this](const net::request& req, int status, const std::string& why, bool unread) {
        return protocol_error(req, status, why, unread);
      });
  port_ = engine_->start();
  return port_;
}

void server::stop(int grace_ms) {
  if (engine_) engine_->stop(grace_ms);
}

void send_json(net::response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(json_fast::dump(body, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

nlohmann::json error_body(const error& e) {
  nlohmann::json err = {{"code", e.code}, {"message", e.message}};
  if (!e.detail.is_null()) err["detail"] = e.detail;
  return {{"error", err}};
}

void send_error(net::response& res, const error& e) { send_json(res, e.status, error_body(e)); }

result<nlohmann::json> parse_json_body(const net::request& req) {
  auto body = parse_json_limited(req.body);
  if (body) return body;
  // A syntax error has no detail; a limit (nesting, a number's range) names itself.
  const auto& e = body.err();
  return error::bad_request((e.detail.is_null() ? "request body is not valid JSON: "
                                                : "request body: ") + e.message);
}

bool parse_int(std::string_view text, int64_t min, int64_t max, int64_t& out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return false;
  if (v < min || v > max) return false;
  out = v;
  return true;
}

namespace {

// An integer parameter: `what` names it in the error.
result<int64_t> int_param(const std::string& what, std::string_view text, int64_t min,
                          int64_t max) {
  int64_t v = 0;
  if (parse_int(text, INT64_MIN, INT64_MAX, v)) {
    if (v >= min && v <= max) return v;
  } else {
    // Digits only but beyond any 64-bit integer is out of range too, not "not an integer".
    size_t digits = text.size() - (!text.empty() && text[0] == '-' ? 1 : 0);
    bool numeric = digits > 0 && text.find_first_not_of("0123456789", text.size() - digits) ==
                                     std::string_view::npos;
    if (!numeric)
      return error::bad_request(what + " must be an integer, got \"" +
                                std::string(text.substr(0, 64)) + "\"");
  }
  return error::bad_request(what + " must be between " + std::to_string(min) + " and " +
                            std::to_string(max));
}

}  // namespace

result<int64_t> query_int(const net::request& req, const std::string& name, int64_t def,
                          int64_t min, int64_t max) {
  if (!req.has_param(name)) return def;
  return int_param("query parameter " + name, req.param(name), min, max);
}

result<int64_t> path_int(const params& ps, const std::string& name, int64_t min, int64_t max) {
  auto it = ps.find(name);
  return int_param(name, it == ps.end() ? std::string_view() : std::string_view(it->second), min,
                   max);
}

}  // namespace medflow::http
