// The exams flow's routes on a real server: the reference's envelope and error bodies (A.4),
// every route's success and its errors (400 / 404 / 409 / 422), /exams/info from the query or
// a body, /exams/communicate by POST and by GET with a body, and the built-in patient manager.
#include "http/exams_routes.hpp"

#include "flows/exams/exams_fixture.hpp"
#include "http/server.hpp"

#include <httplib.h>

using namespace medflow;
using namespace medflow::test::exams_fx;
using json = nlohmann::json;

TEST_SUITE_BEGIN("exams_routes");

namespace {

struct routes_fixture : fixture {
  std::unique_ptr<http::server> srv;
  std::unique_ptr<httplib::Client> cli;

  routes_fixture() {
    http::server::options opts;
    opts.port = 0;
    opts.threads = 4;
    srv = std::make_unique<http::server>(opts);
    http::add_exams_routes(*srv, *svc);
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->start());
  }
  ~routes_fixture() { srv->stop(); }

  struct answer {
    int status = 0;
    json body;
  };
  answer call(const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    if (!body.empty()) req.set_header("Content-Type", "application/json");
    auto r = cli->send(req);
    REQUIRE(r);
    answer a;
    a.status = r->status;
    a.body = json::parse(r->body, nullptr, false);
    return a;
  }
  answer post(const std::string& path, const json& body) { return call("POST", path, body.dump()); }

  std::string new_patient(const std::string& doc, const std::string& status = "active") {
    auto a = post("/patients", {{"document", doc}, {"name", "Ana Souza"}, {"status", status},
                                {"email", "ana@example.org"}});
    REQUIRE(a.status == 201);
    return a.body["data"]["id"];
  }
};

// The reference's error body.
void check_error(const routes_fixture::answer& a, int status, const std::string& title,
                 const std::string& detail, const std::string& err = "") {
  CHECK(a.status == status);
  CHECK(a.body["status"] == status);
  CHECK(a.body["title"] == title);
  CHECK(a.body["detail"] == detail);
  if (!err.empty()) CHECK(a.body["err"] == err);
  CHECK(a.body["errorKey"].is_string());
  CHECK_FALSE(a.body.contains("data"));
}

}  // namespace

TEST_CASE("patients: the built-in manager's routes and /document/find's bare Patient") {
  routes_fixture fx;
  auto id = fx.new_patient("111");
  auto bad = fx.post("/patients", {{"document", "112"}, {"name", "Ana Souza"},
                                   {"email", "ana@spam.com"}});
  check_error(bad, 400, "Input Error", "email: domain is blocked");
  CHECK(bad.body["errorKey"] == "error.InputError");
  check_error(fx.post("/patients", {{"document", "111"}, {"name", "Ana Souza"}}), 409,
              "Patient Error", "Document already registered");
  check_error(fx.call("POST", "/patients", "{"), 400, "Input Error", "Request DTO error");

  auto got = fx.call("GET", "/patients/" + id);
  CHECK(got.status == 200);
  CHECK(got.body["data"]["name"] == "Ana Souza");
  auto put = fx.call("PUT", "/patients/" + id,
                     json{{"document", "111"}, {"name", "Ana Maria Souza"}, {"status", "inactive"}}
                         .dump());
  CHECK(put.status == 200);
  CHECK(put.body["data"]["status"] == "inactive");
  check_error(fx.call("PUT", "/patients/" + id, json{{"document", "111"}, {"name", "Ana"}}.dump()),
              400, "Input Error", "name: needs at least two space-separated parts");
  check_error(fx.call("PUT", "/patients/nobody", json{{"document", "9"}, {"name", "A B"}}.dump()),
              404, "Patient Error", "Patient not found");
  check_error(fx.call("DELETE", "/patients/nobody"), 404, "Patient Error", "Patient not found");
  auto found = fx.post("/document/find", {{"document", "111"}});
  CHECK(found.status == 200);
  CHECK(found.body["id"] == id);  // bare: no envelope
  CHECK(found.body["name"] == "Ana Maria Souza");
  CHECK_FALSE(found.body.contains("data"));
  check_error(fx.post("/document/find", {{"document", "nobody"}}), 404, "Patient Error",
              "Patient not found");
  check_error(fx.post("/document/find", json::object()), 400, "Input Error",
              "request field not found", "document");
  auto del = fx.call("DELETE", "/patients/" + id);
  CHECK(del.status == 200);
  CHECK(del.body["data"]["deleted_at"].is_string());
  check_error(fx.call("GET", "/patients/" + id), 404, "Patient Error", "Patient not found");
  auto unrouted = fx.call("GET", "/patients/" + id + "/x");
  CHECK(unrouted.status == 404);
  CHECK(unrouted.body["title"] == "Not Found");  // the reference's body on unknown routes too
  CHECK(unrouted.body["status"] == 404);
}

