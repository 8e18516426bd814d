// The exams flow's domain and service on a real SQLite store: A.10's validation, the catalog,
// transitions, patients sealed at rest, exams and their tokens, and results applied from files
// (every outcome, idempotent per file) and by hand; the external patient manager against a
// real HTTP server on loopback.
#include "flows/exams/exams_fixture.hpp"

#include "core/metrics.hpp"
#include "net/http_client.hpp"

#include <httplib.h>

#include <atomic>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

using namespace medflow;
using namespace medflow::test::exams_fx;
using json = nlohmann::json;

TEST_SUITE_BEGIN("exams_service");

namespace {

std::string message_of(const status& s) { return s.ok() ? "" : s.err().message; }

template <class T>
std::string input_error(const result<T>& r) {
  return r.ok() ? std::string("ok") : r.err().message;
}

}  // namespace

TEST_CASE("A.10: names, e-mail addresses and phones") {
  CHECK(ex::check_name("Ana Souza").ok());
  CHECK(message_of(ex::check_name("Ana")) == "needs at least two space-separated parts");
  CHECK(message_of(ex::check_name("  Ana   ")) == "needs at least two space-separated parts");
  CHECK(message_of(ex::check_name("Ana $ouza")) == "must not contain any of ! @ $ % *");
  CHECK(ex::check_email("ana@example.org").ok());
  CHECK(message_of(ex::check_email("ana.example.org")) == "expected local@domain");  // no crash
  CHECK(message_of(ex::check_email("@example.org")) == "expected local@domain");
  CHECK(message_of(ex::check_email("ana@")) == "expected local@domain");
  CHECK(message_of(ex::check_email("a@b@c")) == "more than one @");
  for (auto blocked : {"x@spam.uk", "x@spam.com", "x@test.com", "x@TEST.com"})
    CHECK_MESSAGE(message_of(ex::check_email(blocked)) == "domain is blocked", blocked);
  CHECK(ex::check_cellphone("51998765432").ok());
  CHECK(ex::check_cellphone("5551998765432").ok());
  CHECK(message_of(ex::check_cellphone("5199876543x")) == "expected digits only");
  CHECK(message_of(ex::check_cellphone("+5199876543")) == "expected digits only");
  CHECK(message_of(ex::check_cellphone("5199876543")) == "expected 11 to 15 digits");
  CHECK(message_of(ex::check_cellphone("51898765432")) ==
        "the 9th digit from the end must be 9 (a mobile number)");
}

TEST_CASE("a patient body: each failure names its field") {
  json good = {{"document", "123"}, {"name", "Ana Souza"}, {"email", "ana@example.org"},
               {"cellphone", "51998765432"}, {"status", "active"},
               {"email_verified_at", "2022-08-08T10:00:00Z"}, {"data", {{"k", 1}}}};
  auto in = ex::read_patient_input(good);
  REQUIRE(in.ok());
  CHECK(in->status == ex::patient_status::active);
  CHECK(in->email_verified_at == int64_t{1659952800000});
  auto without = [&](const char* f) {
    json j = good;
    j.erase(f);
    return input_error(ex::read_patient_input(j));
  };
  auto with = [&](const char* f, json v) {
    json j = good;
    j[f] = std::move(v);
    return input_error(ex::read_patient_input(j));
  };
  CHECK(without("document") == "document: required");
  CHECK(without("name") == "name: required");
  CHECK(without("email") == "email_verified_at: set without an email");
  CHECK(with("email", "ana@test.com") == "email: domain is blocked");
  CHECK(with("email", "ana") == "email: expected local@domain");
  CHECK(with("name", "Ana") == "name: needs at least two space-separated parts");
  CHECK(with("cellphone", "123") == "cellphone: expected 11 to 15 digits");
  CHECK(with("status", "deleted") == "status: expected pending, active or inactive");
  CHECK(with("birth_date", "1990-02-30") == "birth_date: expected YYYY-MM-DD");
  CHECK(with("email_verified_at", "yesterday") ==
        "email_verified_at: expected an RFC 3339 date-time, e.g. 2022-08-08T10:00:00Z");
  CHECK(with("data", json::array()) == "data: expected a JSON object");
  CHECK(with("document", 12) == "document: expected a string");
  CHECK(with("nickname", "x") == "nickname: unknown field");
  CHECK(input_error(ex::read_patient_input(json::array())) ==
        "request body: expected a JSON object");
}

