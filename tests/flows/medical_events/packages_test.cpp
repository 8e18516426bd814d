// Encounter packages and diagnostic report packages: request checks and the create / cancel jobs,
// against the in-memory view (writes applied between jobs, as the job worker does).
#include "flows/medical_events/package_content.hpp"
#include "flows/medical_events/handler_fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace {

using namespace medflow::test;
using namespace medflow::test::clinic_world;
using me::job_type;
using me::json;
using me::kind;

const std::string visit_id = "a0000000-0000-4000-8000-000000000001";
const std::string encounter_id = "a0000000-0000-4000-8000-000000000002";
const std::string condition_id = "a0000000-0000-4000-8000-000000000003";
const std::string observation_id = "a0000000-0000-4000-8000-000000000004";
const std::string immunization_id = "a0000000-0000-4000-8000-000000000005";
const std::string allergy_id = "a0000000-0000-4000-8000-000000000006";
const std::string risk_id = "a0000000-0000-4000-8000-000000000007";
const std::string device_id = "a0000000-0000-4000-8000-000000000008";
const std::string medication_id = "a0000000-0000-4000-8000-000000000009";
const std::string report_id = "a0000000-0000-4000-8000-00000000000a";
const std::string service_id = "a0000000-0000-4000-8000-00000000000b";
const std::string yesterday = "2019-06-09T10:00:00.000Z";

json cancellation_reason() {
  return concept_of("eHealth/cancellation_reasons", "misspelling");
}

json encounter_doc() {
  return {{"id", encounter_id},
          {"status", "finished"},
          {"episode", ref("episode", episode_id)},
          {"visit", ref("visit", visit_id)},
          {"class", {{"system", "eHealth/encounter_classes"}, {"code", "AMB"}}},
          {"type", concept_of("eHealth/encounter_types", "field")},
          {"performer", ref("employee", doctor)},
          {"reasons", json::array({concept_of("eHealth/ICPC2/reasons", "A02")})},
          {"diagnoses", json::array({{{"condition", ref("condition", condition_id)},
                                      {"role", concept_of("eHealth/diagnosis_roles", "primary")},
                                      {"rank", 1}}})},
          {"actions", json::array({concept_of("eHealth/ICPC2/actions", "A01")})},
          {"date", yesterday}};
}

json in_encounter() {
  return ref("encounter", encounter_id);
}
json by_doctor() {
  return ref("employee", doctor);
}

json condition_doc(const std::string& id = condition_id) {
  return {{"id", id},
          {"primary_source", true},
          {"asserter", by_doctor()},
          {"context", in_encounter()},
          {"code", concept_of("eHealth/ICD10/condition_codes", "J11")},
          {"clinical_status", "active"},
          {"verification_status", "confirmed"},
          {"onset_date", "2019-06-01T00:00:00Z"}};
}

json observation_doc(const std::string& id = observation_id) {
  return {{"id", id},
          {"status", "valid"},
          {"primary_source", true},
          {"performer", by_doctor()},
          {"context", in_encounter()},
          {"categories", json::array({concept_of("eHealth/observation_categories", "vital")})},
          {"code", concept_of("eHealth/LOINC/observation_codes", "8310-5")},
          {"issued", yesterday},
          {"effective_date_time", yesterday},
          {"value_quantity", {{"value", 36.6}, {"unit", "Cel"}}}};
}

json report_doc(const std::string& id = report_id) {
  return {{"id", id},
          {"status", "final"},
          {"code", ref("service", service_id)},
          {"issued", yesterday},
          {"recorded_by", by_doctor()},
          {"encounter", in_encounter()},
          {"primary_source", true},
          {"performer", {{"text", "Dr. House"}}}};
}

// An encounter package with one entity of every kind.
json package_content() {
  json c = {{"encounter", encounter_doc()},
            {"conditions", json::array({condition_doc()})},
            {"observations", json::array({observation_doc()})},
            {"diagnostic_reports", json::array({report_doc()})}};
  c["immunizations"] = json::array({{{"id", immunization_id},
                                     {"status", "completed"},
                                     {"not_given", false},
                                     {"vaccine_code", concept_of("eHealth/vaccine_codes", "FLU")},
                                     {"context", in_encounter()},
                                     {"date", yesterday},
                                     {"primary_source", true},
                                     {"performer", by_doctor()}}});
  c["allergy_intolerances"] =
      json::array({{{"id", allergy_id},
                    {"clinical_status", "active"},
                    {"verification_status", "confirmed"},
                    {"type", "allergy"},
                    {"category", "food"},
                    {"criticality", "low"},
                    {"context", in_encounter()},
                    {"code", concept_of("eHealth/allergy_intolerance_codes", "227493005")},
                    {"onset_date_time", yesterday},
                    {"asserted_date", yesterday},
                    {"primary_source", true},
                    {"asserter", by_doctor()}}});
  c["risk_assessments"] = json::array({{{"id", risk_id},
                                        {"status", "preliminary"},
                                        {"code", concept_of("eHealth/risk_assessment_codes", "R1")},
                                        {"context", in_encounter()},
                                        {"asserted_date", yesterday},
                                        {"primary_source", true},
                                        {"performer", by_doctor()}}});
  c["devices"] = json::array({{{"id", device_id},
                               {"status", "active"},
                               {"asserted_date", yesterday},
                               {"usage_period", {{"start", yesterday}}},
                               {"context", in_encounter()},
                               {"primary_source", true},
                               {"type", concept_of("eHealth/device_types", "glasses")},
                               {"asserter", by_doctor()}}});
  c["medication_statements"] = json::array(
      {{{"id", medication_id},
        {"asserted_date", yesterday},
        {"status", "active"},
        {"context", in_encounter()},
        {"primary_source", true},
        {"medication_code", concept_of("eHealth/medication_statement_medications", "M1")},
        {"asserter", by_doctor()}}});
  return c;
}

