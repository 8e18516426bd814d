// Episodes: request checks and the create / update / close / cancel jobs, against the in-memory
// view (writes applied between jobs, as the job worker does).
#include "flows/medical_events/handler_fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace {

using namespace medflow::test;
using namespace medflow::test::clinic_world;
using me::job_type;
using me::json;

json create_body(const std::string& id = episode_id) {
  return {{"id", id},
          {"type", {{"system", "eHealth/episode_types"}, {"code", "primary_care"}}},
          {"status", "active"},
          {"name", "Hypertension"},
          {"managing_organization", ref("legal_entity", clinic)},
          {"period", {{"start", "2019-06-01"}}},
          {"care_manager", ref("employee", doctor)}};
}

json close_body(const std::string& end = "2019-06-10") {
  json reason = concept_of("eHealth/episode_closing_reasons", "legal_entity");
  return {{"period", {{"end", end}}}, {"status_reason", reason}, {"closing_summary", "healthy"}};
}

json cancel_body() {
  json reason = concept_of("eHealth/cancellation_reasons", "misspelling");
  return {{"status_reason", reason}, {"explanatory_letter", "wrong patient"}};
}

struct episodes : fixture {
  // Handles a job on episode_id and applies its writes.
  me::effects run(job_type t, json body, std::string client = clinic) {
    auto c = make_command(t, {{"id", episode_id}}, std::move(body), std::move(client));
    auto e = me::handle_episode_job(c, v);
    v.apply(e);
    return e;
  }

  me::effects create() { return run(job_type::episode_create, create_body()); }

  medflow::result<me::accepted> check(job_type t, json body, std::string id = episode_id) {
    return me::check_episode_request(make_request(t, {{"id", std::move(id)}}, std::move(body)), v);
  }

  json stored() { return *v.get(me::kind::episode, patient, episode_id); }
};

}  // namespace

