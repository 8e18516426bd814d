// Approval jobs and verify against an in-memory view: create from resources or a service
// request, the OTP code (hash stored, SMS published), resend, verify and the TTL helper.
#include "flows/medical_events/approvals.hpp"

#include "core/crypto.hpp"
#include "flows/medical_events/handler_fixtures.hpp"
#include "flows/medical_events/service_requests.hpp"

#include <doctest/doctest.h>

using namespace medflow::flows::medical_events;
using namespace medflow::test;
using namespace medflow::test::patient_world;

namespace {

const std::string sr = "12121212-1212-4212-8212-121212121212";
constexpr int64_t hour = 3600000;

struct approval_fixture : fixture {
  approval_fixture()
      : fixture(json::array({{{"type", "OFFLINE"}}, {{"type", "OTP"}, {"phone_number", phone}}})) {
    v.put(kind::service_request, patient, service_request("active", "2019-06-17T23:59:59Z"));
  }

  static json resources() {
    return json::array({ref("episode_of_care", episode), ref("diagnostic_report", report)});
  }

  static json service_request(const std::string& status, const std::string& expires) {
    return {{"id", sr},
            {"status", status},
            {"expiration_date", expires},
            {"permitted_resources", resources()}};
  }

  static json body_with(const char* key, json value) {
    return {
        {key, std::move(value)}, {"granted_to", ref("employee", doctor)}, {"access_level", "read"}};
  }

  effects create(json body, const std::string& pid = patient) {
    return run(cmd(job_type::approval_create, "", std::move(body), pid));
  }

  // Creates an approval from resources and returns its id.
  std::string created(const std::string& pid = patient) {
    auto e = create(body_with("resources", resources()), pid);
    REQUIRE(e.result.status_code == 200);
    return e.writes.at(0).id;
  }

  json stored(const std::string& id) { return v.find(kind::approval, id)->second; }

  medflow::result<verify_result> verify(const std::string& id, json body,
                                        const std::string& pid = patient) {
    auto r = verify_approval(pid, id, body, user, le, now + hour, v);
    if (r.ok())
      for (auto& w : r->writes) v.put(w.k, w.patient_id, w.doc);
    return r;
  }
};

// The code an SMS carries (its last four characters).
std::string code_in(const medflow::bus::message& sms) {
  auto body = json::parse(sms.value)["body"].get<std::string>();
  return body.substr(body.size() - 4);
}

}  // namespace

// -- create ---------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(approval_fixture,
                  "create stores a new approval, texts the code, keeps its hash") {
  auto e = create(body_with("resources", resources()));
  REQUIRE(e.result.status_code == 200);
  REQUIRE(e.writes.size() == 1);
  auto& w = e.writes[0];
  CHECK(w.k == kind::approval);
  CHECK(w.patient_id == patient);
  auto& doc = w.doc;
  CHECK(doc["id"] == w.id);
  CHECK(doc["status"] == "new");
  CHECK(doc["access_level"] == "read");
  CHECK(doc["granted_resources"] == resources());
  CHECK(doc["granted_to"] == ref("employee", doctor));
  CHECK(doc["granted_by"]["identifier"]["value"] == patient);
  CHECK(doc["reason"].is_null());
  CHECK(doc["expires_at"] == timestamp(now + 1440 * 60000));
  CHECK(doc["inserted_at"] == timestamp(now));
  CHECK(doc["urgent"] == json{{"authentication_method_current",
                               {{"type", "OTP"}, {"phone_number", "+38093*****85"}}}});
  // The job's response is the approval as clients read it: no internal fields.
  auto& data = e.result.response["response_data"];
  CHECK(data == public_doc(doc));
  CHECK_FALSE(data.contains("_verification_code_hash"));
  REQUIRE(e.publish.size() == 1);
  auto& sms = e.publish[0];
  CHECK(sms.topic == "medical_events.notifications");
  CHECK(sms.key == std::optional<std::string>(patient));
  CHECK(json::parse(sms.value)["phone_number"] == phone);
  CHECK(json::parse(sms.value)["type"] == "sms");
  auto code = code_in(sms);
  CHECK(code.find_first_not_of("0123456789") == std::string::npos);
  CHECK(doc["_verification_code_hash"] == medflow::crypto::sha256_hex(w.id + ":" + code));
  REQUIRE(e.changes.size() == 1);
  CHECK(e.changes[0].change == change_kind::created);
  CHECK(e.changes[0].references_added ==
        std::vector<std::string>{"episode/" + episode, "diagnostic_report/" + report});
}

