#include "http/server.hpp"

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/native_server.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <condition_variable>
#include <cstdlib>
#include <optional>

namespace medflow::http {

server::options server::options_from(const config& cfg) {
  options o;
  o.host = cfg.string("http.host");
  o.port = static_cast<int>(cfg.integer("http.port"));
  o.engine = cfg.string("http.engine");
  o.io_threads = static_cast<size_t>(cfg.integer("http.io_threads"));
  o.threads = static_cast<size_t>(cfg.integer("http.threads"));
  o.max_body_bytes = static_cast<size_t>(cfg.integer("http.max_body_bytes"));
  o.keep_alive_max_count = static_cast<size_t>(cfg.integer("http.keep_alive_max_count"));
  o.keep_alive_timeout_s = static_cast<int>(cfg.integer("http.keep_alive_timeout_s"));
  return o;
}

namespace {

// httplib 0.11 listens with a backlog of 5: a burst of new connections overflows it and the
// dropped SYNs are retried only after a second. The subclass reaches the listening socket to
// raise the backlog.
class listening_server : public httplib::Server {
 public:
  void raise_backlog() {
    socket_t fd = svr_sock_;
    if (fd != INVALID_SOCKET) ::listen(fd, SOMAXCONN);
  }
};

const char* status_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 408: return "request timeout";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    case 415: return "unsupported media type";
    case 431: return "request header fields too large";
    case 500: return "internal error";
    case 501: return "not implemented";
    case 505: return "HTTP version not supported";
    case 503: return "service unavailable";
    default: return "error";
  }
}

const char* status_code_name(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    case 431: return "header_fields_too_large";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    case 503: return "unavailable";
    default: return "internal_error";
  }
}

// The method as a metrics label: any token is a method to the native engine, and a label per
// made-up method would let clients grow the registry without limit.
const char* method_label(const std::string& m) {
  for (const char* k : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (m == k) return k;
  return m.empty() ? "-" : "other";
}

std::string regex_escape(const std::string& s) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : s) {
    if (special.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

server::server(options opts) : opts_(std::move(opts)) {
  if (opts_.engine == "native") return;  // made in start(), when the routes are known
  if (opts_.engine != "httplib")
    throw std::invalid_argument("http.engine must be native or httplib, not " + opts_.engine);
  srv_ = std::make_unique<listening_server>();
  auto threads = opts_.threads;
  srv_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv_->set_tcp_nodelay(true);
  srv_->set_keep_alive_max_count(opts_.keep_alive_max_count);
  srv_->set_keep_alive_timeout(opts_.keep_alive_timeout_s);
  srv_->set_payload_max_length(opts_.max_body_bytes);
  // A POST/PUT/PATCH without Content-Length or Transfer-Encoding has an empty body (RFC 9112
  // 6.3), e.g. `curl -X POST .../hri/tenants/t1`; cpp-httplib 0.11 answers it 400 instead.
  // This runs before the body is read, so saying so in the headers is enough.
  srv_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding") &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
      // The request object is the server's own, mutable one; the hook only sees it as const.
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  srv_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    on_error(req, res);
  });
  srv_->set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        log::error("http", req.method, " ", req.path, " failed: ", describe(ep));
        render_error(req, res, error::internal("internal error"));
      });
}

server::~server() { stop(); }

void server::set_error_renderer(const std::string& prefix, error_renderer fn) {
  renderers_.emplace_back(prefix, std::move(fn));
}

httplib::Response server::rendered(const httplib::Request& req, const error& e) {
  httplib::Response res;
  render_error(req, res, e);
  return res;
}

