// Service request jobs against an in-memory view: every job's success and error paths with the
// reference's codes and texts, the ownership fix of recall and cancel, expiry, and events.
#include "flows/medical_events/service_requests.hpp"

#include "flows/medical_events/handler_fixtures.hpp"

#include <doctest/doctest.h>

#include <regex>

using namespace medflow::flows::medical_events;
using namespace medflow::test;
using namespace medflow::test::patient_world;

namespace {

const std::string nurse = "66666666-6666-4666-8666-666666666666";
const std::string encounter = "77777777-7777-4777-8777-777777777777";
constexpr int64_t day = 86400000;

struct sr_fixture : fixture {
  sr_fixture() : fixture(json::array({{{"type", "OTP"}, {"phone_number", phone}}})) {
    v.add_legal_entity(other_le);
    v.add_employee(nurse, le, user, "NURSE");
    v.put(kind::encounter, patient, {{"id", encounter}, {"status", "finished"}});
  }

  static json content() {
    return {{"status", "active"},
            {"intent", "order"},
            {"category", concept_of("eHealth/SNOMED/service_request_categories", "counselling")},
            {"code", ref("service", "12121212-1212-4212-8212-121212121212")},
            {"context", ref("encounter", encounter)},
            {"authored_on", "2019-06-10T10:00:00Z"},
            {"requester_employee", ref("employee", doctor)},
            {"requester_legal_entity", ref("legal_entity", le)},
            {"supporting_info", json::array({ref("episode_of_care", episode)})},
            {"permitted_resources",
             json::array({ref("episode_of_care", episode), ref("diagnostic_report", report)})},
            {"occurrence_date_time", "2019-06-12T10:00:00Z"}};
  }

  // Creates a service request of `pid` and returns its id.
  std::string create(const std::string& pid = patient) {
    auto e = run(cmd(job_type::service_request_create, "", signed_body(content()), pid));
    REQUIRE(e.result.status_code == 200);
    return e.writes.at(0).id;
  }

  json stored(const std::string& id) { return v.find(kind::service_request, id)->second; }

  effects use(const std::string& id, int64_t at = now, const std::string& client = le) {
    json body = {{"used_by_legal_entity", ref("legal_entity", client)},
                 {"used_by_employee", ref("employee", doctor)}};
    return run(cmd(job_type::service_request_use, id, body, "", at, client));
  }

  // Creates, uses and processes a service request: it is in_progress, used by `le`.
  std::string in_progress() {
    auto id = create();
    REQUIRE(use(id).result.status_code == 200);
    REQUIRE(run(cmd(job_type::service_request_process, id, json::object(), patient))
                .result.status_code == 200);
    return id;
  }

  // The stored request signed back with a new status_reason, as a client recalls or cancels.
  json withdrawal(const std::string& id, const std::string& system) {
    auto signed_content = public_doc(stored(id));
    signed_content["status_reason"] = concept_of(system, "mistake");
    return signed_body(signed_content);
  }

  effects recall(const std::string& id, const std::string& pid = patient) {
    auto body = withdrawal(id, "eHealth/service_request_recall_reasons");
    return run(cmd(job_type::service_request_recall, id, body, pid));
  }

  effects cancel(const std::string& id, const std::string& pid = patient) {
    auto body = withdrawal(id, "eHealth/service_request_cancel_reasons");
    return run(cmd(job_type::service_request_cancel, id, body, pid));
  }
};

void check_link(const effects& e, const std::string& pid, const std::string& id) {
  REQUIRE(e.result.status_code == 200);
  CHECK(e.result.response ==
        json{{"links",
              json::array({{{"entity", "service_request"},
                            {"href", "/api/patients/" + pid + "/service_requests/" + id}}})}});
}

void check_status_event(const medflow::bus::message& m, const std::string& id,
                        const std::string& status) {
  CHECK(m.topic == "event_manager_topic");
  CHECK(m.key == std::optional<std::string>(id));
  auto value = json::parse(m.value);
  CHECK(value["event_type"] == "StatusChangeEvent");
  CHECK(value["entity_type"] == "ServiceRequest");
  CHECK(value["entity_id"] == id);
  CHECK(value["properties"] == json{{"status", {{"new_value", status}}}});
  CHECK(value["event_time"] == timestamp(now));
  CHECK(value["changed_by"] == user);
}

void check_last_history(const json& doc, const std::string& status, const json& why) {
  auto& last = doc["status_history"].back();
  CHECK(last["status"] == status);
  CHECK(last["status_reason"] == why);
  CHECK(last["inserted_by"] == user);
  CHECK(last["inserted_at"].is_string());
}

}  // namespace