TEST_CASE_FIXTURE(approval_fixture, "create grants what an active service request permits") {
  auto e = create(body_with("service_request", ref("service_request", sr)));
  REQUIRE(e.result.status_code == 200);
  auto& doc = e.writes.at(0).doc;
  CHECK(doc["granted_resources"] == resources());
  CHECK(doc["reason"] == ref("service_request", sr));
  CHECK(e.changes.at(0).references_added == std::vector<std::string>{"episode/" + episode,
                                                                     "diagnostic_report/" + report,
                                                                     "service_request/" + sr});
}

TEST_CASE_FIXTURE(approval_fixture, "create for a person without OTP sends nothing") {
  v.put(kind::episode, other_patient, {{"id", "ep-2"}, {"status", "active"}});
  auto e =
      create(body_with("resources", json::array({ref("episode_of_care", "ep-2")})), other_patient);
  REQUIRE(e.result.status_code == 200);
  CHECK(e.publish.empty());
  CHECK_FALSE(e.writes.at(0).doc.contains("_verification_code_hash"));
  CHECK(e.writes[0].doc["urgent"] ==
        json{{"authentication_method_current", {{"type", "OFFLINE"}}}});
}

TEST_CASE_FIXTURE(approval_fixture, "create refuses unusable service requests") {
  auto body = body_with("service_request", ref("service_request", sr));
  SUBCASE("not found") {
    auto e = create(body_with("service_request", ref("service_request", "unknown")));
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request is not found");
  }
  SUBCASE("another patient's") {
    v.put(kind::service_request, other_patient, {{"id", "sr-2"}, {"status", "active"}});
    auto e = create(body_with("service_request", ref("service_request", "sr-2")));
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request is not found");
  }
  SUBCASE("not active") {
    v.put(kind::service_request, patient, service_request("recalled", "2019-06-17T23:59:59Z"));
    auto e = create(body);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request should be active");
  }
  SUBCASE("expired") {
    v.put(kind::service_request, patient, service_request("active", "2019-06-09T23:59:59Z"));
    CHECK(has_violation(create(body), "$.service_request", "Service request is expired"));
  }
  SUBCASE("permits nothing") {
    auto doc = service_request("active", "2019-06-17T23:59:59Z");
    doc["permitted_resources"] = nullptr;
    v.put(kind::service_request, patient, doc);
    auto e = create(body);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request does not contain resources references");
  }
  CHECK(v.list(kind::approval, patient).empty());
}

TEST_CASE_FIXTURE(approval_fixture, "create needs the person (404)") {
  auto c = cmd(job_type::approval_create, "", body_with("resources", resources()));
  v.persons.erase(patient);
  auto e = run(c);
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Person is not found");
}

TEST_CASE_FIXTURE(approval_fixture, "create checks granted_to and the granted resources (422)") {
  auto path = "$.granted_to.identifier.value";
  auto with_doctor = [&](const std::string& id) {
    auto body = body_with("resources", resources());
    body["granted_to"] = ref("employee", id);
    return create(body);
  };
  SUBCASE("unknown employee") {
    auto e = with_doctor("unknown");
    CHECK(has_violation(e, path, "Employee with such ID is not found"));
    CHECK(has_violation(e, path, "Employee does not related to user"));
  }
  SUBCASE("not a doctor") {
    v.add_employee("nurse", le, user, "NURSE");
    CHECK(has_violation(with_doctor("nurse"), path, "Employee is not an active doctor"));
  }
  SUBCASE("not approved") {
    v.add_employee("dismissed", le, user, "DOCTOR", "DISMISSED");
    CHECK(has_violation(with_doctor("dismissed"), path, "Employee is not an active doctor"));
  }
  SUBCASE("another legal entity") {
    v.add_employee("elsewhere", other_le, user);
    CHECK(has_violation(with_doctor("elsewhere"), path,
                        "Employee elsewhere doesn't belong to your legal entity"));
  }
  SUBCASE("not the user's") {
    v.add_employee("colleague", le, "user-2");
    auto e = with_doctor("colleague");
    CHECK(has_violation(e, path, "Employee does not related to user"));
    CHECK(e.result.response["invalid"].size() == 1);
  }
  SUBCASE("unknown resources") {
    auto e = create(body_with(
        "resources", json::array({ref("episode_of_care", "x"), ref("diagnostic_report", "y")})));
    CHECK(has_violation(e, "$.granted_resources[0].identifier.value",
                        "Episode with such ID is not found"));
    CHECK(has_violation(e, "$.granted_resources[1].identifier.value",
                        "Diagnostic report with such id is not found"));
  }
  CHECK(v.list(kind::approval, patient).empty());
}