void server::render_error(const httplib::Request& req, httplib::Response& res, const error& e) {
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

void server::add_default_headers(const std::string& prefix, httplib::Headers headers) {
  default_headers_.emplace_back(prefix, std::move(headers));
}

void server::on_error(const httplib::Request& req, httplib::Response& res) {
  for (auto& [prefix, hs] : default_headers_)
    if (req.path.rfind(prefix, 0) == 0)
      for (auto& [k, v] : hs)
        if (!res.has_header(k.c_str())) res.set_header(k.c_str(), v);
  if (!res.body.empty()) return;  // a route already wrote its own error body
  int status = res.status;
  if (status == 404 && srv_) {
    // An existing path with another method is a 405 (the native engine decides that itself).
    std::string allow;
    for (auto& r : routes_)
      if (match(r, req.path, nullptr)) allow += (allow.empty() ? "" : ", ") + r.method;
    if (!allow.empty()) {
      res.status = 405;
      status = 405;
      res.set_header("Allow", allow);
    }
  }
  render_error(req, res, error{status, status_code_name(status), status_text(status), {}});
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

server::route_probe& server::probe(const std::string& route, const std::string& method) {
  std::lock_guard<std::mutex> g{probes_mutex_};
  for (auto& p : probes_)
    if (p.route == route && p.method == method) return p;
  auto& p = probes_.emplace_back();
  p.route = route;
  p.method = method;
  if (route != "unmatched")
    p.seconds = &metrics::registry::global().get_histogram(
        "medflow_http_request_seconds", "HTTP request handling time by route",
        metrics::latency_buckets_seconds(), {{"route", route}, {"method", method}});
  return p;
}

server::route& server::make_route(const std::string& method, const std::string& path,
                                  route_doc doc) {
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
  r.doc = std::move(doc);
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
      if (out) (*out)[r.names[names]] = httplib::detail::decode_url(std::string(seg), false);
      ++names;
    } else if (seg != t) {
      return false;
    }
    p = slash + 1;
  }
  return p > end;
}

void server::apply_default_headers(const std::string& path, httplib::Response& res) const {
  for (auto& [prefix, hs] : default_headers_)
    if (path.rfind(prefix, 0) == 0)
      for (auto& [k, v] : hs) res.set_header(k.c_str(), v);
}

void server::add_httplib(route& r,
                         std::function<void(const httplib::Request&, httplib::Response&)> fn) {
  std::string text;  // the route's pattern as httplib takes it
  for (auto& seg : r.segments)
    text += "/" + (seg.empty() || seg.front() != '{' ? regex_escape(seg) : std::string("([^/]+)"));
  if (text.empty()) text = "/";
  text += "/?";
  if (r.method == "GET") srv_->Get(text, std::move(fn));
  else if (r.method == "POST") srv_->Post(text, std::move(fn));
  else if (r.method == "PUT") srv_->Put(text, std::move(fn));
  else if (r.method == "PATCH") srv_->Patch(text, std::move(fn));
  else srv_->Delete(text, std::move(fn));
}

void server::add(const std::string& method, const std::string& path, handler h, route_doc doc,
                 bool nonblocking) {
  auto& r = make_route(method, path, std::move(doc));
  r.nonblocking = nonblocking;
  r.sync = [this, h = std::move(h)](const httplib::Request& req, httplib::Response& res,
                                    const params& ps) {
    apply_default_headers(req.path, res);
    try {
      h(req, res, ps);
    } catch (const error_exception& e) {
      render_error(req, res, e.err());  // in the API's own error format (/api, /hri)
    }
  };
  if (!srv_) return;
  add_httplib(r, [&r](const httplib::Request& req, httplib::Response& res) {
    auto start = clock::steady_us();
    params ps;
    match(r, req.path, &ps);  // httplib routed it: it matches
    r.sync(req, res, ps);
    r.probe->count(res.status, static_cast<double>(clock::steady_us() - start) / 1e6);
  });
}

namespace {

// httplib: the handler's thread waits for the answer.
struct wait_state {
  std::mutex m;
  std::condition_variable cv;
  std::optional<httplib::Response> answer;
  std::optional<int64_t> deadline_us;
  httplib::Response fallback;

  bool respond(httplib::Response res) {
    std::lock_guard<std::mutex> g{m};
    if (answer) return false;
    answer = std::move(res);
    cv.notify_all();
    return true;
  }
  httplib::Response wait() {
    std::unique_lock<std::mutex> g{m};
    while (!answer) {
      if (!deadline_us) {
        cv.wait(g);  // a deadline set later from another thread wakes it too
        continue;
      }
      auto left = *deadline_us - clock::steady_us();
      if (left <= 0) {
        answer = std::move(fallback);
        break;
      }
      cv.wait_for(g, std::chrono::microseconds(left));
    }
    return std::move(*answer);
  }
};

// What the handler holds. When the last copy goes without an answer (a handler's bug), the
// client gets a 500 rather than a thread waiting forever.
struct waiting_target : responder::target {
  std::shared_ptr<wait_state> st = std::make_shared<wait_state>();
  std::function<httplib::Response()> dropped;  // the 500, in the path's error format