// -- create
// ----------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "create stores an active service request that expires in 7 days") {
  auto e = run(cmd(job_type::service_request_create, "", signed_body(content())));
  REQUIRE(e.writes.size() == 1);
  auto& w = e.writes[0];
  check_link(e, patient, w.id);
  CHECK(w.k == kind::service_request);
  CHECK(w.patient_id == patient);
  auto& doc = w.doc;
  CHECK(doc["id"] == w.id);
  CHECK(std::regex_match(w.id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                          "[0-9a-f]{12}")));
  CHECK(doc["status"] == "active");
  CHECK(doc["expiration_date"] == "2019-06-17T23:59:59.000000Z");
  CHECK(std::regex_match(doc["requisition"].get<std::string>(),
                         std::regex("[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}")));
  CHECK(doc["subject"]["identifier"]["value"] == patient);
  CHECK(doc["context"] == content()["context"]);
  CHECK(doc["used_by_legal_entity"].is_null());
  CHECK(doc["reason_reference"].is_null());
  CHECK(doc["inserted_at"] == timestamp(now));
  REQUIRE(doc["status_history"].size() == 1);
  check_last_history(doc, "active", nullptr);
  REQUIRE(e.changes.size() == 1);
  CHECK(e.changes[0].change == change_kind::created);
  CHECK(e.changes[0].references_added == std::vector<std::string>{"encounter/" + encounter,
                                                                  "episode/" + episode,
                                                                  "diagnostic_report/" + report});
  CHECK(e.publish.empty());
}

TEST_CASE_FIXTURE(sr_fixture, "create gives each request its own id and requisition number") {
  auto a = stored(create());
  auto b = stored(create());
  CHECK(a["id"] != b["id"]);
  CHECK(a["requisition"] != b["requisition"]);
}

TEST_CASE_FIXTURE(sr_fixture, "create refuses signed data that is not base64 JSON") {
  auto e = run(cmd(job_type::service_request_create, "", {{"signed_data", "%%%"}}));
  CHECK(has_violation(e, "$.signed_data"));
  CHECK(e.writes.empty());
}

TEST_CASE_FIXTURE(sr_fixture, "create validates the signed content's schema and one-of rule") {
  SUBCASE("status must be active") {
    auto c = content();
    c["status"] = "completed";
    CHECK(
        has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))), "$.status"));
  }
  SUBCASE("required fields") {
    auto c = content();
    c.erase("context");
    CHECK(
        has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))), "$.context"));
  }
  SUBCASE("one occurrence at most") {
    auto c = content();
    c["occurrence_period"] = {{"start", "2019-06-12T10:00:00Z"}, {"end", "2019-06-13T10:00:00Z"}};
    auto e = run(cmd(job_type::service_request_create, "", signed_body(c)));
    CHECK(has_violation(e, "$.occurrence_date_time", "Only one of the parameters must be present"));
    CHECK(has_violation(e, "$.occurrence_period", "Only one of the parameters must be present"));
  }
}