TEST_CASE_FIXTURE(approval_fixture, "create is checked at request time: patient, schema, one-of") {
  auto ok =
      check_request(req(job_type::approval_create, "", body_with("resources", resources())), v);
  REQUIRE(ok.ok());
  CHECK(ok->patient_id == patient);
  auto err = check_request(
      req(job_type::approval_create, "", body_with("resources", resources()), "unknown"), v);
  CHECK(err.err().status == 404);
  CHECK(err.err().message == "Person is not found");
  auto both = body_with("resources", resources());
  both["service_request"] = ref("service_request", sr);
  auto e = check_request(req(job_type::approval_create, "", both), v).err();
  CHECK(e.status == 422);
  CHECK(has_violation(e.detail, "$.resources", "Only one of the parameters must be present"));
  CHECK(has_violation(e.detail, "$.service_request", "Only one of the parameters must be present"));
  json neither = {{"granted_to", ref("employee", doctor)}, {"access_level", "read"}};
  e = check_request(req(job_type::approval_create, "", neither), v).err();
  CHECK(has_violation(e.detail, "$", "At least one of the parameters must be present"));
  CHECK(e.detail[0]["rules"][0]["rule"] == "oneOf");
  auto write = body_with("resources", resources());
  write["access_level"] = "write";
  CHECK(has_violation(check_request(req(job_type::approval_create, "", write), v).err().detail,
                      "$.access_level", ""));
  auto other_type = body_with("resources", json::array({ref("encounter", "x")}));
  CHECK(check_request(req(job_type::approval_create, "", other_type), v).err().status == 422);
}

// -- resend ---------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(approval_fixture, "resend texts a fresh code and replaces its hash") {
  auto id = created();
  auto before = stored(id)["_verification_code_hash"];
  REQUIRE(check_request(req(job_type::approval_resend, id, json::object()), v).ok());
  auto e = run(cmd(job_type::approval_resend, id, json::object()));
  CHECK(e.result.status_code == 200);
  CHECK(e.result.response == json{{"response_data", ""}});
  REQUIRE(e.publish.size() == 1);
  auto code = code_in(e.publish[0]);
  auto after = stored(id)["_verification_code_hash"];
  CHECK(after != before);
  CHECK(after == medflow::crypto::sha256_hex(id + ":" + code));
  CHECK(e.changes.at(0).change == change_kind::updated);
  CHECK(verify(id, {{"code", code}}).ok());
}

TEST_CASE_FIXTURE(approval_fixture,
                  "resend refuses unknown, other patients' and verified approvals") {
  auto id = created();
  auto e = run(cmd(job_type::approval_resend, "unknown", json::object()));
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Approval with id 'unknown' is not found");
  CHECK(check_request(req(job_type::approval_resend, "unknown", {}), v).err().message ==
        "Approval with id 'unknown' is not found");
  CHECK(check_request(req(job_type::approval_resend, id, {}, other_patient), v).err().status ==
        404);
  e = run(cmd(job_type::approval_resend, id, json::object(), other_patient));
  CHECK(e.result.status_code == 404);
  auto code = code_in(create(body_with("resources", resources())).publish.at(0));
  id = v.list(kind::approval, patient).back()["id"];
  REQUIRE(verify(id, {{"code", code}}).ok());
  e = run(cmd(job_type::approval_resend, id, json::object()));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Approval in status active can not be resent");
  CHECK(e.publish.empty());
}