TEST_CASE("the exam type catalog: the shipped file, and what a catalog may not hold") {
  auto c = ex::load_catalog("");
  REQUIRE(c.find(1) != nullptr);
  CHECK(c.find(1)->name == "Complete blood count");
  CHECK(c.find(999) == nullptr);
  std::ifstream in(std::string(MEDFLOW_SOURCE_DIR) + "/config/exams.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == std::string(ex::shipped_catalog()));
  auto err = [](const json& j) { return input_error(ex::parse_catalog(j)); };
  json t = {{"code", 1}, {"name", "A"}, {"result_validity_days", 10}};
  CHECK(err({{"exam_types", {t, t}}}) == "exam_types[1].code: duplicate code 1");
  CHECK(err({{"exam_types", {{{"code", "1"}, {"name", "A"}, {"result_validity_days", 1}}}}}) ==
        "exam_types[0].code: expected an integer");
  CHECK(err({{"exam_types", {{{"code", 2}, {"name", ""}, {"result_validity_days", 1}}}}}) ==
        "exam_types[0].name: expected a string of 1..200 bytes");
  CHECK(err({{"exam_types", {{{"code", 2}, {"name", "B"}, {"result_validity_days", 0}}}}}) ==
        "exam_types[0].result_validity_days: expected an integer 1..36500");
  CHECK(err({{"types", json::array()}}) == "types: unknown field (expected exam_types)");
}

TEST_CASE("patients: a document registered at the same moment elsewhere is 409, not 500") {
  // Another medflowd on a shared store: its transaction holds a patient with the document, not
  // committed yet, when this one checks the document and writes.
  fixture f;
  auto other = test::open_connection(f.dir.file("exams.db"));
  store::transaction tx(*other);
  ex::records recs(settings().crypto_key);
  ex::patient p;
  p.id = "other-instance-patient";
  p.document = "11122233344";
  p.name = "Ana Souza";
  p.birth_date = "1990-04-01";
  p.status = ex::patient_status::active;
  recs.insert_patient(*other, p);
  auto created = std::async(std::launch::async, [&] {
    return f.svc->create_patient(person("11122233344"), clock::now_ms());
  });
  if (other->backend() == store::backend::postgres) {
    // Commit only once the write waits on the unique index (SQLite's writer waits at BEGIN).
    auto watcher = test::open_connection(f.dir.file("exams.db"));
    auto waiting = [&] {
      auto q = watcher->prepare("SELECT count(*) FROM pg_locks WHERE NOT granted");
      return q.step() && q.int64(0) > 0;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!waiting() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(waiting());
  }
  tx.commit();
  auto r = created.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 409);
}

TEST_CASE("transitions: Registered -> Started -> Finished, Registered|Started -> Revoked only") {
  using st = ex::exam_status;
  const st all[] = {st::registered, st::started, st::finished, st::revoked};
  int allowed = 0;
  for (auto from : all)
    for (auto to : all) allowed += ex::transition_allowed(from, to);
  CHECK(allowed == 4);
  CHECK(ex::transition_allowed(st::registered, st::started));
  CHECK(ex::transition_allowed(st::started, st::finished));
  CHECK(ex::transition_allowed(st::registered, st::revoked));
  CHECK(ex::transition_allowed(st::started, st::revoked));
  CHECK_FALSE(ex::transition_allowed(st::registered, st::finished));
  CHECK_FALSE(ex::transition_allowed(st::finished, st::revoked));
}

TEST_CASE("patients: create, read, update, soft delete; personal data sealed at rest") {
  fixture fx;
  auto p = fx.patient("12345678900");
  CHECK(p.id.size() == 36);
  auto again = fx.svc->create_patient(person("12345678900"), clock::now_ms());
  REQUIRE_FALSE(again.ok());
  CHECK(again.err().status == 409);
  auto got = fx.svc->get_patient(p.id);
  REQUIRE(got.ok());
  CHECK(got->name == "Ana Maria Souza");
  CHECK(got->email == "ana@example.org");
  auto j = to_json(*got);
  CHECK(j["deleted_at"].is_null());
  CHECK(j["created_at"].get<std::string>().back() == 'Z');
  CHECK(j["email_verified_at"] == "2022-04-15T05:20:00.000Z");
  CHECK_FALSE(j.contains("cellphone_verified_at"));

  SUBCASE("nothing personal in clear in the database file's rows") {
    auto r = fx.db->reader();
    auto q = r->prepare("SELECT document_hash, document, name, email, cellphone FROM exams_patients");
    REQUIRE(q.step());
    CHECK(q.text(0).size() == 64);
    CHECK(q.text(0).find("12345678900") == std::string::npos);
    for (int col = 1; col <= 4; ++col) {
      CHECK(q.text(col).rfind("v1:", 0) == 0);
      for (auto clear : {"12345678900", "Ana", "ana@example.org", "51998765432"})
        CHECK(q.text(col).find(clear) == std::string::npos);
    }
  }
  SUBCASE("another key opens nothing: a storage error, not wrong data; refused at start") {
    fx.svc->check_sealing_key();  // records the key
    fx.svc->check_sealing_key();
    auto s = settings();
    s.crypto_key = *crypto::parse_key_hex(std::string(64, 'b'));
    ex::service other(*fx.db, s);
    CHECK_THROWS_WITH_AS(other.check_sealing_key(),
                         doctest::Contains("is not the key this database's personal data"),
                         std::runtime_error);
    auto r = other.get_patient(p.id);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 500);
    // The document hash is keyed too: the other key finds nobody.
    CHECK(other.find_patient_by_document("12345678900").err().status == 404);
  }
  SUBCASE("update, then soft delete") {
    auto in = person("12345678900");
    in.email = "ana.souza@example.org";
    in.email_verified_at.reset();
    auto u = fx.svc->update_patient(p.id, in, clock::now_ms());
    REQUIRE(u.ok());
    CHECK(fx.svc->get_patient(p.id)->email == "ana.souza@example.org");
    CHECK_FALSE(fx.svc->get_patient(p.id)->email_verified_at);
    fx.patient("999");
    CHECK(fx.svc->update_patient(p.id, person("999"), clock::now_ms()).err().status == 409);
    auto d = fx.svc->delete_patient(p.id, clock::now_ms());
    REQUIRE(d.ok());
    CHECK(d->status == ex::patient_status::inactive);
    CHECK(d->deleted_at);
    CHECK(fx.svc->get_patient(p.id).err().status == 404);
    CHECK(fx.svc->delete_patient(p.id, clock::now_ms()).err().status == 404);
    CHECK(fx.svc->find_patient_by_document("12345678900").err().status == 404);
    // The document is free again.
    CHECK(fx.svc->create_patient(person("12345678900"), clock::now_ms()).ok());
  }
}