TEST_SUITE("medical_events episodes") {
  TEST_CASE("create request: patient 404 and 409 before the schema, then 422") {
    episodes f;
    auto ok = f.check(job_type::episode_create, create_body());
    REQUIRE(ok);
    CHECK(ok->patient_id == patient);

    auto bad = create_body();
    bad.erase("name");
    bad["status"] = "closed";
    auto invalid = f.check(job_type::episode_create, bad);
    REQUIRE_FALSE(invalid);
    CHECK(invalid.err().status == 422);
    CHECK(invalid.err().code == "validation_failed");
    auto entries = invalid.err().detail;
    CHECK(std::any_of(entries.begin(), entries.end(), [](auto& i) {
      return i["entry"] == "$.name" && i["rules"][0]["rule"] == "required";
    }));
    CHECK(std::any_of(entries.begin(), entries.end(),
                      [](auto& i) { return i["entry"] == "$.status"; }));

    f.v.add_person(patient, "inactive");
    auto inactive = f.check(job_type::episode_create, bad);
    REQUIRE_FALSE(inactive);
    CHECK(inactive.err().status == 409);
    CHECK(inactive.err().message == "Person is not active");

    f.v.persons.clear();
    auto unknown = f.check(job_type::episode_create, bad);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.err().status == 404);
    CHECK(unknown.err().message == "Person is not found");
  }

  TEST_CASE("update, close and cancel requests: patient, then the episode (404), then 422") {
    episodes f;
    for (auto t : {job_type::episode_update, job_type::episode_close, job_type::episode_cancel}) {
      CAPTURE(me::wire_name(t));
      auto missing = f.check(t, json::object());
      REQUIRE_FALSE(missing);
      CHECK(missing.err().status == 404);
      CHECK(missing.err().message == "Episode is not found");
    }
    f.create();
    CHECK(f.check(job_type::episode_update, {{"name", "Renamed"}}));
    CHECK(f.check(job_type::episode_close, close_body()));
    CHECK(f.check(job_type::episode_cancel, cancel_body()));

    auto update = f.check(job_type::episode_update, json::object());
    REQUIRE_FALSE(update);
    CHECK(update.err().status == 422);
    auto extra = f.check(job_type::episode_update, {{"name", "x"}, {"status", "closed"}});
    REQUIRE_FALSE(extra);
    CHECK(extra.err().status == 422);
    auto close = f.check(job_type::episode_close, {{"period", {{"end", "2019-06-10"}}}});
    REQUIRE_FALSE(close);
    CHECK(close.err().detail[0]["entry"] == "$.status_reason");
    auto bad_date = close_body("10.06.2019");
    CHECK(f.check(job_type::episode_close, bad_date).err().detail[0]["entry"] == "$.period.end");
    auto cancel = f.check(job_type::episode_cancel, {{"explanatory_letter", "x"}});
    REQUIRE_FALSE(cancel);
    CHECK(cancel.err().detail[0]["entry"] == "$.status_reason");

    f.v.persons.clear();
    auto unknown = f.check(job_type::episode_close, json::object(), "no-such-episode");
    CHECK(unknown.err().message == "Person is not found");
  }

  TEST_CASE("create stores the episode in the show format, links it and reports its references") {
    episodes f;
    auto e = f.create();
    REQUIRE(e.result.status_code == 200);
    CHECK(
        e.result.response ==
        json{{"links",
              json::array({{{"entity", "episode"},
                            {"href", "/api/patients/" + patient + "/episodes/" + episode_id}}})}});
    REQUIRE(e.writes.size() == 1);
    auto& doc = e.writes[0].doc;
    CHECK(e.writes[0].k == me::kind::episode);
    CHECK(e.writes[0].patient_id == patient);
    CHECK(doc["id"] == episode_id);
    CHECK(doc["status"] == "active");
    CHECK(doc["name"] == "Hypertension");
    CHECK(doc["period"] == json{{"start", "2019-06-01"}});
    CHECK(doc["managing_organization"] == ref("legal_entity", clinic));
    CHECK(doc["care_manager"] == ref("employee", doctor));
    CHECK(doc["status_reason"].is_null());
    CHECK(doc["closing_summary"].is_null());
    CHECK(doc["explanatory_letter"].is_null());
    CHECK(doc["current_diagnoses"] == json::array());
    CHECK(doc["diagnoses_history"] == json::array());
    CHECK(doc["status_history"] == json::array({{{"status", "active"},
                                                 {"inserted_at", "2019-06-10T12:00:00.000000Z"},
                                                 {"inserted_by", user}}}));
    CHECK(doc["inserted_at"] == "2019-06-10T12:00:00.000000Z");
    CHECK(doc["updated_at"] == "2019-06-10T12:00:00.000000Z");
    CHECK(doc["inserted_by"] == user);
    CHECK(doc["updated_by"] == user);
    REQUIRE(e.changes.size() == 1);
    CHECK(e.changes[0].change == me::change_kind::created);
    CHECK(e.changes[0].id == episode_id);
    CHECK(e.changes[0].references_added ==
          std::vector<std::string>{"legal_entity/" + clinic, "employee/" + doctor});
    CHECK(e.changes[0].references_removed.empty());
  }

  TEST_CASE("create: the managing organization must be the client's active legal entity") {
    episodes f;
    auto other = f.run(job_type::episode_create, create_body(), other_clinic);
    CHECK(invalid_at(other, "$.managing_organization.identifier.value") ==
          "Managing_organization does not correspond to user's legal_entity");
    CHECK(other.writes.empty());
    CHECK(other.changes.empty());

    f.v.add_legal_entity(clinic, "CLOSED");
    CHECK(invalid_at(f.create(), "$.managing_organization.identifier.value") ==
          "LegalEntity is not active");
    f.v.legal_entities.erase(clinic);
    CHECK(invalid_at(f.create(), "$.managing_organization.identifier.value") ==
          "LegalEntity with such ID is not found");
  }

  TEST_CASE("create: the care manager must be an approved doctor of the client") {
    episodes f;
    auto care_manager_error = [&] {
      return invalid_at(f.create(), "$.care_manager.identifier.value");
    };
    f.v.employees.clear();
    CHECK(care_manager_error() == "Employee with such ID is not found");
    f.v.add_employee(doctor, clinic, user, "NURSE");
    CHECK(care_manager_error() == "Employee submitted as a care_manager is not a doctor");
    f.v.add_employee(doctor, clinic, user, "DOCTOR", "DISMISSED");
    CHECK(care_manager_error() == "Doctor submitted as a care_manager is not active");
    f.v.add_employee(doctor, other_clinic, user);
    CHECK(care_manager_error() == "Employee " + doctor + " doesn't belong to your legal entity");
  }

  TEST_CASE("create: every changeset error is reported together") {
    episodes f;
    f.v.employees.clear();
    auto e = f.run(job_type::episode_create, create_body(), other_clinic);
    REQUIRE(e.result.status_code == 422);
    CHECK(e.result.response["type"] == "validation_failed");
    REQUIRE(e.result.response["invalid"].size() == 2);
    CHECK(e.result.response["invalid"][0]["entry"] == "$.managing_organization.identifier.value");
    CHECK(e.result.response["invalid"][0]["entry_type"] == "json_data_property");
    CHECK(e.result.response["invalid"][0]["rules"][0]["rule"] == "invalid");
    CHECK(e.result.response["invalid"][1]["entry"] == "$.care_manager.identifier.value");
  }

  TEST_CASE("create: an existing id is refused at $.id, whoever's episode it is") {
    episodes f;
    f.create();
    CHECK(invalid_at(f.create(), "$.id") == "Episode with such id already exists");

    f.v.put(me::kind::episode, "another-patient", {{"id", "11111111-2222-4333-8444-555555555555"}});
    auto e = f.run(job_type::episode_create, create_body("11111111-2222-4333-8444-555555555555"));
    CHECK(invalid_at(e, "$.id") == "Episode with such id already exists");
  }

  TEST_CASE("update renames and changes the care manager") {
    episodes f;
    f.create();
    const std::string new_doctor = "9b8a7c6d-6666-4e5f-8a6b-000000000006";
    f.v.add_employee(new_doctor, clinic, "another-user");
    auto e = f.run(job_type::episode_update,
                   {{"name", "Renamed"}, {"care_manager", ref("employee", new_doctor)}});
    REQUIRE(e.result.status_code == 200);
    CHECK(e.result.response["links"][0]["entity"] == "episode");
    auto doc = f.stored();
    CHECK(doc["name"] == "Renamed");
    CHECK(me::reference_id(doc["care_manager"]) == new_doctor);
    CHECK(doc["status_history"].size() == 1);
    REQUIRE(e.changes.size() == 1);
    CHECK(e.changes[0].change == me::change_kind::updated);
    CHECK(e.changes[0].references_added == std::vector<std::string>{"employee/" + new_doctor});
    CHECK(e.changes[0].references_removed == std::vector<std::string>{"employee/" + doctor});

    auto rename = f.run(job_type::episode_update, {{"name", "Again"}});
    REQUIRE(rename.result.status_code == 200);
    CHECK(rename.changes[0].references_added.empty());
    CHECK(f.stored()["care_manager"] == ref("employee", new_doctor));
  }

  TEST_CASE("update errors: 404, status, managing organization, care manager") {
    episodes f;
    auto missing = f.run(job_type::episode_update, {{"name", "x"}});
    CHECK(missing.result.status_code == 404);
    CHECK(missing.result.response == "Failed to get episode");

    f.create();
    auto other = f.run(job_type::episode_update, {{"name", "x"}}, other_clinic);
    CHECK(other.result.status_code == 409);
    CHECK(other.result.response ==
          "Managing_organization does not correspond to user's legal_entity");

    auto nurse = "9b8a7c6d-7777-4e5f-8a6b-000000000007";
    f.v.add_employee(nurse, clinic, user, "NURSE");
    auto e = f.run(job_type::episode_update, {{"care_manager", ref("employee", nurse)}});
    CHECK(invalid_at(e, "$.care_manager.identifier.value") ==
          "Employee submitted as a care_manager is not a doctor");

    f.run(job_type::episode_close, close_body());
    auto closed = f.run(job_type::episode_update, {{"name", "x"}});
    CHECK(closed.result.status_code == 409);
    CHECK(closed.result.response == "Episode in status closed can not be updated");
  }

  TEST_CASE("close sets status, reason, summary and end, and adds a status history entry") {
    episodes f;
    f.create();
    auto e = f.run(job_type::episode_close, close_body());
    REQUIRE(e.result.status_code == 200);
    CHECK(e.result.response["links"][0]["href"] ==
          "/api/patients/" + patient + "/episodes/" + episode_id);
    auto doc = f.stored();
    CHECK(doc["status"] == "closed");
    CHECK(doc["period"] == json{{"start", "2019-06-01"}, {"end", "2019-06-10"}});
    CHECK(doc["status_reason"] == close_body()["status_reason"]);
    CHECK(doc["closing_summary"] == "healthy");
    REQUIRE(doc["status_history"].size() == 2);
    CHECK(doc["status_history"][1] == json{{"status", "closed"},
                                           {"status_reason", close_body()["status_reason"]},
                                           {"inserted_at", "2019-06-10T12:00:00.000000Z"},
                                           {"inserted_by", user}});
    CHECK(e.changes.at(0).change == me::change_kind::updated);
  }

  TEST_CASE("close errors in the reference's order: status, organization, then dates") {
    episodes f;
    auto missing = f.run(job_type::episode_close, close_body());
    CHECK(missing.result.status_code == 404);
    CHECK(missing.result.response == "Failed to get episode");

    f.create();
    // Both the organization and the dates are wrong: the organization is reported.
    auto other = f.run(job_type::episode_close, close_body("2019-05-01"), other_clinic);
    CHECK(other.result.status_code == 409);
    CHECK(other.result.response ==
          "Managing_organization does not correspond to user's legal_entity");

    auto early = f.run(job_type::episode_close, close_body("2019-05-31"));
    CHECK(invalid_at(early, "$.period.end") == "End date must be greater or equal than start date");
    CHECK(early.writes.empty());

    CHECK(f.run(job_type::episode_close, close_body("2019-06-01")).result.status_code == 200);
    // Closed, by another organization, with bad dates: the status is reported.
    auto again = f.run(job_type::episode_close, close_body("2019-05-01"), other_clinic);
    CHECK(again.result.status_code == 409);
    CHECK(again.result.response == "Episode in status closed can not be closed");
  }

  TEST_CASE("cancel an active or a closed episode") {
    for (bool closed_first : {false, true}) {
      CAPTURE(closed_first);
      episodes f;
      f.create();
      if (closed_first) f.run(job_type::episode_close, close_body());
      auto e = f.run(job_type::episode_cancel, cancel_body());
      REQUIRE(e.result.status_code == 200);
      auto doc = f.stored();
      CHECK(doc["status"] == "entered_in_error");
      CHECK(doc["status_reason"] == cancel_body()["status_reason"]);
      CHECK(doc["explanatory_letter"] == "wrong patient");
      CHECK(doc["status_history"].back()["status"] == "entered_in_error");
      CHECK(doc["status_history"].size() == (closed_first ? 3u : 2u));
    }
  }

  TEST_CASE("cancel errors: 404, status, organization, live encounters") {
    episodes f;
    auto missing = f.run(job_type::episode_cancel, cancel_body());
    CHECK(missing.result.status_code == 404);
    CHECK(missing.result.response == "Failed to get episode");

    f.create();
    auto other = f.run(job_type::episode_cancel, cancel_body(), other_clinic);
    CHECK(other.result.status_code == 409);
    CHECK(other.result.response ==
          "Managing_organization does not correspond to user's legal_entity");

    json encounter = {{"id", "e0000000-0000-4000-8000-000000000001"},
                      {"status", "finished"},
                      {"episode", ref("episode", episode_id)}};
    f.v.put(me::kind::encounter, patient, encounter);
    json cancelled = {{"id", "e0000000-0000-4000-8000-000000000002"},
                      {"status", "entered_in_error"},
                      {"episode", ref("episode", episode_id)}};
    f.v.put(me::kind::encounter, patient, cancelled);
    auto live = f.run(job_type::episode_cancel, cancel_body());
    CHECK(live.result.status_code == 409);
    CHECK(live.result.response ==
          "Episode can not be canceled while it has not canceled encounters");

    encounter["status"] = "entered_in_error";
    f.v.put(me::kind::encounter, patient, encounter);
    CHECK(f.run(job_type::episode_cancel, cancel_body()).result.status_code == 200);
    auto again = f.run(job_type::episode_cancel, cancel_body());
    CHECK(again.result.status_code == 409);
    CHECK(again.result.response == "Episode in status entered_in_error can not be canceled");
  }

  TEST_CASE("jobs of one patient apply in order: update, close, update") {
    episodes f;
    f.create();
    auto first = f.run(job_type::episode_update, {{"name", "First"}});
    auto close = f.run(job_type::episode_close, close_body());
    auto second = f.run(job_type::episode_update, {{"name", "Second"}});
    CHECK(first.result.status_code == 200);
    CHECK(close.result.status_code == 200);
    CHECK(second.result.status_code == 409);
    CHECK(second.result.response == "Episode in status closed can not be updated");
    CHECK(second.writes.empty());
    CHECK(f.stored()["name"] == "First");
  }
}