json visit_doc() {
  return {{"id", visit_id}, {"period", {{"start", yesterday}, {"end", yesterday}}}};
}

// The cancel of a created package: what was created, with the encounter entered in error.
json cancel_content(json content = package_content()) {
  content["encounter"]["status"] = "entered_in_error";
  content["encounter"]["cancellation_reason"] = cancellation_reason();
  content["encounter"]["explanatory_letter"] = "wrong patient";
  return content;
}

json report_package_content() {
  json report = report_doc();
  report.erase("encounter");
  report["managing_organization"] = ref("legal_entity", clinic);
  json observation = observation_doc();
  observation.erase("context");
  observation.erase("performer");
  observation["diagnostic_report"] = ref("diagnostic_report", report_id);
  return {{"diagnostic_report", report}, {"observations", json::array({observation})}};
}

json report_cancel_content(json content = report_package_content()) {
  content["diagnostic_report"]["status"] = "entered_in_error";
  content["diagnostic_report"]["cancellation_reason"] = cancellation_reason();
  content["diagnostic_report"]["explanatory_letter"] = "wrong patient";
  return content;
}

json package_body(const json& content = package_content()) {
  auto body = signed_body(content);
  body["visit"] = visit_doc();
  return body;
}

std::string conflict_of(const me::effects& e) {
  if (e.result.status_code != 409 || !e.result.response.is_string()) return "";
  return e.result.response.get<std::string>();
}

std::vector<std::string> link_entities(const me::effects& e) {
  std::vector<std::string> out;
  for (auto& l : e.result.response["links"]) out.push_back(l["entity"].get<std::string>());
  return out;
}

struct packages : fixture {
  packages() {
    v.put(kind::episode, patient,
          {{"id", episode_id},
           {"status", "active"},
           {"managing_organization", ref("legal_entity", clinic)},
           {"care_manager", by_doctor()},
           {"current_diagnoses", json::array()},
           {"diagnoses_history", json::array()}});
  }

  // Handles a job and applies its writes.
  me::effects run(job_type t, json body, std::string client = clinic) {
    auto e = me::handle_package_job(
        make_command(t, json::object(), std::move(body), std::move(client)), v);
    v.apply(e);
    return e;
  }

  me::effects create(const json& content = package_content()) {
    return run(job_type::package_create, package_body(content));
  }
  me::effects cancel(const json& content = cancel_content()) {
    return run(job_type::package_cancel, signed_body(content));
  }
  me::effects create_report(const json& content = report_package_content()) {
    return run(job_type::diagnostic_report_package_create, signed_body(content));
  }
  me::effects cancel_report(const json& content = report_cancel_content()) {
    return run(job_type::diagnostic_report_package_cancel, signed_body(content));
  }

  medflow::result<me::accepted> check(job_type t, json body) {
    return me::check_package_request(make_request(t, json::object(), std::move(body)), v);
  }

  json stored(kind k, const std::string& id) { return *v.get(k, patient, id); }
};

}  // namespace

TEST_SUITE("medical_events packages: requests") {
  TEST_CASE("package create: patient 404/409, then the body's signed_data and visit (422)") {
    packages f;
    auto ok = f.check(job_type::package_create, package_body());
    REQUIRE(ok);
    CHECK(ok->patient_id == patient);
    // The reference validates only the fields it reads.
    auto extra = package_body();
    extra["note"] = "ignored";
    CHECK(f.check(job_type::package_create, extra));

    auto no_period = package_body();
    no_period["visit"].erase("period");
    auto invalid = f.check(job_type::package_create, no_period);
    REQUIRE_FALSE(invalid);
    CHECK(invalid.err().status == 422);
    CHECK(invalid.err().detail[0]["entry"] == "$.visit.period");
    CHECK(invalid.err().detail[0]["rules"][0]["rule"] == "required");
    auto empty = f.check(job_type::package_create, {{"signed_data", ""}});
    CHECK(empty.err().detail[0]["entry"] == "$.signed_data");

    f.v.add_person(patient, "inactive");
    CHECK(f.check(job_type::package_create, no_period).err().message == "Person is not active");
    f.v.persons.clear();
    CHECK(f.check(job_type::package_create, no_period).err().status == 404);
    CHECK(f.check(job_type::package_create, no_period).err().message == "Person is not found");
  }

  TEST_CASE("package cancel checks its schema before the patient") {
    packages f;
    CHECK(f.check(job_type::package_cancel, signed_body(cancel_content())));
    f.v.persons.clear();
    auto invalid = f.check(job_type::package_cancel, json::object());
    CHECK(invalid.err().status == 422);
    CHECK(invalid.err().detail[0]["entry"] == "$.signed_data");
    auto unknown = f.check(job_type::package_cancel, signed_body(cancel_content()));
    CHECK(unknown.err().status == 404);
    CHECK(unknown.err().message == "Person is not found");
  }

  TEST_CASE("diagnostic report packages check the patient before the schema") {
    for (auto t :
         {job_type::diagnostic_report_package_create, job_type::diagnostic_report_package_cancel}) {
      CAPTURE(me::wire_name(t));
      packages f;
      CHECK(f.check(t, signed_body(report_package_content())));
      CHECK(f.check(t, json::object()).err().status == 422);
      f.v.add_person(patient, "inactive");
      CHECK(f.check(t, json::object()).err().status == 409);
      f.v.persons.clear();
      CHECK(f.check(t, json::object()).err().status == 404);
    }
  }
}