TEST_CASE("exams: register, start (the exam token), revoke; the errors and their statuses") {
  fixture fx;
  fx.patient("100");
  fx.patient("200", ex::patient_status::pending);
  auto e = fx.register_exam("100", 2);
  REQUIRE(e.ok());
  CHECK(e->status == ex::exam_status::registered);
  CHECK(e->exam_type == 2);
  CHECK(e->version == 1);
  CHECK(to_json(*e)["is_revoked"] == false);
  CHECK(to_json(*e)["finished_at"].is_null());

  CHECK(fx.register_exam("404").err().status == 404);
  auto inactive = fx.register_exam("200");
  CHECK(inactive.err().status == 422);
  CHECK(inactive.err().message == "Patient not eligible");
  auto unknown = fx.register_exam("100", 999);
  CHECK(unknown.err().status == 400);
  CHECK(unknown.err().message == "Exam type not found");

  CHECK(fx.start("100", "no-such-exam", 2).err().status == 404);
  CHECK(fx.start("100", e->id, 3).err().status == 400);  // not the stored exam_type
  fx.patient("300");
  CHECK(fx.start("300", e->id, 2).err().status == 422);  // another patient's exam
  auto token = fx.start("100", e->id, 2);
  REQUIRE(token.ok());
  jwt::verifier v(jwt::verifier_options{exam_key});
  auto claims = v.verify(*token, now_s());
  REQUIRE(claims.ok());
  CHECK(claims->payload["exam_id"] == e->id);
  CHECK(claims->payload["patient_id"] == e->patient_id);
  CHECK(claims->payload["exam_type"] == 2);
  CHECK(claims->payload["exp"].get<int64_t>() - claims->payload["iat"].get<int64_t>() ==
        30 * 86400);
  CHECK(claims->payload["jti"].get<std::string>().size() == 36);
  auto twice = fx.start("100", e->id, 2);
  CHECK(twice.err().status == 409);

  auto listed = await<std::vector<ex::exam>>([&](auto done) { fx.svc->exams_of("100", done); });
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].status == ex::exam_status::started);

  auto r = fx.revoke("100", e->id);
  REQUIRE(r.ok());
  CHECK(r->status == ex::exam_status::revoked);
  CHECK(to_json(*r)["is_revoked"] == true);
  CHECK(to_json(*r)["revoke_reason"] == "ordered twice");
  CHECK(fx.revoke("100", e->id).err().status == 409);
  // Every change published once, in order, with its version.
  std::vector<std::string> want = {e->id + " Registered v1 created", e->id + " Started v2",
                                   e->id + " Revoked v3"};
  CHECK(fx.changes == want);
}