TEST_CASE_FIXTURE(sr_fixture, "create checks references, legal entity and authored_on (422)") {
  auto c = content();
  SUBCASE("unknown encounter") {
    c["context"] = ref("encounter", other_le);
    CHECK(has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))),
                        "$.context.identifier.value", "Encounter with such id is not found"));
  }
  SUBCASE("encounter entered in error") {
    v.put(kind::encounter, patient, {{"id", encounter}, {"status", "entered_in_error"}});
    CHECK(has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))),
                        "$.context.identifier.value",
                        "Encounter in \"entered_in_error\" status can not be referenced"));
  }
  SUBCASE("another legal entity") {
    c["requester_legal_entity"] = ref("legal_entity", other_le);
    CHECK(has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))),
                        "$.requester_legal_entity.identifier.value",
                        "Must be current legal enity"));
  }
  SUBCASE("supporting episode not active, unknown diagnostic report") {
    v.put(kind::episode, patient, {{"id", episode}, {"status", "closed"}});
    c["supporting_info"].push_back(ref("diagnostic_report", other_le));
    auto e = run(cmd(job_type::service_request_create, "", signed_body(c)));
    CHECK(has_violation(e, "$.supporting_info[0].identifier.value", "Episode is not active"));
    CHECK(has_violation(e, "$.supporting_info[1].identifier.value",
                        "Diagnostic report with such id is not found"));
    CHECK(has_violation(e, "$.permitted_resources[0].identifier.value", "Episode is not active"));
  }
  SUBCASE("unknown reason references") {
    c["reason_reference"] = json::array({ref("condition", other_le), ref("observation", other_le)});
    auto e = run(cmd(job_type::service_request_create, "", signed_body(c)));
    CHECK(has_violation(e, "$.reason_reference[0].identifier.value",
                        "Condition with such id is not found"));
    CHECK(has_violation(e, "$.reason_reference[1].identifier.value",
                        "Observation with such id is not found"));
  }
  SUBCASE("laboratory requests permit nothing") {
    c["category"] = concept_of("eHealth/SNOMED/service_request_categories", "laboratory_procedure");
    CHECK(has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))),
                        "$.permitted_resources",
                        "Permitted resources are not allowed for laboratory category of service "
                        "request"));
  }
  SUBCASE("authored in the future") {
    c["authored_on"] = "2019-06-11T10:00:00Z";
    CHECK(has_violation(run(cmd(job_type::service_request_create, "", signed_body(c))),
                        "$.authored_on", "must be a datetime less than " + timestamp(now)));
  }
  CHECK(v.list(kind::service_request, patient).empty());
}

TEST_CASE_FIXTURE(sr_fixture, "create requires the requester to be the user's employee (409)") {
  auto e = run(cmd(job_type::service_request_create, "", signed_body(content()), patient, now, le));
  CHECK(e.result.status_code == 200);
  v.employees[doctor].user_id = "someone-else";
  e = run(cmd(job_type::service_request_create, "", signed_body(content())));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Employees related to this party_id not in current MSP");
}

TEST_CASE_FIXTURE(sr_fixture, "create is checked at request time: patient, then body") {
  auto r = req(job_type::service_request_create, "", signed_body(content()));
  auto ok = check_request(r, v);
  REQUIRE(ok.ok());
  CHECK(ok->patient_id == patient);
  r.patient_id = "unknown";
  CHECK(check_request(r, v).err().status == 404);
  CHECK(check_request(r, v).err().message == "Person is not found");
  v.add_person("inactive", "inactive");
  r.patient_id = "inactive";
  CHECK(check_request(r, v).err().message == "Person is not active");
  auto bad = req(job_type::service_request_create, "", {{"data", "x"}});
  auto err = check_request(bad, v).err();
  CHECK(err.status == 422);
  CHECK(err.code == "validation_failed");
  CHECK(has_violation(err.detail, "$.signed_data", ""));
}

// -- use ------------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "use assigns the request to the user's legal entity") {
  auto id = create();
  auto e = use(id);
  check_link(e, patient, id);
  auto doc = stored(id);
  CHECK(doc["used_by_legal_entity"] == ref("legal_entity", le));
  CHECK(doc["used_by_employee"] == ref("employee", doctor));
  CHECK(doc["status"] == "active");
  CHECK(doc["status_history"].size() == 1);
  CHECK(e.publish.empty());
  REQUIRE(e.changes.size() == 1);
  CHECK(e.changes[0].change == change_kind::updated);
}