TEST_SUITE("medical_events packages: encounter package create") {
  TEST_CASE("writes every entity, links them in the reference's order, updates the episode") {
    packages f;
    auto e = f.create();
    REQUIRE(e.result.status_code == 200);
    CHECK(link_entities(e) ==
          std::vector<std::string>{"encounter", "immunization", "allergy_intolerance",
                                   "risk_assessment", "device", "medication_statement",
                                   "diagnostic_report", "condition", "observation"});
    CHECK(e.result.response["links"][0]["href"] ==
          "/api/patients/" + patient + "/encounters/" + encounter_id);
    CHECK(e.result.response["links"][8]["href"] ==
          "/api/patients/" + patient + "/observations/" + observation_id);

    // visit, encounter, 8 entities, episode
    REQUIRE(e.writes.size() == 11);
    REQUIRE(e.changes.size() == 11);
    for (size_t i = 0; i < 10; ++i) CHECK(e.changes[i].change == me::change_kind::created);
    CHECK(e.changes[10].k == kind::episode);
    CHECK(e.changes[10].change == me::change_kind::updated);

    auto visit = f.stored(kind::visit, visit_id);
    CHECK(visit["period"] == visit_doc()["period"]);
    CHECK(visit["inserted_by"] == user);
    auto encounter = f.stored(kind::encounter, encounter_id);
    auto expected = encounter_doc();
    for (auto& [key, value] : expected.items()) CHECK(encounter[key] == value);
    CHECK(encounter["inserted_at"] == "2019-06-10T12:00:00.000000Z");
    CHECK(encounter["updated_by"] == user);
    CHECK(f.stored(kind::condition, condition_id)["code"] == condition_doc()["code"]);
    for (auto k :
         {kind::observation, kind::immunization, kind::allergy_intolerance, kind::risk_assessment,
          kind::device, kind::medication_statement, kind::diagnostic_report})
      CHECK(f.v.list(k, patient).size() == 1);

    auto encounter_change = std::find_if(e.changes.begin(), e.changes.end(),
                                         [](auto& c) { return c.k == kind::encounter; });
    CHECK(encounter_change->references_added ==
          std::vector<std::string>{"episode/" + episode_id, "visit/" + visit_id,
                                   "employee/" + doctor, "condition/" + condition_id});
    auto condition_change = std::find_if(e.changes.begin(), e.changes.end(),
                                         [](auto& c) { return c.k == kind::condition; });
    CHECK(condition_change->references_added ==
          std::vector<std::string>{"encounter/" + encounter_id, "employee/" + doctor});

    auto episode = f.stored(kind::episode, episode_id);
    json diagnosis = encounter_doc()["diagnoses"][0];
    diagnosis["code"] = condition_doc()["code"];
    CHECK(episode["current_diagnoses"] == json::array({diagnosis}));
    REQUIRE(episode["diagnoses_history"].size() == 1);
    auto& history = episode["diagnoses_history"][0];
    CHECK(history["date"] == "2019-06-10");
    CHECK(history["is_active"] == true);
    CHECK(me::reference_id(history["evidence"]) == encounter_id);
    CHECK(history["diagnoses"] == json::array({diagnosis}));
    CHECK(episode["updated_by"] == user);
  }

  TEST_CASE("a package without a visit cites a stored visit") {
    packages f;
    auto content = package_content();
    auto missing = f.run(job_type::package_create, signed_body(content));
    CHECK(invalid_at(missing, "$.encounter.visit.identifier.value") ==
          "Visit with such ID is not found");
    f.v.put(kind::visit, patient, visit_doc());
    auto e = f.run(job_type::package_create, signed_body(content));
    CHECK(e.result.status_code == 200);
    CHECK(e.writes.size() == 10);
  }

  TEST_CASE("signed data, schema and one-of rules: 422") {
    packages f;
    auto not_base64 = f.run(job_type::package_create, {{"signed_data", "%%%"}});
    CHECK(not_base64.result.status_code == 422);
    CHECK(not_base64.result.response["invalid"][0]["entry"] == "$.signed_data");
    auto not_json =
        f.run(job_type::package_create, {{"signed_data", medflow::base64::encode("not json")}});
    CHECK(not_json.result.response["invalid"][0]["entry"] == "$.signed_data");

    auto content = package_content();
    content["encounter"].erase("date");
    content["observations"][0]["status"] = 1;
    auto schema = f.create(content);
    REQUIRE(schema.result.status_code == 422);
    CHECK(schema.result.response["type"] == "validation_failed");
    auto entries = schema.result.response["invalid"];
    CHECK(std::any_of(entries.begin(), entries.end(), [](auto& i) {
      return i["entry"] == "$.encounter.date" && i["rules"][0]["rule"] == "required";
    }));
    CHECK(std::any_of(entries.begin(), entries.end(),
                      [](auto& i) { return i["entry"] == "$.observations[0].status"; }));
    CHECK(schema.writes.empty());

    content = package_content();
    content["conditions"][0]["report_origin"] = concept_of("eHealth/report_origins", "patient");
    content["observations"][0].erase("value_quantity");
    auto one_of = f.create(content);
    CHECK(invalid_at(one_of, "$.conditions[0].report_origin") ==
          "Only one of the parameters must be present");
    CHECK(invalid_at(one_of, "$.conditions[0].asserter") ==
          "Only one of the parameters must be present");
    CHECK(invalid_at(one_of, "$.observations[0]") ==
          "At least one of the parameters must be present");
    auto rule = one_of.result.response["invalid"][0]["rules"][0];
    CHECK(rule["rule"] == "oneOf");
    CHECK(rule["params"] ==
          json::array({"$.conditions[0].report_origin", "$.conditions[0].asserter"}));
  }

  TEST_CASE("the performer is the acting user's employee in the client's legal entity: 409") {
    packages f;
    f.v.add_employee(doctor, other_clinic, user);
    CHECK(conflict_of(f.create()) == "Performer does not belong to current legal entity");
    f.v.add_employee(doctor, clinic, "someone-else");
    CHECK(conflict_of(f.create()) == "Employee is not performer of encounter");
    f.v.employees.clear();
    CHECK(conflict_of(f.create()) == "Employee is not performer of encounter");
  }

  TEST_CASE("entities that already exist: 422 in the reference's build order") {
    struct existing {
      kind k;
      std::string id;
      std::string entry;
      std::string description;
    };
    const std::vector<existing> cases = {
        {kind::visit, visit_id, "$.visit.id", "Visit with such id already exists"},
        {kind::diagnostic_report, report_id, "$.diagnostic_reports[0].id",
         "Diagnostic report with id '" + report_id + "' already exists"},
        {kind::observation, observation_id, "$.observations[0].id",
         "Observation with id '" + observation_id + "' already exists"},
        {kind::condition, condition_id, "$.conditions[0].id",
         "Condition with id '" + condition_id + "' already exists"},
        {kind::encounter, encounter_id, "$.encounter.id", "Encounter with such id already exists"},
        {kind::immunization, immunization_id, "$.immunizations[0].id",
         "Immunization with id '" + immunization_id + "' already exists"},
        {kind::allergy_intolerance, allergy_id, "$.allergy_intolerances[0].id",
         "Allergy intolerance with id '" + allergy_id + "' already exists"},
        {kind::risk_assessment, risk_id, "$.risk_assessments[0].id",
         "Risk assessment with id '" + risk_id + "' already exists"},
        {kind::device, device_id, "$.devices[0].id",
         "Device with id '" + device_id + "' already exists"},
        {kind::medication_statement, medication_id, "$.medication_statements[0].id",
         "Medication statement with id '" + medication_id + "' already exists"},
    };
    // Each existing entity, and every later one too: the earliest in build order is reported.
    for (size_t i = 0; i < cases.size(); ++i) {
      CAPTURE(cases[i].entry);
      packages f;
      for (size_t j = i; j < cases.size(); ++j)
        f.v.put(cases[j].k, "another-patient", {{"id", cases[j].id}});
      auto e = f.create();
      CHECK(invalid_at(e, cases[i].entry) == cases[i].description);
      CHECK(e.result.response["invalid"].size() == 1);
      CHECK(e.writes.empty());
    }
  }

  TEST_CASE("one package cannot carry an entity twice") {
    packages f;
    auto content = package_content();
    content["conditions"].push_back(condition_doc());
    CHECK(invalid_at(f.create(content), "$.conditions[1].id") ==
          "Condition with id '" + condition_id + "' already exists");
  }

  TEST_CASE("entities belong to the package's encounter") {
    packages f;
    auto content = package_content();
    auto elsewhere = ref("encounter", "b0000000-0000-4000-8000-000000000001");
    content["conditions"][0]["context"] = elsewhere;
    content["devices"][0]["context"] = elsewhere;
    content["diagnostic_reports"][0]["encounter"] = elsewhere;
    auto e = f.create(content);
    // Diagnostic reports are built first: their error ends the job.
    CHECK(invalid_at(e, "$.diagnostic_reports[0].encounter.identifier.value") ==
          "Submitted encounter is not allowed for the diagnostic report");
    content["diagnostic_reports"][0]["encounter"] = in_encounter();
    CHECK(invalid_at(f.create(content), "$.conditions[0].context.identifier.value") ==
          "Submitted context is not allowed for the condition");
    content["conditions"][0]["context"] = in_encounter();
    CHECK(invalid_at(f.create(content), "$.devices[0].context.identifier.value") ==
          "Submitted context is not allowed for the device");
  }

  TEST_CASE("an observation cites a report of the package or a live stored one") {
    packages f;
    auto content = package_content();
    const std::string stored_report = "b0000000-0000-4000-8000-000000000002";
    content["observations"][0]["diagnostic_report"] = ref("diagnostic_report", stored_report);
    CHECK(invalid_at(f.create(content), "$.observations[0].diagnostic_report.identifier.value") ==
          "Diagnostic report with such id is not found");
    f.v.put(kind::diagnostic_report, patient,
            {{"id", stored_report}, {"status", "entered_in_error"}});
    CHECK(invalid_at(f.create(content), "$.observations[0].diagnostic_report.identifier.value") ==
          "Diagnostic report in \"entered_in_error\" status can not be referenced");
    f.v.put(kind::diagnostic_report, patient, {{"id", stored_report}, {"status", "final"}});
    CHECK(f.create(content).result.status_code == 200);

    packages g;
    content["observations"][0]["diagnostic_report"] = ref("diagnostic_report", report_id);
    CHECK(g.create(content).result.status_code == 200);
  }

  TEST_CASE("the encounter's episode must exist, be active and be the client's") {
    const std::string entry = "$.encounter.episode.identifier.value";
    packages f;
    auto content = package_content();
    content["encounter"]["episode"] = ref("episode", "b0000000-0000-4000-8000-000000000003");
    CHECK(invalid_at(f.create(content), entry) == "Episode with such ID is not found");

    auto episode = f.stored(kind::episode, episode_id);
    episode["status"] = "closed";
    f.v.put(kind::episode, patient, episode);
    CHECK(invalid_at(f.create(), entry) == "Episode is not active");

    episode["status"] = "active";
    episode["managing_organization"] = ref("legal_entity", other_clinic);
    f.v.put(kind::episode, patient, episode);
    CHECK(invalid_at(f.create(), entry) ==
          "Managing_organization does not correspond to user's legal_entity");
  }

  TEST_CASE("the encounter's diagnoses cite conditions of the package or stored ones") {
    packages f;
    auto content = package_content();
    const std::string stored_condition = "b0000000-0000-4000-8000-000000000004";
    content["encounter"]["diagnoses"][0]["condition"] = ref("condition", stored_condition);
    CHECK(invalid_at(f.create(content), "$.encounter.diagnoses[0].condition.identifier.value") ==
          "Condition with such id is not found");
    json condition = condition_doc(stored_condition);
    condition["code"] = concept_of("eHealth/ICD10/condition_codes", "I10");
    f.v.put(kind::condition, patient, condition);
    REQUIRE(f.create(content).result.status_code == 200);
    CHECK(f.stored(kind::episode, episode_id)["current_diagnoses"][0]["code"] == condition["code"]);
  }

  TEST_CASE("the encounter date is in the past and at most 7 days old") {
    packages f;
    auto content = package_content();
    content["encounter"]["date"] = "2019-06-10T12:00:01Z";
    CHECK(invalid_at(f.create(content), "$.encounter.date") == "Date must be in past");
    content["encounter"]["date"] = "2019-06-03T23:59:59Z";
    CHECK(invalid_at(f.create(content), "$.encounter.date") ==
          "Date must be greater than 2019-06-03");
    content["encounter"]["date"] = "2019-06-04T00:00:00Z";
    CHECK(f.create(content).result.status_code == 200);
  }

  TEST_CASE("the encounter's errors are reported together, before 'already exists'") {
    packages f;
    f.v.put(kind::encounter, patient, {{"id", encounter_id}});
    auto content = package_content();
    content["encounter"]["episode"] = ref("episode", "b0000000-0000-4000-8000-000000000003");
    content["encounter"]["date"] = "2019-07-01T00:00:00Z";
    auto e = f.create(content);
    REQUIRE(e.result.status_code == 422);
    CHECK(e.result.response["invalid"].size() == 2);
    CHECK(invalid_at(e, "$.encounter.date") == "Date must be in past");
    CHECK(invalid_at(e, "$.encounter.id") == "");
  }
}