TEST_CASE("result files: each outcome once, recorded, idempotent per file") {
  fixture fx;
  auto [exam_id, exam_token] = fx.started("100");
  int calls = 0;

  SUBCASE("processed: the exam Finished, the result stored, contacts for the notification") {
    auto a = fx.apply("2022_08/r1.json", result_file(exam_token, result_token(exam_id, "r1")),
                      &calls);
    CHECK(a.outcome == ex::result_outcome::processed);
    CHECK(a.exam_id == exam_id);
    CHECK(a.result_id == "r1");
    CHECK(a.exam_type_name == "Complete blood count");
    CHECK(a.result_valid_until - a.finished_at == int64_t{90} * 86400000);  // its validity
    CHECK(a.email == "ana@example.org");
    CHECK(a.email_verified);
    CHECK(a.cellphone == "51998765432");
    CHECK_FALSE(a.cellphone_verified);
    CHECK_FALSE(a.repeated);
    CHECK(calls == 1);
    auto repeat = fx.apply("2022_08/r1.json", "anything: not read again", &calls);
    CHECK(repeat.outcome == ex::result_outcome::processed);
    CHECK(repeat.repeated);
    CHECK(repeat.exam_id == exam_id);
    CHECK(calls == 1);
    // The same result in another file is not applied twice.
    auto dup = fx.apply("2022_08/r1-copy.json",
                        result_file(exam_token, result_token(exam_id, "r1")), &calls);
    CHECK(dup.outcome == ex::result_outcome::stuck);
    CHECK(dup.reason == "result already applied");
    auto r = fx.db->reader();
    auto q = r->prepare("SELECT content FROM exams_results WHERE result_id = 'r1'");
    REQUIRE(q.step());
    CHECK(q.text(0).rfind("v1:", 0) == 0);  // sealed
    auto e = r->prepare("SELECT status, version FROM exams_exams WHERE id = ?");
    e.bind(1, exam_id);
    REQUIRE(e.step());
    CHECK(e.text(0) == "Finished");
    CHECK(e.int64(1) == 3);
  }
  SUBCASE("stuck: unreadable, forged, expired and mismatched tokens") {
    auto now = now_s();
    json exam_claims = {{"patient_id", "p"}, {"exam_id", exam_id}, {"exam_type", 1},
                        {"iat", now}, {"exp", now + 60}, {"jti", "j"}};
    struct bad {
      const char* what;
      std::string bytes;
      std::string reason_prefix;
    };
    std::vector<bad> cases = {
        {"not JSON", "{\"exam_token\":", "not a result file: "},
        {"nested too deep", std::string(300, '[') + std::string(300, ']'),
         "not a result file: nesting deeper than"},
        {"content not base64", json{{"exam_token", exam_token}, {"result_token", "x"},
                                    {"content_type", "text/plain"}, {"content", "%%%"}}.dump(),
         "not a result file: content: not base64"},
        {"forged exam token", result_file(signed_with(exam_claims, "guessed"),
                                          result_token(exam_id, "r2")),
         "exam token: "},
        {"forged result token", result_file(exam_token, result_token(exam_id, "r2", 300, "nope")),
         "result token: "},
        {"expired result token", result_file(exam_token, result_token(exam_id, "r2", -600)),
         "result token: token is expired"},
        {"tokens of two exams", result_file(exam_token, result_token("other-exam", "r2")),
         "the tokens name different exams"},
        {"a well-signed exam token never issued",
         result_file(signed_with(exam_claims, exam_key), result_token(exam_id, "r2")),
         "the exam token is not the one issued for this exam"},
    };
    auto& stuck_total = metrics::registry::global().get_counter(
        "medflow_exams_results_total", "", {{"outcome", "stuck"}});
    auto stuck_before = stuck_total.value();
    int n = 0;
    for (auto& c : cases) {
      auto a = fx.apply("2022_08/bad" + std::to_string(n++), c.bytes, &calls);
      CHECK_MESSAGE(a.outcome == ex::result_outcome::stuck, c.what);
      CHECK_MESSAGE(a.reason.rfind(c.reason_prefix, 0) == 0, c.what, ": ", a.reason);
    }
    CHECK(calls == n);
    CHECK(stuck_total.value() == stuck_before + static_cast<uint64_t>(n));
    fx.apply("2022_08/bad0", "repeated: not counted again");
    CHECK(stuck_total.value() == stuck_before + static_cast<uint64_t>(n));
    auto big = settings();
    big.max_result_bytes = 100;
    fixture small(big);
    CHECK(small.apply("k", std::string(101, ' ')).reason == "result file larger than 100 bytes");
  }
  SUBCASE("denied: patient inactive, deleted, or not the exam's") {
    auto id = fx.svc->find_patient_by_document("100")->id;
    auto in = person("100", ex::patient_status::inactive);
    REQUIRE(fx.svc->update_patient(id, in, clock::now_ms()).ok());
    auto a = fx.apply("f", result_file(exam_token, result_token(exam_id, "r3")), &calls);
    CHECK(a.outcome == ex::result_outcome::denied);
    CHECK(a.reason == "patient not active");
    REQUIRE(fx.svc->delete_patient(id, clock::now_ms()).ok());
    CHECK(fx.apply("g", result_file(exam_token, result_token(exam_id, "r3"))).outcome ==
          ex::result_outcome::denied);
    // A token naming another patient for this exam, correctly signed.
    auto now = now_s();
    jwt::verifier v(jwt::verifier_options{exam_key});
    auto claims = v.verify(exam_token, now)->payload;
    claims["patient_id"] = "someone-else";
    auto other = fx.apply("h", result_file(signed_with(claims, exam_key),
                                           result_token(exam_id, "r3")));
    CHECK(other.outcome == ex::result_outcome::denied);
    CHECK(other.reason == "the patient is not the exam's");
  }
  SUBCASE("deleted: the exam was revoked") {
    REQUIRE(fx.revoke("100", exam_id).ok());
    auto a = fx.apply("f", result_file(exam_token, result_token(exam_id, "r4")), &calls);
    CHECK(a.outcome == ex::result_outcome::deleted);
    CHECK(calls == 1);
  }
}

