// The routing layer on the engine: routes and their parameters, JSON errors for everything no
// route answered (unreadable requests included), metrics, which thread runs a route.
#include "http/server.hpp"

#include "core/metrics.hpp"
#include "core/version.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include "support/raw_http.hpp"

#include <pthread.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace medflow;

TEST_SUITE_BEGIN("server");

namespace {

std::string thread_name() {
  char name[32] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// The value of one series in the metrics text ("" when absent).
std::string metric_line(const std::string& prefix) {
  auto text = metrics::registry::global().render();
  auto at = text.find(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

struct parked {
  std::mutex m;
  std::condition_variable cv;
  std::vector<http::responder> list;
};

struct server_fixture {
  std::shared_ptr<parked> park = std::make_shared<parked>();
  http::server::options opts;
  std::unique_ptr<http::server> srv;
  std::unique_ptr<httplib::Client> cli;
  int port = 0;

  server_fixture() {
    opts.port = 0;
    opts.threads = 4;
    opts.max_body_bytes = 1024;
    srv = std::make_unique<http::server>(opts);
    srv->add(
        "GET", "/things/{id}/parts/{part}",
        [](const net::request&, net::response& res, const http::params& ps) {
          http::send_json(res, 200, {{"id", ps.at("id")}, {"part", ps.at("part")}});
        });
    srv->add(
        "POST", "/echo",
        [](const net::request& req, net::response& res, const http::params&) {
          auto body = http::parse_json_body(req);
          if (!body) return http::send_error(res, body.err());
          http::send_json(res, 200, *body);
        });
    srv->add(
        "GET", "/boom",
        [](const net::request&, net::response&, const http::params&) {
          throw std::runtime_error("secret detail");
        });
    srv->add(
        "GET", "/refuse",
        [](const net::request&, net::response&, const http::params&) {
          throw error_exception(error::conflict("no way"));
        });
    srv->add(
        "POST", "/size",
        [](const net::request& req, net::response& res, const http::params&) {
          http::send_json(res, 200, {{"size", req.body.size()}});
        });
    auto park = this->park;
    srv->add_async(
        "GET", "/later",
        [park](const net::request&, const http::params&, http::responder r) {
          std::lock_guard<std::mutex> g{park->m};
          park->list.push_back(r);
          park->cv.notify_all();
        }, true);
    srv->add(
        "GET", "/inline",
        [](const net::request&, net::response& res, const http::params&) {
          http::send_json(res, 200, {{"thread", thread_name()}});
        }, true);
    srv->add(
        "GET", "/pooled",
        [](const net::request&, net::response& res, const http::params&) {
          http::send_json(res, 200, {{"thread", thread_name()}});
        });
    srv->add_async(
        "GET", "/dropped", [](const net::request&, const http::params&, http::responder) {}, false);
    srv->add(
        "GET", "/query",
        [](const net::request& req, net::response& res, const http::params&) {
          nlohmann::json params = nlohmann::json::array();
          for (auto& [k, v] : req.params) params.push_back({k, v});
          http::send_json(res, 200, {{"path", req.path}, {"params", params}});
        });
    port = srv->start();
    cli = std::make_unique<httplib::Client>("127.0.0.1", port);
  }
  static nlohmann::json body(const httplib::Result& r) { return nlohmann::json::parse(r->body); }

  // Sends raw bytes on a new connection and returns everything read until the server closes.
  std::string raw(const std::string& request) const {
    int fd = test::connect_loopback(port);
    test::send_all(fd, request);
    auto out = test::read_until_close(fd);
    ::close(fd);
    return out;
  }
};
}  // namespace

TEST_CASE_FIXTURE(server_fixture, "a POST without Content-Length has an empty body, not a 400") {
  auto out = raw("POST /size HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(out.find("{\"size\":0}") != std::string::npos);
}

TEST_CASE_FIXTURE(server_fixture, "path parameters reach the handler URL-decoded") {
  auto r = cli->Get("/things/a%20b/parts/7");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body(r) == nlohmann::json{{"id", "a b"}, {"part", "7"}});
}

TEST_CASE_FIXTURE(server_fixture, "every error has a JSON body with a stable code") {
  auto r = cli->Get("/nowhere");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(body(r)["error"]["code"] == "not_found");
  r = cli->Delete("/echo");
  CHECK(r->status == 405);
  CHECK(r->get_header_value("Allow") == "POST");
  CHECK(body(r)["error"]["code"] == "method_not_allowed");
  r = cli->Post("/echo", std::string(2000, 'x'), "application/json");
  CHECK(r->status == 413);
  CHECK(body(r)["error"]["code"] == "payload_too_large");
  r = cli->Post("/echo", "{\"a\":", "application/json");
  CHECK(r->status == 400);
  CHECK(body(r)["error"]["message"].get<std::string>().rfind("request body is not valid JSON", 0) == 0);
  r = cli->Get("/boom");
  CHECK(r->status == 500);
  CHECK(body(r)["error"] == nlohmann::json{{"code", "internal_error"}, {"message", "internal error"}});
  r = cli->Get("/refuse");
  CHECK(r->status == 409);
  CHECK(body(r)["error"]["message"] == "no way");
}

TEST_CASE_FIXTURE(server_fixture, "a JSON body past json.max_depth or a number's range is a 400 naming it") {
  std::string deep = std::string(400, '[') + std::string(400, ']');
  auto r = cli->Post("/echo", deep, "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(body(r)["error"] ==
        nlohmann::json{{"code", "bad_request"},
                       {"message", "request body: nesting deeper than 256 levels (json.max_depth) "
                                   "at line 1, column 257"}});
  r = cli->Post("/echo", std::string(256, '[') + std::string(256, ']'), "application/json");
  CHECK(r->status == 200);
  // nlohmann throws out_of_range (not parse_error) for these: it used to escape as a 500.
  r = cli->Post("/echo", R"({"items":[{"dose":1e999}]})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(body(r)["error"]["message"] == "request body: number out of range at items[0].dose: 1e999");
  r = cli->Post("/echo", "-1e400", "application/json");
  CHECK(r->status == 400);
  CHECK(body(r)["error"]["message"] == "request body: number out of range at the top level: -1e400");
}

TEST_CASE_FIXTURE(server_fixture, "an async route's deadline may be set later, from another thread") {
  std::thread client([&] {
    auto r = cli->Get("/later");
    REQUIRE(r);
    CHECK(r->status == 504);
    CHECK(r->body == "late");
  });
  std::vector<http::responder> held;  // kept: not a drop
  {
    std::unique_lock<std::mutex> g{park->m};
    park->cv.wait(g, [&] { return !park->list.empty(); });
    held = park->list;
  }
  net::response late;
  late.status = 504;
  late.set_content("late", "text/plain");
  held[0].deadline(30, late);
  client.join();
  CHECK_FALSE(held[0](net::response()));
}

TEST_CASE_FIXTURE(server_fixture, "openapi serves the document's operations of the registered routes") {
  nlohmann::json part = {{"operationId", "getPart"}, {"summary", "a thing's part"}};
  nlohmann::json doc = {
      {"openapi", "3.0.3"},
      {"info", {{"title", "things"}, {"version", "from the file"}}},
      {"tags", {{{"name", "test"}, {"description", "kept as it is"}}}},
      {"paths",
       {{"/things/{id}/parts/{part}", {{"get", part}, {"delete", {{"operationId", "unserved"}}}}},
        {"/gone", {{"get", {{"operationId", "gone"}}}}}}}};
  auto out = srv->openapi(doc);
  CHECK(out["info"]["version"] == std::string(version()));
  CHECK(out["info"]["title"] == "things");
  CHECK(out["tags"] == doc["tags"]);
  CHECK(out["paths"]["/things/{id}/parts/{part}"]["get"] == part);
  // Operations of routes not registered are left out.
  CHECK_FALSE(out["paths"]["/things/{id}/parts/{part}"].contains("delete"));
  CHECK_FALSE(out["paths"].contains("/gone"));
  // A registered route the document lacks is listed, without an operationId, saying so.
  auto& echo = out["paths"]["/echo"]["post"];
  CHECK_FALSE(echo.contains("operationId"));
  CHECK(echo["summary"].get<std::string>().rfind("undocumented route", 0) == 0);
  CHECK(out["paths"].size() == 10);  // every route of the fixture
}

TEST_CASE("the built-in OpenAPI document is served with medflowd's version") {
  http::server srv{{}};
  srv.add("GET", "/healthz", [](const net::request&, net::response&, const http::params&) {});
  auto out = srv.openapi();
  CHECK(out["openapi"] == "3.0.3");
  CHECK(out["info"]["version"] == std::string(version()));
  CHECK(out["paths"]["/healthz"]["get"]["operationId"] == "getLiveness");
  CHECK(out["paths"].size() == 1);
  CHECK(nlohmann::json::parse(http::openapi_document())["paths"].size() > 50);
}

TEST_CASE_FIXTURE(server_fixture, "the query reaches a route decoded, in order") {
  auto out = raw("GET /query?b=2&a=x%20y&a=z+w&empty=&flag&&c%3D=%26 HTTP/1.1\r\n"
                 "Host: x\r\nConnection: close\r\n\r\n");
  REQUIRE(out.rfind("HTTP/1.1 200 ", 0) == 0);
  auto params = nlohmann::json::array();
  for (auto [k, v] : {std::pair{"b", "2"}, {"a", "x y"}, {"a", "z w"}, {"empty", ""},
                      {"flag", ""}, {"c=", "&"}})
    params.push_back(nlohmann::json::array({k, v}));
  CHECK(nlohmann::json::parse(out.substr(out.find("\r\n\r\n") + 4)) ==
        nlohmann::json{{"path", "/query"}, {"params", params}});
}

TEST_CASE_FIXTURE(server_fixture, "requests that cannot be read get a JSON error and a close") {
  struct bad {
    std::string request;
    int status;
    const char* code;
    const char* message;
  };
  std::vector<bad> cases = {
      {"GARBAGE\r\n\r\n", 400, "bad_request", "malformed request line"},
      {"GET /x HTTP/2.0\r\n\r\n", 505, "http_version_not_supported",
       "HTTP version not supported"},
      {"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n", 413, "payload_too_large",
       "request body too large"},
      {"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "not_implemented",
       "transfer coding not supported"},
      {"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_request", "both Content-Length and Transfer-Encoding"},
      {"GET /things/a%zz/parts/1 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request",
       "malformed percent-encoding in the request target"},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long",
       "request line too long"},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(70000, 'a') + "\r\n\r\n", 431,
       "header_fields_too_large", "request header fields too large"},
  };
  for (auto& c : cases) {
    CAPTURE(c.status);
    auto out = raw(c.request);  // the server closes after the error
    REQUIRE(out.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0) == 0);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    auto err = nlohmann::json::parse(out.substr(out.find("\r\n\r\n") + 4))["error"];
    CHECK(err == nlohmann::json{{"code", c.code}, {"message", c.message}});
  }
}