  bool respond(httplib::Response res) override { return st->respond(std::move(res)); }
  void deadline(int64_t timeout_ms, httplib::Response fb) override {
    std::lock_guard<std::mutex> g{st->m};
    st->deadline_us = clock::steady_us() + timeout_ms * 1000;
    st->fallback = std::move(fb);
    st->cv.notify_all();
  }
  ~waiting_target() override {
    std::lock_guard<std::mutex> g{st->m};
    if (st->answer) return;
    log::error("http", "a request was dropped without an answer");
    st->answer = dropped();  // the waiting thread (and with it the request) is still there
    st->cv.notify_all();
  }
};

}  // namespace

// native: the answer goes straight to the connection from whichever thread gives it.
struct server::exchange_target : responder::target {
  server* srv = nullptr;
  std::shared_ptr<native::exchange> ex;

  bool respond(httplib::Response res) override {
    if (ex->answered()) return false;
    srv->apply_default_headers(ex->req.path, res);
    return ex->respond(std::move(res));
  }
  void deadline(int64_t timeout_ms, httplib::Response fb) override {
    srv->apply_default_headers(ex->req.path, fb);
    ex->set_deadline(clock::steady_us() + timeout_ms * 1000, std::move(fb));
  }
};

void server::add_async(const std::string& method, const std::string& path, async_handler h,
                       route_doc doc, bool nonblocking) {
  auto& r = make_route(method, path, std::move(doc));
  r.async = std::move(h);
  r.nonblocking = nonblocking;
  if (!srv_) return;
  add_httplib(r, [this, &r](const httplib::Request& req, httplib::Response& res) {
    auto start = clock::steady_us();
    params ps;
    match(r, req.path, &ps);  // httplib routed it: it matches
    auto st = [&] {
      auto t = std::make_shared<waiting_target>();
      // A copy of what the error format depends on: the responder may be dropped after this
      // request is gone (answered by its deadline).
      httplib::Request shape;
      shape.method = req.method;
      shape.path = req.path;
      t->dropped = [this, shape = std::move(shape)] {
        return rendered(shape, error::internal("internal error"));
      };
      auto st = t->st;
      responder rp(std::move(t));  // outlives the catch below: a throw is not a drop
      try {
        r.async(req, ps, rp);
      } catch (const error_exception& e) {
        st->respond(rendered(req, e.err()));
      } catch (const std::exception& e) {
        // Answered here, so that nothing outlives this frame waiting to use the request.
        log::error("http", req.method, " ", req.path, " failed: ", e.what());
        st->respond(rendered(req, error::internal("internal error")));
      }
      return st;
    }();
    res = st->wait();
    apply_default_headers(req.path, res);
    r.probe->count(res.status, static_cast<double>(clock::steady_us() - start) / 1e6);
  });
}

