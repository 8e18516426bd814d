#include "http/server.hpp"

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <cstdlib>
#include <regex>

namespace medflow::http {

server::options server::options_from(const config& cfg) {
  options o;
  o.host = cfg.string("http.host");
  o.port = static_cast<int>(cfg.integer("http.port"));
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
    case 500: return "internal error";
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
    case 503: return "unavailable";
    default: return "internal_error";
  }
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

server::server(options opts)
    : opts_(std::move(opts)), srv_(std::make_unique<listening_server>()) {
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
  if (status == 404) {
    // An existing path with another method is a 405.
    bool path_known = false;
    for (auto& r : routes_)
      if (std::regex_match(req.path, r.re)) path_known = true;
    if (path_known) {
      res.status = 405;
      status = 405;
    }
  }
  render_error(req, res, error{status, status_code_name(status), status_text(status), {}});
  probe("unmatched", req.method).count(status, 0);
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

void server::add(const std::string& method, const std::string& path, handler h, route_doc doc) {
  route r;
  r.method = method;
  r.path = path;
  std::string pattern;
  size_t i = 0;
  while (i < path.size()) {
    auto open = path.find('{', i);
    if (open == std::string::npos) {
      pattern += regex_escape(path.substr(i));
      break;
    }
    auto close = path.find('}', open);
    pattern += regex_escape(path.substr(i, open - i));
    pattern += "([^/]+)";
    r.names.push_back(path.substr(open + 1, close - open - 1));
    i = close + 1;
  }
  pattern += "/?";  // a trailing slash is ignored
  r.re = std::regex(pattern);
  r.doc = std::move(doc);
  auto names = r.names;
  auto prefix_headers = &default_headers_;
  auto* rp = &probe(path, method);
  auto wrapped = [this, h = std::move(h), names, prefix_headers, rp](
                     const httplib::Request& req, httplib::Response& res) {
    auto start = clock::steady_us();
    params ps;
    for (size_t k = 0; k < names.size() && k + 1 < req.matches.size(); ++k)
      ps[names[k]] = httplib::detail::decode_url(req.matches[k + 1].str(), false);
    for (auto& [prefix, hs] : *prefix_headers)
      if (req.path.rfind(prefix, 0) == 0)
        for (auto& [k, v] : hs) res.set_header(k.c_str(), v);
    try {
      h(req, res, ps);
    } catch (const error_exception& e) {
      render_error(req, res, e.err());  // in the API's own error format (/api, /hri)
    }
    rp->count(res.status, static_cast<double>(clock::steady_us() - start) / 1e6);
  };
  if (method == "GET") srv_->Get(pattern, wrapped);
  else if (method == "POST") srv_->Post(pattern, wrapped);
  else if (method == "PUT") srv_->Put(pattern, wrapped);
  else if (method == "PATCH") srv_->Patch(pattern, wrapped);
  else if (method == "DELETE") srv_->Delete(pattern, wrapped);
  else throw std::logic_error("unsupported method " + method);
  routes_.push_back(std::move(r));
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