TEST_CASE_FIXTURE(sr_fixture, "use goes to the request's patient and needs a known request") {
  auto id = create();
  auto r = req(job_type::service_request_use, id,
               {{"used_by_legal_entity", ref("legal_entity", le)}}, "");
  auto ok = check_request(r, v);
  REQUIRE(ok.ok());
  CHECK(ok->patient_id == patient);
  r.params = {{"id", "unknown"}};
  CHECK(check_request(r, v).err().status == 404);
  CHECK(check_request(r, v).err().message == "Service request with id 'unknown' is not found");
  r.body = json::object();
  CHECK(has_violation(check_request(r, v).err().detail, "$.used_by_legal_entity", ""));
  auto e = use("unknown");
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Service request with id 'unknown' is not found");
}

TEST_CASE_FIXTURE(sr_fixture, "use refuses expired, inactive and used requests (409)") {
  auto id = create();
  SUBCASE("expired") {
    auto e = use(id, now + 8 * day);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request is expired");
  }
  SUBCASE("still valid on its last day") {
    CHECK(use(id, now + 7 * day).result.status_code == 200);
  }
  SUBCASE("inactive") {
    REQUIRE(recall(id).result.status_code == 200);
    auto e = use(id);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Can't use inactive service request");
  }
  SUBCASE("already used") {
    REQUIRE(use(id).result.status_code == 200);
    auto e = use(id);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request is already used");
  }
}

TEST_CASE_FIXTURE(sr_fixture, "use validates the legal entity and employee (422)") {
  auto id = create();
  SUBCASE("another legal entity") {
    auto e = run(cmd(job_type::service_request_use, id,
                     {{"used_by_legal_entity", ref("legal_entity", other_le)}}, ""));
    CHECK(has_violation(e, "$.used_by_legal_entity.identifier.value",
                        "You can assign service request only to your legal entity"));
  }
  auto employee_error = [&](const std::string& employee_id) {
    json body = {{"used_by_legal_entity", ref("legal_entity", le)},
                 {"used_by_employee", ref("employee", employee_id)}};
    auto e = run(cmd(job_type::service_request_use, id, body, ""));
    REQUIRE(e.result.status_code == 422);
    return e.result.response["invalid"][0]["rules"][0]["description"].get<std::string>();
  };
  SUBCASE("unknown employee") {
    CHECK(employee_error("x") == "Employee with such ID is not found");
  }
  SUBCASE("not a doctor") {
    CHECK(employee_error(nurse) == "Employee is not an active doctor");
  }
  SUBCASE("not approved") {
    v.add_employee("dismissed", le, user, "DOCTOR", "DISMISSED");
    CHECK(employee_error("dismissed") == "Employee is not approved");
  }
  SUBCASE("of another legal entity") {
    v.add_employee("elsewhere", other_le, user);
    CHECK(employee_error("elsewhere") == "Employee elsewhere doesn't belong to your legal entity");
  }
  CHECK(stored(id)["used_by_legal_entity"].is_null());
}

// -- release --------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "release clears the assignment") {
  auto id = create();
  REQUIRE(use(id).result.status_code == 200);
  auto e = run(cmd(job_type::service_request_release, id, json::object(), ""));
  check_link(e, patient, id);
  CHECK(stored(id)["used_by_legal_entity"].is_null());
  CHECK(stored(id)["used_by_employee"].is_null());
  CHECK(e.publish.empty());
  CHECK(use(id).result.status_code == 200);
}

TEST_CASE_FIXTURE(sr_fixture, "release refuses unknown, expired and inactive requests") {
  auto id = create();
  auto e = run(cmd(job_type::service_request_release, "unknown", json::object(), ""));
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Service request with id 'unknown' is not found");
  CHECK(check_request(req(job_type::service_request_release, "unknown", {}, ""), v).err().status ==
        404);
  e = run(cmd(job_type::service_request_release, id, json::object(), "", now + 8 * day));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Service request is expired");
  REQUIRE(use(id).result.status_code == 200);
  REQUIRE(run(cmd(job_type::service_request_process, id, {}, "")).result.status_code == 200);
  e = run(cmd(job_type::service_request_release, id, json::object(), ""));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Service request in status in_progress cannot be released");
}