TEST_SUITE("medical_events packages: encounter package cancel") {
  TEST_CASE("cancelling the encounter withdraws its diagnoses from the episode") {
    packages f;
    REQUIRE(f.create().result.status_code == 200);
    auto content = cancel_content();
    content["conditions"][0]["verification_status"] = "entered_in_error";
    auto e = f.cancel(content);
    REQUIRE(e.result.status_code == 200);
    CHECK(e.result.response == json::object());

    auto encounter = f.stored(kind::encounter, encounter_id);
    CHECK(encounter["status"] == "entered_in_error");
    CHECK(encounter["cancellation_reason"] == cancellation_reason());
    CHECK(encounter["explanatory_letter"] == "wrong patient");
    CHECK(f.stored(kind::condition, condition_id)["verification_status"] == "entered_in_error");
    CHECK(f.stored(kind::condition, condition_id)["clinical_status"] == "active");
    CHECK(f.stored(kind::observation, observation_id)["status"] == "valid");
    auto episode = f.stored(kind::episode, episode_id);
    CHECK(episode["current_diagnoses"] == json::array());
    CHECK(episode["diagnoses_history"][0]["is_active"] == false);

    // encounter, condition, episode
    REQUIRE(e.changes.size() == 3);
    CHECK(e.changes[0].k == kind::encounter);
    CHECK(e.changes[1].k == kind::condition);
    CHECK(e.changes[2].k == kind::episode);
    for (auto& c : e.changes) CHECK(c.change == me::change_kind::updated);
  }

  TEST_CASE("the current diagnoses fall back to the latest encounter still active") {
    packages f;
    REQUIRE(f.create().result.status_code == 200);
    // A second encounter of the episode, with its own condition, is then cancelled.
    const std::string second_encounter = "c0000000-0000-4000-8000-000000000001";
    const std::string second_condition = "c0000000-0000-4000-8000-000000000002";
    json second = {{"encounter", encounter_doc()},
                   {"conditions", json::array({condition_doc(second_condition)})}};
    second["encounter"]["id"] = second_encounter;
    second["encounter"]["diagnoses"][0]["condition"] = ref("condition", second_condition);
    second["conditions"][0]["context"] = ref("encounter", second_encounter);
    REQUIRE(f.run(job_type::package_create, signed_body(second)).result.status_code == 200);
    auto current = f.stored(kind::episode, episode_id)["current_diagnoses"];
    CHECK(me::reference_id(current[0]["condition"]) == second_condition);

    REQUIRE(f.cancel(cancel_content(second)).result.status_code == 200);
    auto episode = f.stored(kind::episode, episode_id);
    current = episode["current_diagnoses"];
    REQUIRE(current.size() == 1);
    CHECK(me::reference_id(current[0]["condition"]) == condition_id);
    CHECK(episode["diagnoses_history"][0]["is_active"] == true);
    CHECK(episode["diagnoses_history"][1]["is_active"] == false);
  }

  TEST_CASE("cancelling entities of a live encounter leaves the episode alone") {
    packages f;
    REQUIRE(f.create().result.status_code == 200);
    auto content = package_content();
    content["encounter"]["cancellation_reason"] = cancellation_reason();
    content["encounter"]["explanatory_letter"] = "wrong values";
    content["observations"][0]["status"] = "entered_in_error";
    content["allergy_intolerances"][0]["verification_status"] = "entered_in_error";
    auto e = f.cancel(content);
    REQUIRE(e.result.status_code == 200);
    CHECK(f.stored(kind::encounter, encounter_id)["status"] == "finished");
    CHECK(f.stored(kind::encounter, encounter_id)["explanatory_letter"] == "wrong values");
    CHECK(f.stored(kind::observation, observation_id)["status"] == "entered_in_error");
    CHECK(f.stored(kind::allergy_intolerance, allergy_id)["verification_status"] ==
          "entered_in_error");
    CHECK(std::none_of(e.writes.begin(), e.writes.end(),
                       [](auto& w) { return w.k == kind::episode; }));
    CHECK(f.stored(kind::episode, episode_id)["current_diagnoses"].size() == 1);
  }

  TEST_CASE("signed data and schema: 422") {
    packages f;
    f.create();
    auto bad = f.run(job_type::package_cancel, {{"signed_data", "%%%"}});
    CHECK(bad.result.response["invalid"][0]["entry"] == "$.signed_data");
    auto content = cancel_content();
    content["encounter"].erase("cancellation_reason");
    auto schema = f.cancel(content);
    REQUIRE(schema.result.status_code == 422);
    CHECK(schema.result.response["invalid"][0]["entry"] == "$.encounter.cancellation_reason");
  }

  TEST_CASE("404s: patient, encounter, the encounter's episode") {
    packages f;
    auto missing = f.cancel();
    CHECK(missing.result.status_code == 404);
    CHECK(missing.result.response == "Encounter not found");

    auto orphan = encounter_doc();
    orphan["episode"] = ref("episode", "b0000000-0000-4000-8000-000000000003");
    f.v.put(kind::encounter, patient, orphan);
    auto no_episode = f.cancel();
    CHECK(no_episode.result.status_code == 404);
    CHECK(no_episode.result.response == "Encounter's episode not found");

    f.v.persons.clear();
    auto no_patient = f.cancel();
    CHECK(no_patient.result.status_code == 404);
    CHECK(no_patient.result.response == "Patient not found");
  }

  TEST_CASE("the episode must be managed by the client's active legal entity: 422") {
    packages f;
    f.create();
    CHECK(invalid_at(f.run(job_type::package_cancel, signed_body(cancel_content()), other_clinic),
                     "$.managing_organization.identifier.value") ==
          "Managing_organization does not correspond to user's legal_entity");
    f.v.add_legal_entity(clinic, "CLOSED");
    CHECK(invalid_at(f.cancel(), "$.managing_organization.identifier.value") ==
          "LegalEntity is not active");
  }

  TEST_CASE("409s in the reference's order") {
    packages f;
    f.create();
    auto nothing = cancel_content();
    nothing["encounter"]["status"] = "finished";
    CHECK(conflict_of(f.cancel(nothing)) ==
          "At least one entity should have status \"entered_in_error\"");

    // Content that differs and cancels a condition the live encounter diagnoses: the
    // difference is reported first.
    auto content = package_content();
    content["encounter"]["cancellation_reason"] = cancellation_reason();
    content["encounter"]["explanatory_letter"] = "x";
    content["conditions"][0]["verification_status"] = "entered_in_error";
    auto changed = content;
    changed["encounter"]["actions"][0]["coding"][0]["code"] = "A99";
    CHECK(conflict_of(f.cancel(changed)) ==
          "Submitted signed content does not correspond to previously created content: "
          "$.encounter.actions[0].coding[0].code");
    CHECK(conflict_of(f.cancel(content)) ==
          "The condition can not be canceled while encounter is not canceled");

    // A condition of another encounter (or none) does not correspond.
    auto foreign = cancel_content();
    foreign["conditions"][0] = condition_doc("b0000000-0000-4000-8000-000000000005");
    CHECK(conflict_of(f.cancel(foreign)) ==
          "Submitted signed content does not correspond to previously created content: "
          "$.conditions[0]");

    auto only_observation = package_content();
    only_observation["encounter"]["cancellation_reason"] = cancellation_reason();
    only_observation["encounter"]["explanatory_letter"] = "x";
    only_observation["observations"][0]["status"] = "entered_in_error";
    REQUIRE(f.cancel(only_observation).result.status_code == 200);
    CHECK(conflict_of(f.cancel()) ==
          "Invalid transition for observation - already entered_in_error");

    packages g;
    g.create();
    REQUIRE(g.cancel().result.status_code == 200);
    CHECK(conflict_of(g.cancel()) == "Invalid transition for encounter - already entered_in_error");
  }

  TEST_CASE("statuses are not compared") {
    packages f;
    f.create();
    auto content = cancel_content();
    content["conditions"][0]["clinical_status"] = "resolved";
    content["immunizations"][0]["status"] = "entered_in_error";
    CHECK(f.cancel(content).result.status_code == 200);
    CHECK(f.stored(kind::immunization, immunization_id)["status"] == "entered_in_error");
    CHECK(f.stored(kind::condition, condition_id)["clinical_status"] == "active");
  }

  TEST_CASE("content comparison: the first differing path, statuses and display values aside") {
    json stored = {{"id", "1"},
                   {"status", "finished"},
                   {"inserted_at", "2019-06-10T12:00:00.000000Z"},
                   {"performer", {{"identifier", {{"value", "d"}}}, {"display_value", "Dr. X"}}},
                   {"codes", json::array({{{"code", "a"}, {"display", "A"}}, {{"code", "b"}}})}};
    json submitted = {{"id", "1"},
                      {"status", "entered_in_error"},
                      {"explanatory_letter", "why"},
                      {"cancellation_reason", {{"coding", json::array()}}},
                      {"performer", {{"identifier", {{"value", "d"}}}}},
                      {"codes", json::array({{{"code", "a"}}, {{"code", "b"}}})}};
    CHECK_FALSE(me::first_difference(submitted, stored, "$.encounter"));
    submitted["codes"][1]["code"] = "c";
    CHECK(me::first_difference(submitted, stored, "$.encounter") == "$.encounter.codes[1].code");
    submitted["codes"].erase(1);
    CHECK(me::first_difference(submitted, stored, "$.encounter") == "$.encounter.codes[1]");
    submitted = stored;
    submitted.erase("performer");
    CHECK(me::first_difference(submitted, stored, "$.encounter") == "$.encounter.performer");
    CHECK(me::first_difference(stored, nullptr, "$.conditions[2]") == "$.conditions[2]");
    CHECK_FALSE(me::first_difference(json{{"value", 1}}, json{{"value", 1.0}}, "$"));
  }
}