// On a loop thread of the native engine, for each request read.
void server::dispatch(const std::shared_ptr<native::exchange>& ex) {
  auto start = clock::steady_us();
  static const std::string get = "GET";
  const std::string& method = ex->head ? get : ex->req.method;  // HEAD is GET without the body
  route* found = nullptr;
  std::string allow;  // the methods the path has, for a 405
  params ps;
  for (auto& r : routes_) {
    if (!match(r, ex->raw_path, &ps)) {
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
    httplib::Response res;
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
  ex->on_answer = [&r, start](int status) {
    r.probe->count(status, static_cast<double>(clock::steady_us() - start) / 1e6);
  };
  if (r.sync) {
    auto run = [this, ex, &r, ps = std::move(ps)] {
      httplib::Response res;
      try {
        r.sync(ex->req, res, ps);
      } catch (const std::exception& e) {
        log::error("http", ex->req.method, " ", ex->req.path, " failed: ", e.what());
        res = rendered(ex->req, error::internal("internal error"));
        apply_default_headers(ex->req.path, res);
      }
      ex->respond(std::move(res));
    };
    if (here) run();
    else native_->run_blocking(std::move(run));
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
      log::error("http", t->ex->req.method, " ", t->ex->req.path, " failed: ", e.what());
      t->respond(rendered(t->ex->req, error::internal("internal error")));
    }
  };
  if (here) run();
  else native_->run_blocking(std::move(run));
}

httplib::Response server::protocol_error(const httplib::Request& req, int status,
                                         const std::string& why, bool unread) {
  auto res = rendered(req, error{status, status_code_name(status), why, {}});
  apply_default_headers(req.path, res);
  if (unread) probe("unmatched", method_label(req.method)).count(status, 0);
  return res;
}

nlohmann::json server::openapi() const {
  nlohmann::json paths = nlohmann::json::object();
  for (auto& r : routes_) {
    std::string m = r.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    nlohmann::json op;
    op["summary"] = r.doc.summary;
    if (!r.doc.tag.empty()) op["tags"] = {r.doc.tag};
    nlohmann::json ps = nlohmann::json::array();
    for (auto& n : r.names)
      ps.push_back({{"name", n}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    for (auto& q : r.doc.query)
      ps.push_back({{"name", q}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}});
    for (auto& hname : r.doc.header_params)
      ps.push_back({{"name", hname}, {"in", "header"}, {"required", true}, {"schema", {{"type", "string"}}}});
    if (!ps.empty()) op["parameters"] = ps;
    if (!r.doc.request_body.is_null())
      op["requestBody"] = {{"required", true},
                           {"content", {{"application/json", {{"schema", r.doc.request_body}}}}}};
    nlohmann::json responses = nlohmann::json::object();
    for (auto& [status, desc] : r.doc.responses)
      responses[std::to_string(status)] = {{"description", desc}};
    if (responses.empty()) responses["200"] = {{"description", "OK"}};
    op["responses"] = responses;
    paths[r.path][m] = op;
  }
  return {{"openapi", "3.0.3"},
          {"info", {{"title", "medflowd"}, {"version", "0.1.0"},
                    {"description", "medflow: healthcare integration flows on one actor system"}}},
          {"paths", paths}};
}

int server::start() {
  if (!srv_) {
    native::engine::options o;
    o.host = opts_.host;
    o.port = opts_.port;
    o.loops = opts_.io_threads;
    o.pool_threads = opts_.threads;
    o.max_body_bytes = opts_.max_body_bytes;
    o.keep_alive_max_count = opts_.keep_alive_max_count;
    o.keep_alive_timeout_ms = opts_.keep_alive_timeout_s * 1000;
    o.read_timeout_ms = opts_.read_timeout_ms;
    native_ = std::make_unique<native::engine>(
        o, [this](const std::shared_ptr<native::exchange>& ex) { dispatch(ex); },
        [this](const httplib::Request& req, int status, const std::string& why, bool unread) {
          return protocol_error(req, status, why, unread);
        });
    port_ = native_->start();
    return port_;
  }
  port_ = opts_.port == 0 ? srv_->bind_to_any_port(opts_.host)
                          : (srv_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
  if (port_ < 0)
    throw std::runtime_error("cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) +
                             ": " + std::strerror(errno));
  static_cast<listening_server*>(srv_.get())->raise_backlog();
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  // httplib ignores stop() until its loop runs; wait for it so a quick stop cannot be lost.
  for (int i = 0; i < 5000 && !srv_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!srv_->is_running()) throw std::runtime_error("the HTTP server did not start");
  return port_;
}

void server::stop() {
  if (native_) native_->stop();
  if (srv_ && srv_->is_running()) srv_->stop();
  if (thread_.joinable()) thread_.join();
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

nlohmann::json error_body(const error& e) {
  nlohmann::json err = {{"code", e.code}, {"message", e.message}};
  if (!e.detail.is_null()) err["detail"] = e.detail;
  return {{"error", err}};
}

void send_error(httplib::Response& res, const error& e) { send_json(res, e.status, error_body(e)); }

result<nlohmann::json> parse_json_body(const httplib::Request& req) {
  try {
    return nlohmann::json::parse(req.body);
  } catch (const nlohmann::json::parse_error& e) {
    return error::bad_request("request body is not valid JSON: " + json_error_text(e));
  }
}

result<int64_t> query_int(const httplib::Request& req, const std::string& name, int64_t def,
                          int64_t min, int64_t max) {
  if (!req.has_param(name.c_str())) return def;
  auto text = req.get_param_value(name.c_str());
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || *end != '\0')
    return error::bad_request("query parameter " + name + " must be an integer, got \"" + text + "\"");
  if (v < min || v > max)
    return error::bad_request("query parameter " + name + " must be between " +
                              std::to_string(min) + " and " + std::to_string(max));
  return static_cast<int64_t>(v);
}

}  // namespace medflow::http