// -- process --------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "process starts a used request and publishes the change") {
  auto id = create();
  REQUIRE(use(id).result.status_code == 200);
  auto r = check_request(req(job_type::service_request_process, id, {}, ""), v);
  REQUIRE(r.ok());
  CHECK(r->patient_id == patient);
  auto e = run(cmd(job_type::service_request_process, id, json::object(), ""));
  check_link(e, patient, id);
  auto doc = stored(id);
  CHECK(doc["status"] == "in_progress");
  REQUIRE(doc["status_history"].size() == 2);
  check_last_history(doc, "in_progress", nullptr);
  REQUIRE(e.publish.size() == 1);
  check_status_event(e.publish[0], id, "in_progress");
}

TEST_CASE_FIXTURE(sr_fixture, "process needs an active request used by the user's legal entity") {
  auto id = create();
  auto e = run(cmd(job_type::service_request_process, id, json::object(), ""));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Service request is used by another legal entity");
  REQUIRE(use(id).result.status_code == 200);
  e = run(cmd(job_type::service_request_process, id, json::object(), "", now, other_le));
  CHECK(e.result.response == "Service request is used by another legal entity");
  REQUIRE(run(cmd(job_type::service_request_process, id, {}, "")).result.status_code == 200);
  e = run(cmd(job_type::service_request_process, id, json::object(), ""));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Invalid service request status");
  e = run(cmd(job_type::service_request_process, "unknown", json::object(), ""));
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Service request with id 'unknown' is not found");
  CHECK(e.publish.empty());
}

// -- complete -------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "complete records the result and publishes the change") {
  auto id = in_progress();
  json body = {{"completed_with", ref("encounter", encounter)},
               {"status_reason", concept_of("eHealth/service_request_complete_reasons", "done")}};
  REQUIRE(check_request(req(job_type::service_request_complete, id, body, ""), v).ok());
  auto e = run(cmd(job_type::service_request_complete, id, body, ""));
  check_link(e, patient, id);
  auto doc = stored(id);
  CHECK(doc["status"] == "completed");
  CHECK(doc["completed_with"] == body["completed_with"]);
  CHECK(doc["status_reason"] == body["status_reason"]);
  check_last_history(doc, "completed", body["status_reason"]);
  REQUIRE(e.publish.size() == 1);
  check_status_event(e.publish[0], id, "completed");
  CHECK(e.changes.at(0).references_added == std::vector<std::string>{"encounter/" + encounter});
}

TEST_CASE_FIXTURE(sr_fixture, "complete refuses bad status, legal entity and result") {
  auto id = create();
  json body = {{"completed_with", ref("encounter", encounter)}};
  CHECK(has_violation(
      check_request(req(job_type::service_request_complete, id, json::object(), ""), v)
          .err()
          .detail,
      "$.completed_with", ""));
  auto e = run(cmd(job_type::service_request_complete, id, body, ""));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Invalid service request status");
  id = in_progress();
  e = run(cmd(job_type::service_request_complete, id, body, "", now, other_le));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Service request is used by another legal entity");
  e = run(cmd(job_type::service_request_complete, id,
              {{"completed_with", ref("diagnostic_report", "x")}}, ""));
  CHECK(has_violation(e, "$.completed_with.identifier.value",
                      "Diagnostic report with such id is not found"));
  e = run(cmd(job_type::service_request_complete, "unknown", body, ""));
  CHECK(e.result.status_code == 404);
  CHECK(stored(id)["status"] == "in_progress");
}

// -- recall and cancel ----------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture,
                  "recall recalls the request, publishes the change and texts the patient") {
  auto id = create();
  auto requisition = stored(id)["requisition"].get<std::string>();
  auto e = recall(id);
  check_link(e, patient, id);
  auto doc = stored(id);
  CHECK(doc["status"] == "recalled");
  auto why = concept_of("eHealth/service_request_recall_reasons", "mistake");
  CHECK(doc["status_reason"] == why);
  check_last_history(doc, "recalled", why);
  REQUIRE(e.publish.size() == 2);
  check_status_event(e.publish[0], id, "recalled");
  auto& sms = e.publish[1];
  CHECK(sms.topic == "medical_events.notifications");
  CHECK(sms.key == std::optional<std::string>(patient));
  auto value = json::parse(sms.value);
  CHECK(value["type"] == "sms");
  CHECK(value["phone_number"] == phone);
  CHECK(value["body"].get<std::string>().find(requisition) != std::string::npos);
}