TEST_CASE("communicate: a result by hand; the same checks, answered as errors") {
  std::vector<ex::result_applied> notified;
  auto s = settings();
  s.on_result = [&](store::tx&, const ex::result_applied& a) { notified.push_back(a); };
  fixture with_listener(s);
  auto [exam_id, exam_token] = with_listener.started("100");
  auto call = [&](const std::string& et, const std::string& rt) {
    ex::result_file f{et, rt, "", ""};
    return await<ex::exam>(
        [&](auto done) { with_listener.svc->communicate(f, clock::now_ms(), done); });
  };
  CHECK(call("garbage", result_token(exam_id, "r")).err().status == 400);
  CHECK(call(exam_token, result_token(exam_id, "r", -600)).err().status == 400);
  CHECK(call(exam_token, result_token("other", "r")).err().status == 400);
  CHECK(notified.empty());
  auto ok = call(exam_token, result_token(exam_id, "r"));
  REQUIRE(ok.ok());
  CHECK(ok->status == ex::exam_status::finished);
  CHECK(ok->finished_at);
  REQUIRE(notified.size() == 1);
  CHECK(notified[0].email == "ana@example.org");
  auto again = call(exam_token, result_token(exam_id, "r"));
  CHECK(again.err().status == 409);
  CHECK(again.err().message == "Result already applied");
  CHECK(notified.size() == 1);
}

