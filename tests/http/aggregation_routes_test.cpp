// The aggregation routes on a real server: writes to the engagement index (Update and
// ProcessNotification) need a bearer token with the scope agp_admin; reads and aggregated
// requests do not.
#include "http/aggregation_routes.hpp"

#include "core/clock.hpp"
#include "core/jwt.hpp"
#include "flows/aggregation/agp_test_data.hpp"
#include "http/server.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

using namespace medflow;
namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
using json = nlohmann::json;

TEST_SUITE_BEGIN("aggregation_routes");

namespace {

const std::string secret = "index-writers-secret";

std::string token(const std::string& scope, int64_t ttl_s = 300, const std::string& key = secret) {
  auto now = clock::now_ms() / 1000;
  return jwt::mint_hs256({{"sub", "ei-feed"}, {"scope", scope}, {"iat", now}, {"exp", now + ttl_s}},
                         key);
}

struct routes_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<ag::service> svc;
  std::unique_ptr<jwt::verifier> writers;
  std::unique_ptr<http::server> srv;
  std::unique_ptr<httplib::Client> cli;

  explicit routes_fixture(bool auth = true) {
    db = test::open_database(dir.file("agg.db"), {ag::index_migrations()});
    svc = std::make_unique<ag::service>(ag::catalog{}, ag::settings{}, *db, nullptr,
                                        [](ag::fan_out_request) {});
    if (auth) {
      jwt::verifier_options vo;
      vo.hs256_secret = secret;
      writers = std::make_unique<jwt::verifier>(vo);
    }
    http::server::options opts;
    opts.port = 0;
    opts.threads = 2;
    srv = std::make_unique<http::server>(opts);
    http::add_aggregation_routes(*srv, *svc, writers.get());
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->start());
  }
  ~routes_fixture() { srv->stop(); }

  static std::string update_body(const std::string& address) {
    auto e = agp::engagement_of(agp::tc3, address);
    return json{{"engagementTransaction", {{{"engagement", ag::to_json(e)}}}}}.dump();
  }

  httplib::Result write(const std::string& route, const std::string& body,
                        const std::string& authorization = "") {
    httplib::Headers hs;
    if (!authorization.empty()) hs.emplace("Authorization", authorization);
    return cli->Post(("/aggregation/engagement-index/" + route).c_str(), hs, body,
                     "application/json");
  }

  size_t engagements() {
    auto r = cli->Post("/aggregation/engagement-index/find-content",
                       json{{"registeredResidentIdentification", agp::tc3},
                            {"serviceDomain", agp::domain}}
                           .dump(),
                       "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json::parse(r->body)["engagement"].size();
  }
};

json body_of(const httplib::Result& r) { return json::parse(r->body); }

}  // namespace

TEST_CASE("engagement index writes without a valid token are 401 and write nothing") {
  routes_fixture f;
  for (const char* route : {"update", "process-notification"}) {
    CAPTURE(route);
    auto r = f.write(route, routes_fixture::update_body("HSA-ID-1"));
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(body_of(r)["error"]["code"] == "unauthorized");
    CHECK(r->get_header_value("WWW-Authenticate").rfind("Bearer realm=\"medflow\"", 0) == 0);

    r = f.write(route, routes_fixture::update_body("HSA-ID-1"), "Basic dXNlcjpwYXNz");
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(body_of(r)["error"]["message"] == "the Authorization header must be \"Bearer <JWT>\"");

    r = f.write(route, routes_fixture::update_body("HSA-ID-1"),
                "Bearer " + token("agp_admin", 300, "another-secret"));
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(body_of(r)["error"]["message"].get<std::string>().rfind("invalid bearer token: ", 0) ==
          0);
    CHECK(r->get_header_value("WWW-Authenticate").find("error=\"invalid_token\"") !=
          std::string::npos);

    r = f.write(route, routes_fixture::update_body("HSA-ID-1"),
                "Bearer " + token("agp_admin", -3600));  // expired an hour ago
    REQUIRE(r);
    CHECK(r->status == 401);
  }
  CHECK(f.engagements() == 0);
}

TEST_CASE("engagement index writes with a token lacking agp_admin are 403") {
  routes_fixture f;
  for (const char* route : {"update", "process-notification"}) {
    CAPTURE(route);
    auto r = f.write(route, routes_fixture::update_body("HSA-ID-1"),
                     "Bearer " + token("hri_admin agp_reader"));
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(body_of(r)["error"]["code"] == "forbidden");
    CHECK(body_of(r)["error"]["message"] == "the token's scopes do not include agp_admin");
    CHECK(r->get_header_value("WWW-Authenticate").find("error=\"insufficient_scope\"") !=
          std::string::npos);
  }
  CHECK(f.engagements() == 0);
}

TEST_CASE("engagement index writes with agp_admin are applied; reads need no token") {
  routes_fixture f;
  auto r = f.write("update", routes_fixture::update_body("HSA-ID-1"),
                   "Bearer " + token("openid agp_admin"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(body_of(r) == json{{"resultCode", "OK"}, {"upserted", 1}, {"deleted", 0}});
  r = f.write("process-notification", routes_fixture::update_body("HSA-ID-2"),
              "bearer " + token("agp_admin"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.engagements() == 2);
  // Authorized, the body is still checked.
  r = f.write("update", R"({"engagementTransaction":[{"engagement":{}}]})",
              "Bearer " + token("agp_admin"));
  REQUIRE(r);
  CHECK(r->status == 400);
}

TEST_CASE("aggregation.auth.disabled: writes are taken without a token") {
  routes_fixture f(false);
  auto r = f.write("update", routes_fixture::update_body("HSA-ID-1"));
  REQUIRE(r);
  CHECK(r->status == 200);
  r = f.write("process-notification", routes_fixture::update_body("HSA-ID-2"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(f.engagements() == 2);
}