TEST_CASE_FIXTURE(sr_fixture,
                  "recall refuses a request that is not active, or signed differently") {
  auto id = create();
  SUBCASE("in progress") {
    id = in_progress();
    auto e = recall(id);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request in status in_progress cannot be recalled");
  }
  SUBCASE("already recalled: the signed status is outside the schema's enum") {
    REQUIRE(recall(id).result.status_code == 200);
    CHECK(has_violation(recall(id), "$.status"));
  }
  SUBCASE("content differs") {
    auto signed_content = public_doc(stored(id));
    signed_content["status_reason"] = concept_of("eHealth/service_request_recall_reasons", "x");
    signed_content["note"] = "changed";
    auto e = run(cmd(job_type::service_request_recall, id, signed_body(signed_content)));
    CHECK(has_violation(e, "$.signed_data",
                        "Signed content doesn't match with previously created service request"));
    CHECK(stored(id)["status"] == "active");
  }
  SUBCASE("schema: a status_reason is required") {
    auto e = run(cmd(job_type::service_request_recall, id,
                     signed_body(public_doc(stored(id)))));
    CHECK(has_violation(e, "$.status_reason"));
  }
  SUBCASE("requester not the user's employee") {
    v.employees[doctor].user_id = "someone-else";
    auto e = recall(id);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Employees related to this party_id not in current MSP");
  }
}

TEST_CASE_FIXTURE(sr_fixture, "recall and cancel only reach the URL patient's requests") {
  v.put(kind::encounter, other_patient, {{"id", "enc-2"}, {"status", "finished"}});
  auto c = content();
  c["context"] = ref("encounter", "enc-2");
  c.erase("supporting_info");
  c.erase("permitted_resources");
  auto e = run(cmd(job_type::service_request_create, "", signed_body(c), other_patient));
  REQUIRE(e.result.status_code == 200);
  auto id = e.writes[0].id;
  for (auto t : {job_type::service_request_recall, job_type::service_request_cancel}) {
    auto system = t == job_type::service_request_recall ? "eHealth/service_request_recall_reasons"
                                                        : "eHealth/service_request_cancel_reasons";
    auto body = withdrawal(id, system);
    auto err = check_request(req(t, id, body), v).err();
    CHECK(err.status == 404);
    CHECK(err.message == "Service request with id '" + id + "' is not found");
    auto out = run(cmd(t, id, body));
    CHECK(out.result.status_code == 404);
    CHECK(out.result.response == "Service request with id '" + id + "' is not found");
    CHECK(out.publish.empty());
    REQUIRE(check_request(req(t, id, body, other_patient), v).ok());
  }
  CHECK(stored(id)["status"] == "active");
  // The owner may recall it; that patient has no OTP method, so no SMS.
  auto out = recall(id, other_patient);
  REQUIRE(out.result.status_code == 200);
  REQUIRE(out.publish.size() == 1);
  CHECK(out.publish[0].topic == "event_manager_topic");
}

TEST_CASE_FIXTURE(sr_fixture, "cancel marks an active or completed request entered in error") {
  SUBCASE("active") {
    auto id = create();
    auto e = cancel(id);
    check_link(e, patient, id);
    CHECK(stored(id)["status"] == "entered_in_error");
    check_last_history(stored(id), "entered_in_error",
                       concept_of("eHealth/service_request_cancel_reasons", "mistake"));
    REQUIRE(e.publish.size() == 2);
    check_status_event(e.publish[0], id, "entered_in_error");
    CHECK(e.publish[1].topic == "medical_events.notifications");
  }
  SUBCASE("completed") {
    auto id = in_progress();
    REQUIRE(run(cmd(job_type::service_request_complete, id,
                    {{"completed_with", ref("encounter", encounter)}}, ""))
                .result.status_code == 200);
    CHECK(cancel(id).result.status_code == 200);
    CHECK(stored(id)["status"] == "entered_in_error");
  }
  SUBCASE("not from in_progress") {
    auto id = in_progress();
    auto e = cancel(id);
    CHECK(e.result.status_code == 409);
    CHECK(e.result.response == "Service request in status in_progress cannot be cancelled");
  }
}

