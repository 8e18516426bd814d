// What the medical events handler tests share: builders of what clients send (references,
// codeable concepts, signed bodies), lookups in 422 outcomes, and the two worlds the handler
// tests run in (ids, registries in a memory_view, job and request builders): one for episodes
// and packages, one for service requests and approvals.
#pragma once

#include "core/base64.hpp"
#include "flows/medical_events/common.hpp"
#include "flows/medical_events/memory_view.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace medflow::test {

namespace me = medflow::flows::medical_events;

// -- what clients send ----------------------------------------------------------------------------

// {"identifier": {"type": {"coding": [{"system": "eHealth/resources", "code": code}]},
//  "value": value}}
inline me::json ref(const std::string& code, const std::string& value) {
  me::json coding = {{"system", "eHealth/resources"}, {"code", code}};
  return {{"identifier", {{"type", {{"coding", me::json::array({coding})}}}, {"value", value}}}};
}

// {"coding": [{"system": system, "code": code}]}
inline me::json concept_of(const std::string& system, const std::string& code) {
  return {{"coding", me::json::array({{{"system", system}, {"code", code}}})}};
}

// A body whose content is signed (base64 of the JSON, as in signature-off mode).
inline me::json signed_body(const me::json& content) {
  return {{"signed_data", base64::encode(content.dump())}};
}

// -- what handlers answer -------------------------------------------------------------------------

// Whether a 422 body's "invalid" list (a job's response or a request error's detail) has
// `description` (any, when empty) at `entry`.
inline bool has_violation(const me::json& invalid, const std::string& entry,
                          const std::string& description) {
  for (auto& i : invalid)
    if (i["entry"] == entry)
      for (auto& rule : i["rules"])
        if (description.empty() || rule["description"] == description) return true;
  return false;
}

inline bool has_violation(const me::effects& e, const std::string& entry,
                          const std::string& description = "") {
  return e.result.status_code == 422 &&
         has_violation(e.result.response["invalid"], entry, description);
}

// The description of the first rule at `entry` in a 422 outcome ("" when there is none).
inline std::string invalid_at(const me::effects& e, const std::string& entry) {
  if (e.result.status_code != 422) return "";
  for (auto& item : e.result.response["invalid"])
    if (item["entry"] == entry) return item["rules"][0]["description"].get<std::string>();
  return "";
}

// -- the episode and package tests ----------------------------------------------------------------

namespace clinic_world {

inline const std::string patient = "0c6e0a3f-6d5b-4e8e-9f3b-5a7c2d1e0f01";
inline const std::string clinic = "7e4b2c1d-1111-4a2b-8c3d-000000000001";
inline const std::string other_clinic = "7e4b2c1d-2222-4a2b-8c3d-000000000002";
inline const std::string user = "5d1f9a2e-3333-4b4c-9d5e-000000000003";
inline const std::string doctor = "9b8a7c6d-4444-4e5f-8a6b-000000000004";
inline const std::string episode_id = "3f2e1d0c-5555-4a9b-8c7d-000000000005";
inline const int64_t now_ms = 1560168000000;  // 2019-06-10T12:00:00Z

// An active patient, two active clinics and an approved doctor of `clinic` acting as `user`.
struct fixture {
  memory_view v;

  fixture() {
    v.add_person(patient);
    v.add_legal_entity(clinic);
    v.add_legal_entity(other_clinic);
    v.add_employee(doctor, clinic, user);
  }

  // A job of the patient by the user at `client`, processed at now_ms.
  static me::command make_command(me::job_type t, me::json params, me::json body,
                                  std::string client = clinic) {
    me::command c;
    c.job_id = "5cfe7b1a2b3c4d5e6f708192";
    c.type = t;
    c.patient_id = patient;
    c.user_id = user;
    c.client_id = std::move(client);
    c.params = std::move(params);
    c.body = std::move(body);
    c.now_ms = now_ms;
    return c;
  }

  // A request of the user at `clinic` about the patient.
  static me::request make_request(me::job_type t, me::json params, me::json body) {
    me::request r;
    r.type = t;
    r.patient_id = patient;
    r.user_id = user;
    r.client_id = clinic;
    r.params = std::move(params);
    r.body = std::move(body);
    return r;
  }
};

}  // namespace clinic_world

// -- the service request and approval tests -------------------------------------------------------

namespace patient_world {

inline const std::string patient = "33333333-3333-4333-8333-333333333333";
inline const std::string other_patient = "44444444-4444-4444-8444-444444444444";
inline const std::string le = "11111111-1111-4111-8111-111111111111";
inline const std::string other_le = "55555555-5555-4555-8555-555555555555";
inline const std::string doctor = "22222222-2222-4222-8222-222222222222";
inline const std::string user = "user-1";
inline const std::string episode = "88888888-8888-4888-8888-888888888888";
inline const std::string report = "99999999-9999-4999-8999-999999999999";
inline const std::string phone = "+380931234585";
inline constexpr int64_t now = 1560168000000;  // 2019-06-10T12:00:00Z

// `patient` (active, with these authentication methods), `other_patient` (active, OFFLINE),
// legal entity `le` with an approved doctor acting as `user`, and an active episode and a
// final diagnostic report of the patient.
struct fixture {
  memory_view v;
  int jobs = 0;

  explicit fixture(me::json authentication_methods) {
    v.add_person(patient, "active",
                 {{"authentication_methods", std::move(authentication_methods)}});
    v.add_person(other_patient, "active",
                 {{"authentication_methods", me::json::array({{{"type", "OFFLINE"}}})}});
    v.add_legal_entity(le);
    v.add_employee(doctor, le, user);
    v.put(me::kind::episode, patient, {{"id", episode}, {"status", "active"}});
    v.put(me::kind::diagnostic_report, patient, {{"id", report}, {"status", "final"}});
  }

  // A new job ("job-<n>", nonce "nonce<n>") of the user; `id` is the path parameter, if any.
  me::command cmd(me::job_type t, const std::string& id, me::json body,
                  const std::string& pid = patient, int64_t at = now,
                  const std::string& client = le) {
    ++jobs;
    return {"job-" + std::to_string(jobs),
            t,
            pid,
            user,
            client,
            id.empty() ? me::json::object() : me::json{{"id", id}},
            std::move(body),
            at,
            "nonce" + std::to_string(jobs)};
  }

  // Handles a job and applies its writes, as the job worker does.
  me::effects run(const me::command& c) {
    auto e = me::handle(c, v);
    v.apply(e);
    return e;
  }

  me::request req(me::job_type t, const std::string& id, me::json body,
                  const std::string& pid = patient) {
    auto params = id.empty() ? me::json::object() : me::json{{"id", id}};
    return {t, pid, user, le, std::move(params), std::move(body)};
  }
};

}  // namespace patient_world

}  // namespace medflow::test
