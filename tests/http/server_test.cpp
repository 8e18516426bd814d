#include "http/server.hpp"

#include <doctest/doctest.h>

#include "support/raw_http.hpp"

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace medflow;

// The suite runs on the native engine, and again on httplib's (ctest's test_http_httplib sets
// MEDFLOW_TEST_HTTP_SERVER=httplib).
TEST_SUITE_BEGIN("server");

namespace {
std::string engine_under_test() {
  const char* e = std::getenv("MEDFLOW_TEST_HTTP_SERVER");
  return e && *e ? e : "native";
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
    opts.engine = engine_under_test();
    opts.threads = 4;
    opts.max_body_bytes = 1024;
    srv = std::make_unique<http::server>(opts);
    srv->add(
        "GET", "/things/{id}/parts/{part}",
        [](const httplib::Request&, httplib::Response& res, const http::params& ps) {
          http::send_json(res, 200, {{"id", ps.at("id")}, {"part", ps.at("part")}});
        },
        {"a thing's part", "test", nullptr, {{200, "ok"}}});
    srv->add(
        "POST", "/echo",
        [](const httplib::Request& req, httplib::Response& res, const http::params&) {
          auto body = http::parse_json_body(req);
          if (!body) return http::send_error(res, body.err());
          http::send_json(res, 200, *body);
        },
        {"echo", "test", {{"type", "object"}}, {{200, "ok"}}});
    srv->add(
        "GET", "/boom",
        [](const httplib::Request&, httplib::Response&, const http::params&) {
          throw std::runtime_error("secret detail");
        },
        {"fails", "test", nullptr, {}});
    srv->add(
        "GET", "/refuse",
        [](const httplib::Request&, httplib::Response&, const http::params&) {
          throw error_exception(error::conflict("no way"));
        },
        {"refuses", "test", nullptr, {}});
    srv->add(
        "POST", "/size",
        [](const httplib::Request& req, httplib::Response& res, const http::params&) {
          http::send_json(res, 200, {{"size", req.body.size()}});
        },
        {"body size", "test", nullptr, {{200, "ok"}}});
    auto park = this->park;
    srv->add_async(
        "GET", "/later",
        [park](const httplib::Request&, const http::params&, http::responder r) {
          std::lock_guard<std::mutex> g{park->m};
          park->list.push_back(r);
          park->cv.notify_all();
        },
        {"answered by the test", "test", nullptr, {}}, true);
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
  httplib::Response late;
  late.status = 504;
  late.set_content("late", "text/plain");
  held[0].deadline(30, late);
  client.join();
  CHECK_FALSE(held[0](httplib::Response()));
}

TEST_CASE_FIXTURE(server_fixture, "openapi describes the registered routes") {
  auto doc = srv->openapi();
  CHECK(doc["openapi"] == "3.0.3");
  auto& op = doc["paths"]["/things/{id}/parts/{part}"]["get"];
  CHECK(op["summary"] == "a thing's part");
  CHECK(op["parameters"].size() == 2);
  CHECK(doc["paths"]["/echo"]["post"]["requestBody"]["required"] == true);
}

TEST_CASE("query_int checks type and range") {
  httplib::Request req;
  req.params.emplace("n", "12");
  req.params.emplace("bad", "1x");
  CHECK(*http::query_int(req, "n", 0, 0, 100) == 12);
  CHECK(*http::query_int(req, "absent", 7, 0, 100) == 7);
  CHECK(http::query_int(req, "bad", 0, 0, 100).err().message ==
        "query parameter bad must be an integer, got \"1x\"");
  CHECK(http::query_int(req, "n", 0, 0, 10).err().message ==
        "query parameter n must be between 0 and 10");
}

TEST_SUITE_END();