TEST_CASE_FIXTURE(sr_fixture, "recall and cancel are checked at request time") {
  auto id = create();
  auto body = withdrawal(id, "eHealth/service_request_recall_reasons");
  REQUIRE(check_request(req(job_type::service_request_recall, id, body), v).ok());
  CHECK(check_request(req(job_type::service_request_recall, "unknown", body), v).err().status ==
        404);
  CHECK(check_request(req(job_type::service_request_cancel, id, json::object()), v).err().status ==
        422);
  CHECK(
      check_request(req(job_type::service_request_cancel, id, body, "unknown"), v).err().message ==
      "Person is not found");
}

// -- close ----------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "close completes an active request") {
  auto id = create();
  REQUIRE(check_request(req(job_type::service_request_close, id, json::object()), v).ok());
  auto e = run(cmd(job_type::service_request_close, id, json::object()));
  check_link(e, patient, id);
  CHECK(stored(id)["status"] == "completed");
  check_last_history(stored(id), "completed", nullptr);
  REQUIRE(e.publish.size() == 1);
  check_status_event(e.publish[0], id, "completed");
  e = run(cmd(job_type::service_request_close, id, json::object()));
  CHECK(e.result.status_code == 409);
  CHECK(e.result.response == "Service request with status completed can't be closed");
  e = run(cmd(job_type::service_request_close, "unknown", json::object()));
  CHECK(e.result.status_code == 404);
  CHECK(e.result.response == "Service request unknown was not found");
  CHECK(
      check_request(req(job_type::service_request_close, id, {}, other_patient), v).err().status ==
      404);
}

// -- expiry ---------------------------------------------------------------------------------------

TEST_CASE_FIXTURE(sr_fixture, "expired active requests are recalled as autoexpired") {
  auto expired = create();
  auto later = stored(create());
  later["expiration_date"] = "2019-06-30T23:59:59.000000Z";
  auto used = in_progress();
  std::vector<std::pair<std::string, json>> active = {
      {patient, stored(expired)}, {patient, later}, {patient, stored(used)}};
  auto at = now + 8 * day;
  auto writes = expire_service_requests(active, at, "system");
  REQUIRE(writes.size() == 1);
  auto& w = writes[0];
  CHECK(w.id == expired);
  CHECK(w.patient_id == patient);
  CHECK(w.k == kind::service_request);
  json why = {{"coding", json::array({{{"system", "eHealth/service_request_cancel_reasons"},
                                       {"code", "autoexpired"}}})}};
  CHECK(w.doc["status"] == "recalled");
  CHECK(w.doc["status_reason"] == why);
  CHECK(w.doc["updated_at"] == timestamp(at));
  auto& last = w.doc["status_history"].back();
  CHECK(last == json{{"status", "recalled"},
                     {"status_reason", why},
                     {"inserted_at", timestamp(at)},
                     {"inserted_by", "system"}});
  CHECK(expire_service_requests(active, now + 7 * day, "system").empty());
}

TEST_CASE("the status event carries the reference's fields") {
  auto m = service_request_status_event("sr-1", "recalled", "u-1", now);
  CHECK(m.topic == "event_manager_topic");
  CHECK(m.key == std::optional<std::string>("sr-1"));
  CHECK(json::parse(m.value) == json{{"event_type", "StatusChangeEvent"},
                                     {"entity_type", "ServiceRequest"},
                                     {"entity_id", "sr-1"},
                                     {"properties", {{"status", {{"new_value", "recalled"}}}}},
                                     {"event_time", "2019-06-10T12:00:00.000000Z"},
                                     {"changed_by", "u-1"}});
}