namespace {

// A patient manager on loopback whose answer to /document/find the test chooses.
struct patient_manager {
  httplib::Server srv;
  std::thread th;
  int port = 0;
  std::atomic<int> mode{0};  // 0 active patient, 1 404, 2 null, 3 500, 4 garbage, 5 slow, 6 inactive
  std::atomic<int> calls{0};
  std::string patient_id = "7d0ab5b3-8f4e-4c55-9a51-3a8d7e0c1f11";

  patient_manager() {
    srv.Post("/document/find", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls;
      auto body = json::parse(req.body);
      json p = {{"id", patient_id}, {"document", body["document"]}, {"name", "Ana Souza"},
                {"birth_date", "1990-04-01"}, {"status", "active"},
                {"created_at", "2022-08-01T10:00:00Z"}, {"deleted_at", nullptr},
                {"cellphone", "51998765432"}, {"cellphone_verified_at", "2022-08-01T10:00:00Z"},
                {"email", ""}};
      switch (mode.load()) {
        case 0: res.set_content(p.dump(), "application/json"); break;
        case 1: res.status = 404; res.set_content("{}", "application/json"); break;
        case 2: res.set_content("null", "application/json"); break;
        case 3: res.status = 500; break;
        case 4: res.set_content("<html>", "text/html"); break;
        case 5:
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          res.set_content(p.dump(), "application/json");
          break;
        case 6:
          p["status"] = "inactive";
          res.set_content(p.dump(), "application/json");
          break;
      }
    });
    port = srv.bind_to_any_port("127.0.0.1");
    th = std::thread([this] { srv.listen_after_bind(); });
    while (!srv.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~patient_manager() {
    srv.stop();
    th.join();
  }
};

}  // namespace

TEST_CASE("an external patient manager (A.7): its answers and its failures, never a crash") {
  patient_manager pm;
  net::http_client::client http;
  auto s = settings();
  s.patient_manager_url = "http://127.0.0.1:" + std::to_string(pm.port) + "/";
  s.patient_manager_timeout_ms = 500;
  fixture fx(s, &http);
  CHECK(fx.svc->external_patients());
  CHECK(fx.svc->create_patient(person("1"), clock::now_ms()).err().status == 404);

  auto e = fx.register_exam("555");
  REQUIRE(e.ok());
  CHECK(e->patient_id == pm.patient_id);
  pm.mode = 1;
  CHECK(fx.register_exam("555").err().status == 404);
  pm.mode = 2;
  CHECK(fx.register_exam("555").err().status == 404);
  pm.mode = 3;
  CHECK(fx.register_exam("555").err().status == 502);
  pm.mode = 4;
  CHECK(fx.register_exam("555").err().status == 502);
  pm.mode = 5;
  auto slow = fx.register_exam("555");
  CHECK(slow.err().status == 502);
  CHECK(slow.err().detail.get<std::string>().rfind("patient manager did not answer in time", 0) == 0);
  pm.mode = 6;
  CHECK(fx.register_exam("555").err().status == 422);

  pm.mode = 0;
  auto token = fx.start("555", e->id);
  REQUIRE(token.ok());
  auto file = result_file(*token, result_token(e->id, "rx"));
  SUBCASE("a result waits while the manager fails, nothing recorded; then applies") {
    pm.mode = 3;
    auto r = fx.svc->apply_result_file("2022_08/x", file, {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 502);
    pm.mode = 0;
    auto a = fx.apply("2022_08/x", file);
    CHECK(a.outcome == ex::result_outcome::processed);
    CHECK(a.cellphone_verified);
    CHECK_FALSE(a.email_verified);
  }
  SUBCASE("the manager's patient inactive: denied") {
    pm.mode = 6;
    CHECK(fx.apply("2022_08/x", file).outcome == ex::result_outcome::denied);
  }
  SUBCASE("the manager unreachable: 502") {
    net::http_client::client http2;
    auto s2 = settings();
    s2.patient_manager_url = "http://127.0.0.1:1";
    fixture down(s2, &http2);
    CHECK(down.register_exam("555").err().status == 502);
  }
}