TEST_CASE("exam routes: new, info, start, communicate, revoke") {
  routes_fixture fx;
  auto pid = fx.new_patient("100");
  fx.new_patient("200", "pending");

  // /exam/new and its input errors (A.5).
  check_error(fx.call("POST", "/exam/new"), 400, "Input Error", "Request DTO error");
  check_error(fx.post("/exam/new", {{"exam_type", 1}}), 400, "Input Error",
              "request field not found", "document");
  check_error(fx.post("/exam/new", {{"document", "100"}}), 400, "Input Error",
              "request field not found", "exam_type");
  check_error(fx.post("/exam/new", {{"document", "100"}, {"exam_type", "1"}}), 400,
              "Input Error", "Request DTO error");
  check_error(fx.post("/exam/new", {{"document", "100"}, {"exam_type", 999}}), 400,
              "Input Error", "Exam type not found");
  check_error(fx.post("/exam/new", {{"document", "404"}, {"exam_type", 1}}), 404,
              "Patient Error", "Patient not found");
  check_error(fx.post("/exam/new", {{"document", "200"}, {"exam_type", 1}}), 422,
              "Patient Error", "Patient not eligible", "id or status error");
  auto created = fx.post("/exam/new", {{"document", "100"}, {"exam_type", 1}});
  REQUIRE(created.status == 200);
  auto exam = created.body["data"];
  CHECK(exam["patient_id"] == pid);
  CHECK(exam["status"] == "Registered");
  CHECK(exam["exam_type"] == 1);
  CHECK(exam["is_revoked"] == false);
  CHECK(clock::is_rfc3339_date_time(exam["created_at"].get<std::string>()));
  std::string exam_id = exam["exam_id"];

  // /exams/info: the query parameter, or a JSON body.
  auto by_query = fx.call("GET", "/exams/info?document=100");
  CHECK(by_query.status == 200);
  REQUIRE(by_query.body["data"].size() == 1);
  CHECK(by_query.body["data"][0]["exam_id"] == exam_id);
  auto by_body = fx.call("GET", "/exams/info", json{{"document", "100"}}.dump());
  CHECK(by_body.body == by_query.body);
  check_error(fx.call("GET", "/exams/info"), 400, "Input Error", "request field not found",
              "document");
  check_error(fx.call("GET", "/exams/info?document=404"), 404, "Patient Error", "Patient not found");
  check_error(fx.call("GET", "/exams/info?document=200"), 422, "Patient Error",
              "Patient not eligible");

  // /exam/start.
  check_error(fx.post("/exam/start", {{"document", "100"}, {"exam_id", exam_id}}), 400,
              "Input Error", "request field not found", "needs exam_id, patient_id and exam_type");
  check_error(fx.post("/exam/start", {{"document", "100"}, {"exam_id", "nope"}, {"exam_type", 1}}),
              404, "Exam Error", "Exam not found");
  auto started = fx.post("/exam/start", {{"document", "100"}, {"exam_id", exam_id}, {"exam_type", 1}});
  REQUIRE(started.status == 200);
  std::string token = started.body["data"];
  CHECK(std::count(token.begin(), token.end(), '.') == 2);
  check_error(fx.post("/exam/start", {{"document", "100"}, {"exam_id", exam_id}, {"exam_type", 1}}),
              409, "Exam Error", "Exam cannot be started");

  SUBCASE("communicate: refused tokens, then the result, then never twice") {
    auto body = [&](const std::string& et, const std::string& rt) {
      return json{{"exam_token", et}, {"result_token", rt}}.dump();
    };
    check_error(fx.call("POST", "/exams/communicate", json{{"exam_token", token}}.dump()), 400,
                "Input Error", "request field not found", "result_token");
    auto forged = fx.call("POST", "/exams/communicate",
                          body(token + "x", result_token(exam_id, "r1")));
    check_error(forged, 400, "Input Error", "Invalid exam_token");
    check_error(fx.call("POST", "/exams/communicate",
                        body(token, result_token(exam_id, "r1", -600))),
                400, "Input Error", "Invalid result_token", "token is expired");
    check_error(fx.call("POST", "/exams/communicate",
                        body(token, result_token(exam_id, "r1", 300, "wrong-key"))),
                400, "Input Error", "Invalid result_token");
    check_error(fx.call("POST", "/exams/communicate", body(token, result_token("other", "r1"))),
                400, "Input Error", "Tokens do not match");
    // GET with the body, as the reference's code routes it.
    auto done = fx.call("GET", "/exams/communicate", body(token, result_token(exam_id, "r1")));
    REQUIRE(done.status == 200);
    CHECK(done.body["data"]["status"] == "Finished");
    CHECK(done.body["data"]["result_id"] == "r1");
    CHECK(clock::is_rfc3339_date_time(done.body["data"]["finished_at"].get<std::string>()));
    CHECK(clock::is_rfc3339_date_time(done.body["data"]["result_valid_until"].get<std::string>()));
    check_error(fx.call("POST", "/exams/communicate", body(token, result_token(exam_id, "r1"))),
                409, "Exam Error", "Result already applied");
    check_error(fx.post("/exam/revoke", {{"document", "100"}, {"exam_id", exam_id},
                                         {"reason", "late"}}),
                409, "Exam Error", "Exam cannot be revoked");
  }
  SUBCASE("revoke, then the result is refused") {
    check_error(fx.post("/exam/revoke", {{"document", "100"}, {"exam_id", exam_id}}), 400,
                "Input Error", "request field not found", "reason");
    check_error(fx.post("/exam/revoke", {{"document", "100"}, {"exam_id", "nope"},
                                         {"reason", "x"}}),
                404, "Exam Error", "Exam not found");
    check_error(fx.post("/exam/revoke", {{"document", "200"}, {"exam_id", exam_id},
                                         {"reason", "x"}}),
                422, "Patient Error", "Patient not eligible");
    auto r = fx.post("/exam/revoke", {{"document", "100"}, {"exam_id", exam_id},
                                      {"reason", "ordered twice"}});
    REQUIRE(r.status == 200);
    CHECK(r.body["data"]["status"] == "Revoked");
    CHECK(r.body["data"]["is_revoked"] == true);
    check_error(fx.post("/exams/communicate", {{"exam_token", token},
                                               {"result_token", result_token(exam_id, "r2")}}),
                409, "Exam Error", "Exam revoked");
  }
}