TEST_CASE_FIXTURE(server_fixture, "a nonblocking route runs on the connection's thread") {
  int fd = test::connect_loopback(port);
  test::send_all(fd, "GET /inline HTTP/1.1\r\nHost: x\r\n\r\nGET /pooled HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  CHECK(test::read_response(fd, rest).body == R"({"thread":"mf.http"})");
  CHECK(test::read_response(fd, rest).body == R"({"thread":"mf.http.pool"})");
  ::close(fd);
}

TEST_CASE_FIXTURE(server_fixture,
                  "made-up methods do not grow the metrics; a dropped request counts once") {
  for (int i = 0; i < 5; ++i) {
    auto out = raw("M" + std::to_string(i) + "X /size HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(out.find("Allow: POST\r\n") != std::string::npos);
  }
  const std::string series = "medflow_http_requests_total";
  CHECK(metric_line(series + R"({route="unmatched",method="M0X")").empty());
  CHECK_FALSE(metric_line(series + R"({route="unmatched",method="other",status="405"})").empty());

  const std::string unmatched = series + R"({route="unmatched",method="GET",status="500"})";
  auto unmatched_500 = metric_line(unmatched);
  auto r = cli->Get("/dropped");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(body(r)["error"]["code"] == "internal_error");
  CHECK(metric_line(unmatched) == unmatched_500);
  CHECK_FALSE(metric_line(series + R"({route="/dropped",method="GET",status="500"})").empty());
}

TEST_CASE("query_int checks type and range") {
  net::request req;
  req.params.emplace_back("n", "12");
  req.params.emplace_back("bad", "1x");
  CHECK(*http::query_int(req, "n", 0, 0, 100) == 12);
  CHECK(*http::query_int(req, "absent", 7, 0, 100) == 7);
  CHECK(http::query_int(req, "bad", 0, 0, 100).err().message ==
        "query parameter bad must be an integer, got \"1x\"");
  CHECK(http::query_int(req, "n", 0, 0, 10).err().message ==
        "query parameter n must be between 0 and 10");
}

TEST_CASE("integers from the query and the path are strict and range-checked") {
  net::request req;
  for (const char* bad : {"+5", " 5", "5 ", "0x10", "1e3", "5.0", "", "-", "٣"})
    req.params.emplace_back("n", bad);
  for (auto& [name, text] : req.params) {
    CAPTURE(text);
    net::request one;
    one.params.emplace_back(name, text);
    auto r = http::query_int(one, "n", 0, -100, 100);
    REQUIRE_FALSE(r);
    CHECK(r.err().status == 400);
    CHECK(r.err().message == "query parameter n must be an integer, got \"" + text + "\"");
  }
  // Too large for any 64-bit integer, or for the route: out of range, never wrapped.
  for (const char* big : {"4294967296", "9223372036854775808", "99999999999999999999999",
                          "-9223372036854775809"}) {
    CAPTURE(big);
    net::request one;
    one.params.emplace_back("offset", big);
    auto r = http::query_int(one, "offset", 0, 0, INT32_MAX);
    REQUIRE_FALSE(r);
    CHECK(r.err().message == "query parameter offset must be between 0 and 2147483647");
  }
  net::request edge;
  edge.params.emplace_back("n", "-0");
  edge.params.emplace_back("m", "9223372036854775807");
  CHECK(*http::query_int(edge, "n", 7, 0, 10) == 0);
  CHECK(*http::query_int(edge, "m", 0, 0, INT64_MAX) == INT64_MAX);

  http::params ps{{"partition", "4294967296"}, {"p", "2147483647"}, {"q", "+1"}};
  auto p = http::path_int(ps, "partition", 0, INT32_MAX);
  REQUIRE_FALSE(p);
  CHECK(p.err().message == "partition must be between 0 and 2147483647");
  CHECK(*http::path_int(ps, "p", 0, INT32_MAX) == INT32_MAX);
  CHECK(http::path_int(ps, "q", 0, INT32_MAX).err().message ==
        "q must be an integer, got \"+1\"");
}

TEST_SUITE_END();