TEST_SUITE("medical_events packages: diagnostic report package") {
  TEST_CASE("create writes the report and its observations") {
    packages f;
    auto e = f.create_report();
    REQUIRE(e.result.status_code == 200);
    CHECK(link_entities(e) == std::vector<std::string>{"diagnostic_report", "observation"});
    CHECK(e.result.response["links"][0]["href"] ==
          "/api/patients/" + patient + "/diagnostic_reports/" + report_id);
    REQUIRE(e.writes.size() == 2);
    auto report = f.stored(kind::diagnostic_report, report_id);
    CHECK(report["status"] == "final");
    CHECK(report["inserted_by"] == user);
    CHECK(f.stored(kind::observation, observation_id)["diagnostic_report"] ==
          ref("diagnostic_report", report_id));
    CHECK(e.changes[0].references_added ==
          std::vector<std::string>{"employee/" + doctor, "legal_entity/" + clinic});
    CHECK(e.changes[1].references_added ==
          std::vector<std::string>{"diagnostic_report/" + report_id});
  }

  TEST_CASE("create errors: content, performer, observations, organization, existing report") {
    packages f;
    auto bad = f.run(job_type::diagnostic_report_package_create, {{"signed_data", "%%%"}});
    CHECK(bad.result.response["invalid"][0]["entry"] == "$.signed_data");
    auto content = report_package_content();
    content["diagnostic_report"].erase("managing_organization");
    CHECK(f.create_report(content).result.response["invalid"][0]["entry"] ==
          "$.diagnostic_report.managing_organization");
    content = report_package_content();
    content["diagnostic_report"]["performer"]["reference"] = by_doctor();
    CHECK(invalid_at(f.create_report(content), "$.diagnostic_report.performer.text") ==
          "Only one of the parameters must be present");

    f.v.add_employee(doctor, other_clinic, user);
    CHECK(conflict_of(f.create_report()) == "Performer does not belong to current legal entity");
    f.v.add_employee(doctor, clinic, "someone-else");
    CHECK(conflict_of(f.create_report()) == "Employee is not performer of encounter");
    f.v.add_employee(doctor, clinic, user);

    content = report_package_content();
    content["observations"][0]["diagnostic_report"] =
        ref("diagnostic_report", "b0000000-0000-4000-8000-000000000006");
    CHECK(invalid_at(f.create_report(content),
                     "$.observations[0].diagnostic_report.identifier.value") ==
          "Submitted diagnostic report is not allowed for the observation");

    f.v.put(kind::observation, "another-patient", {{"id", observation_id}});
    CHECK(invalid_at(f.create_report(), "$.observations[0].id") ==
          "Observation with id '" + observation_id + "' already exists");

    packages g;
    content = report_package_content();
    content["diagnostic_report"]["managing_organization"] = ref("legal_entity", other_clinic);
    CHECK(invalid_at(g.create_report(content),
                     "$.diagnostic_report.managing_organization.identifier.value") ==
          "Managing_organization does not correspond to user's legal_entity");
    g.v.put(kind::diagnostic_report, patient, {{"id", report_id}});
    CHECK(invalid_at(g.create_report(), "$.diagnostic_report.id") ==
          "Diagnostic report with id '" + report_id + "' already exists");
  }

  TEST_CASE("cancel marks the report and the listed observations entered_in_error") {
    packages f;
    REQUIRE(f.create_report().result.status_code == 200);
    auto content = report_cancel_content();
    content["observations"][0]["status"] = "entered_in_error";
    auto e = f.cancel_report(content);
    REQUIRE(e.result.status_code == 200);
    CHECK(e.result.response == json::object());
    auto report = f.stored(kind::diagnostic_report, report_id);
    CHECK(report["status"] == "entered_in_error");
    CHECK(report["cancellation_reason"] == cancellation_reason());
    CHECK(report["explanatory_letter"] == "wrong patient");
    CHECK(f.stored(kind::observation, observation_id)["status"] == "entered_in_error");
    REQUIRE(e.changes.size() == 2);
    CHECK(e.changes[0].change == me::change_kind::updated);
  }

  TEST_CASE("cancel errors") {
    packages f;
    auto bad = f.run(job_type::diagnostic_report_package_cancel, {{"signed_data", "%%%"}});
    CHECK(bad.result.response["invalid"][0]["entry"] == "$.signed_data");
    auto content = report_cancel_content();
    content["diagnostic_report"].erase("explanatory_letter");
    CHECK(f.cancel_report(content).result.response["invalid"][0]["entry"] ==
          "$.diagnostic_report.explanatory_letter");

    auto missing = f.cancel_report();
    CHECK(missing.result.status_code == 404);
    CHECK(missing.result.response == "Diagnostic report not found");

    REQUIRE(f.create_report().result.status_code == 200);
    CHECK(invalid_at(f.run(job_type::diagnostic_report_package_cancel,
                           signed_body(report_cancel_content()), other_clinic),
                     "$.diagnostic_report.managing_organization.identifier.value") ==
          "Managing_organization does not correspond to user's legal_entity");
    auto nothing = report_cancel_content();
    nothing["diagnostic_report"]["status"] = "final";
    CHECK(conflict_of(f.cancel_report(nothing)) ==
          "At least one entity should have status \"entered_in_error\"");
    auto changed = report_cancel_content();
    changed["diagnostic_report"]["conclusion"] = "added later";
    CHECK(conflict_of(f.cancel_report(changed)) ==
          "Submitted signed content does not correspond to previously created content: "
          "$.diagnostic_report.conclusion");

    auto observation_only = report_package_content();
    observation_only["diagnostic_report"]["cancellation_reason"] = cancellation_reason();
    observation_only["diagnostic_report"]["explanatory_letter"] = "x";
    observation_only["observations"][0]["status"] = "entered_in_error";
    REQUIRE(f.cancel_report(observation_only).result.status_code == 200);
    CHECK(conflict_of(f.cancel_report()) ==
          "Invalid transition for observation - already entered_in_error");

    packages g;
    g.create_report();
    REQUIRE(g.cancel_report().result.status_code == 200);
    CHECK(conflict_of(g.cancel_report()) ==
          "Invalid transition for diagnostic_report - already entered_in_error");

    g.v.persons.clear();
    auto no_patient = g.cancel_report();
    CHECK(no_patient.result.status_code == 404);
    CHECK(no_patient.result.response == "Patient not found");
  }
}