TEST_CASE_FIXTURE(approval_fixture,
                  "resend for a person without OTP succeeds with nothing to send") {
  v.put(kind::episode, other_patient, {{"id", "ep-2"}, {"status", "active"}});
  auto made =
      create(body_with("resources", json::array({ref("episode_of_care", "ep-2")})), other_patient);
  auto id = made.writes.at(0).id;
  auto e = run(cmd(job_type::approval_resend, id, json::object(), other_patient));
  CHECK(e.result.response == json{{"response_data", ""}});
  CHECK(e.publish.empty());
  CHECK(e.writes.empty());
}

// -- verify ---------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(approval_fixture, "verify activates a new approval with the right code") {
  auto e = create(body_with("resources", resources()));
  auto id = e.writes.at(0).id;
  auto code = code_in(e.publish.at(0));
  auto r = verify(id, {{"code", code}});
  REQUIRE(r.ok());
  CHECK(r->approval["status"] == "active");
  CHECK(r->approval["updated_by"] == user);
  CHECK_FALSE(r->approval.contains("_verification_code_hash"));
  REQUIRE(r->writes.size() == 1);
  CHECK_FALSE(r->writes[0].doc.contains("_verification_code_hash"));
  CHECK(r->changes.at(0).change == change_kind::updated);
  CHECK(stored(id)["status"] == "active");
  SUBCASE("only once") {
    auto again = verify(id, {{"code", code}});
    CHECK(again.err().status == 409);
    CHECK(again.err().message == "Approval in status active can not be verified");
  }
}

TEST_CASE_FIXTURE(approval_fixture, "verify reads a numeric code as four digits") {
  auto e = create(body_with("resources", resources()));
  auto code = code_in(e.publish.at(0));
  CHECK(verify(e.writes.at(0).id, {{"code", std::stoi(code)}}).ok());
}

TEST_CASE_FIXTURE(approval_fixture, "verify refuses a wrong or missing code (422 at $.code)") {
  auto e = create(body_with("resources", resources()));
  auto id = e.writes.at(0).id;
  auto code = code_in(e.publish.at(0));
  auto wrong = code == "0000" ? "0001" : "0000";
  for (auto body : {json{{"code", wrong}}, json::object()}) {
    auto r = verify(id, body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 422);
    CHECK(has_violation(r.err().detail, "$.code", "Invalid verification code"));
  }
  CHECK(stored(id)["status"] == "new");
}

TEST_CASE_FIXTURE(approval_fixture, "verify refuses other patients' and unknown approvals") {
  auto id = created();
  v.add_person("third", "active");
  auto r = verify(id, {{"code", "1234"}}, "third");
  CHECK(r.err().status == 403);
  CHECK(r.err().code == "forbidden");
  CHECK(r.err().message == "Access denied - request to other patient's approval");
  r = verify("unknown", {{"code", "1234"}});
  CHECK(r.err().status == 404);
  CHECK(r.err().message == "Approval with id 'unknown' is not found");
  CHECK(verify(id, {}, "nobody").err().message == "Person is not found");
}

TEST_CASE_FIXTURE(approval_fixture, "verify needs no code when none was sent (no OTP method)") {
  v.put(kind::episode, other_patient, {{"id", "ep-2"}, {"status", "active"}});
  auto e =
      create(body_with("resources", json::array({ref("episode_of_care", "ep-2")})), other_patient);
  auto r = verify(e.writes.at(0).id, json::object(), other_patient);
  REQUIRE(r.ok());
  CHECK(r->approval["status"] == "active");
}

// -- expiry ---------------------------------------------------------------------------------------

TEST_CASE("new approvals older than the TTL are the ones to delete") {
  auto approval = [](const std::string& id, const std::string& status, int64_t inserted) {
    return json{{"id", id}, {"status", status}, {"inserted_at", timestamp(inserted)}};
  };
  std::vector<std::pair<std::string, json>> all = {
      {patient, approval("old", "new", now - 13 * hour)},
      {other_patient, approval("old-2", "new", now - 12 * hour - 1000)},
      {patient, approval("young", "new", now - 11 * hour)},
      {patient, approval("verified", "active", now - 48 * hour)},
      {patient, approval("edge", "new", now - 12 * hour)}};
  auto expired = expired_new_approvals(all, now, 12);
  CHECK(expired == std::vector<std::pair<std::string, std::string>>{{patient, "old"},
                                                                    {other_patient, "old-2"}});
  CHECK(expired_new_approvals(all, now, 48).empty());
}
