// The exams flow's service on a temporary database, with the keys, tokens and result files
// its tests use (flows/exams and http/exams_routes tests).
#pragma once

#include "core/base64.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/jwt.hpp"
#include "flows/exams/service.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace medflow::test::exams_fx {

using json = nlohmann::json;
namespace ex = medflow::exams;

inline const std::string exam_key = "zmedKey";
inline const std::string result_key = "result-team-key";
inline const std::string sealing_hex(64, 'a');

inline ex::settings settings() {
  ex::settings s;
  s.crypto_key = *crypto::parse_key_hex(sealing_hex);
  s.exam_token_key = exam_key;
  s.result_token_key = result_key;
  s.types = ex::load_catalog("");
  return s;
}

// Waits for an asynchronous call's answer (every call answers within seconds).
template <class T, class Start>
result<T> await(Start&& start) {
  auto p = std::make_shared<std::promise<result<T>>>();
  auto f = p->get_future();
  start([p](result<T> r) { p->set_value(std::move(r)); });
  REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

inline int64_t now_s() { return clock::now_ms() / 1000; }

inline std::string result_token(const std::string& exam_id, const std::string& result_id,
                                int64_t ttl_s = 300, const std::string& key = result_key) {
  auto now = now_s();
  return jwt::mint_hs256({{"exam_id", exam_id}, {"result_id", result_id}, {"issued_by", "lab-7"},
                          {"iat", now}, {"exp", now + ttl_s}},
                         key);
}

inline std::string result_file(const std::string& exam_token, const std::string& result_token,
                               const std::string& content = "Hb 14.1 g/dL") {
  return json{{"exam_token", exam_token},
              {"result_token", result_token},
              {"content_type", "text/plain"},
              {"content", base64::encode(content)}}
      .dump();
}

// A payload signed with `key` (to forge tokens the service must refuse).
inline std::string signed_with(const json& claims, const std::string& key) {
  return jwt::mint_hs256(claims, key);
}

inline ex::patient_input person(const std::string& document,
                                ex::patient_status st = ex::patient_status::active) {
  ex::patient_input in;
  in.document = document;
  in.name = "Ana Maria Souza";
  in.birth_date = "1990-04-01";
  in.status = st;
  in.email = "ana@example.org";
  in.email_verified_at = 1650000000000;
  in.cellphone = "51998765432";
  return in;
}

struct fixture {
  temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<ex::service> svc;
  std::mutex mu;
  std::vector<std::string> changes;  // "<exam id> <status> v<version>[ created]"

  explicit fixture(ex::settings s = settings(), net::http_client::client* http = nullptr) {
    db = test::open_database(dir.file("exams.db"), {ex::migrations()});
    s.on_change = [this](store::tx&, const ex::exam_change& c) {
      std::lock_guard<std::mutex> g{mu};
      changes.push_back(c.after.id + " " + ex::exam_status_name(c.after.status) + " v" +
                        std::to_string(c.after.version) + (c.before ? "" : " created"));
    };
    svc = std::make_unique<ex::service>(*db, std::move(s), http);
  }

  ex::patient patient(const std::string& document,
                      ex::patient_status st = ex::patient_status::active) {
    auto p = svc->create_patient(person(document, st), clock::now_ms());
    REQUIRE(p.ok());
    return *p;
  }
  result<ex::exam> register_exam(const std::string& document, int64_t type = 1) {
    return await<ex::exam>([&](auto done) {
      svc->register_exam(document, type, clock::now_ms(), done);
    });
  }
  result<std::string> start(const std::string& document, const std::string& exam_id,
                            int64_t type = 1) {
    return await<std::string>([&](auto done) {
      svc->start_exam(document, exam_id, type, clock::now_ms(), done);
    });
  }
  result<ex::exam> revoke(const std::string& document, const std::string& exam_id) {
    return await<ex::exam>([&](auto done) {
      svc->revoke_exam(document, exam_id, "ordered twice", clock::now_ms(), done);
    });
  }
  // A Started exam of a new active patient: {exam id, exam token}.
  std::pair<std::string, std::string> started(const std::string& document) {
    patient(document);
    auto e = register_exam(document);
    REQUIRE(e.ok());
    auto t = start(document, e->id);
    REQUIRE(t.ok());
    return {e->id, *t};
  }
  ex::result_applied apply(const std::string& key, const std::string& bytes,
                           int* in_tx_calls = nullptr) {
    auto r = svc->apply_result_file(key, bytes, [in_tx_calls](store::tx&, const ex::result_applied&) {
      if (in_tx_calls) ++*in_tx_calls;
    });
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
    return *r;
  }
};

}  // namespace medflow::test::exams_fx
