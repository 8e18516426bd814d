// Resource events (reference: /work/shared/reference/zmed_and_ehealth_events.md Part B, seed
// 003): each message shape against the reference text, the topics of Part B.4, the headers, and
// the mapping's checks.
#include "app/resource_events.hpp"
#include "flows/medical_events/domain.hpp"
#include "flows/resource_events/events.hpp"
#include "flows/resource_events/service.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

namespace re = medflow::flows::resource_events;
using re::json;

namespace {

// The IG's CarePlan and ServiceRequest (Part B.4, B.5) in medflowd's document shapes.
const char* test_mapping = R"({
  "resource_types": {"patient": "Patient", "careplan": "CarePlan", "service_request": "ServiceRequest",
                     "employee": "PractitionerRole", "episode": "EpisodeOfCare"},
  "resources": {
    "careplan": {
      "profile": "ehealth-careplan",
      "elements": {"subject": {"paths": ["subject"], "target": "patient"},
                   "careteam": {"paths": ["care_team[]"]}},
      "contexts": {"status": {"path": "status"}}
    },
    "service_request": {
      "profile": "ehealth-servicerequest",
      "aliases": ["ehealth-procedurerequest"]
    }
  }
})";

re::mapping mapping_of(const char* text, std::vector<std::string> kinds = {"careplan",
                                                                           "service_request"}) {
  auto m = re::parse_mapping(json::parse(text), kinds);
  REQUIRE_MESSAGE(m.ok(), m.err().message);
  return std::move(*m);
}

std::string parse_error(const json& doc, std::vector<std::string> kinds = {"careplan"}) {
  auto m = re::parse_mapping(doc, kinds);
  REQUIRE_FALSE(m.ok());
  return m.err().message;
}

// The headers of a record as an object (each name once).
json headers_of(const medflow::bus::message& m) {
  json h = json::object();
  for (auto& [k, v] : m.hdrs) {
    CHECK_MESSAGE(!h.contains(k), "header " << k << " twice");
    h[k] = v;
  }
  return h;
}

json ref(const std::string& kind, const std::string& id) {
  return {{"identifier",
           {{"type", {{"coding", json::array({{{"system", "eHealth/resources"}, {"code", kind}}})}}},
            {"value", id}}}};
}

const re::settings ig{"http://careplan.inttest.ehealth.sundhed.dk/fhir"};

}  // namespace

TEST_CASE("EHealthSimpleEvent created: the seed's ServiceRequest example, body and properties") {
  auto m = mapping_of(test_mapping);
  json after = {{"id", "68"}, {"status", "active"}};
  re::change c{"service_request", "68", "10907", re::change_type::created, 0, 1, nullptr, &after};
  auto msgs = re::build_events(m, ig, c);
  REQUIRE(msgs.size() == 2);
  // Body exactly as the seed's example (field order as documented).
  CHECK(msgs[0].topic == "ehealth-servicerequest");
  CHECK(msgs[0].value ==
        R"({"messageType":"EHealthSimpleEvent","messageVersion":"1.0","eventType":"created",)"
        R"("resourceReference":"http://careplan.inttest.ehealth.sundhed.dk/fhir/ServiceRequest/68",)"
        R"("resourceVersion":"1"})");
  // messageversion = 1.0, messagetype = EHealthSimpleEvent, resourceprofile =
  // ehealth-servicerequest, eventtype = created, messageclass = com.systematic...; camelCase.
  CHECK(headers_of(msgs[0]) ==
        json{{"eventType", "created"},
             {"messageType", "EHealthSimpleEvent"},
             {"messageVersion", "1.0"},
             {"resourceReference",
              "http://careplan.inttest.ehealth.sundhed.dk/fhir/ServiceRequest/68"},
             {"messageClass", "com.systematic.ehealth.event.event.EHealthSimpleEvent"},
             {"patientReference", "http://careplan.inttest.ehealth.sundhed.dk/fhir/Patient/10907"},
             {"resourceProfile", "ehealth-servicerequest"}});
  CHECK(msgs[0].key == msgs[0].hdrs[3].second);  // key = resourceReference
  // B.5: the same event on ehealth-procedurerequest, resourceProfile=ehealth-procedurerequest,
  // the resource URL still .../ServiceRequest/<id>.
  CHECK(msgs[1].topic == "ehealth-procedurerequest");
  CHECK(msgs[1].value == msgs[0].value);
  CHECK(headers_of(msgs[1])["resourceProfile"] == "ehealth-procedurerequest");
  CHECK(headers_of(msgs[1])["resourceReference"] == headers_of(msgs[0])["resourceReference"]);
}

TEST_CASE("EHealthSimpleEvent: resourceVersion after the change, before it for deleted") {
  auto m = mapping_of(test_mapping);
  json before = {{"id", "7"}, {"status", "active"}};
  json after = {{"id", "7"}, {"status", "active"}, {"note", "x"}};
  auto updated = re::build_events(
      m, ig, {"service_request", "7", "p", re::change_type::updated, 3, 4, &before, &after});
  REQUIRE(updated.size() == 2);
  CHECK(json::parse(updated[0].value)["eventType"] == "updated");
  CHECK(json::parse(updated[0].value)["resourceVersion"] == "4");
  CHECK(headers_of(updated[0])["eventType"] == "updated");
  auto deleted = re::build_events(
      m, ig, {"service_request", "7", "p", re::change_type::deleted, 4, 5, &before, nullptr});
  REQUIRE(deleted.size() == 2);
  CHECK(json::parse(deleted[0].value)["eventType"] == "deleted");
  CHECK(json::parse(deleted[0].value)["resourceVersion"] == "4");
}

TEST_CASE("EHealthReferenceEvent: CarePlan assigned to Patient (reference_added on .subject)") {
  auto m = mapping_of(test_mapping);
  json after = {{"id", "1477"}, {"status", "active"}, {"subject", ref("patient", "5508")}};
  auto msgs = re::build_events(
      m, ig, {"careplan", "1477", "5508", re::change_type::created, 0, 1, nullptr, &after});
  // The simple event on the profile, then the reference event on the element's topic; a
  // created resource has no context event.
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].topic == "ehealth-careplan");
  CHECK(msgs[1].topic == "ehealth-careplan.subject");
  CHECK(msgs[1].value ==
        R"({"messageType":"EHealthReferenceEvent","messageVersion":"1.0","eventType":"reference_added",)"
        R"("resourceReference":"http://careplan.inttest.ehealth.sundhed.dk/fhir/CarePlan/1477",)"
        R"("resourceVersion":"1","resourceElement":"subject",)"
        R"("references":["http://careplan.inttest.ehealth.sundhed.dk/fhir/Patient/5508"]})");
  auto h = headers_of(msgs[1]);
  // resourceProfile is the base profile on the element topic.
  CHECK(h["resourceProfile"] == "ehealth-careplan");
  CHECK(h["resourceElement"] == "subject");
  CHECK(h["messageType"] == "EHealthReferenceEvent");
  CHECK(h["eventType"] == "reference_added");
  CHECK(h["messageClass"] == "com.systematic.ehealth.event.event.EHealthReferenceEvent");
  CHECK_FALSE(h.contains("context"));
}

TEST_CASE("EHealthReferenceEvent: one message for the added and one for the removed references") {
  auto m = mapping_of(test_mapping);
  json before = {{"id", "9"}, {"care_team", json::array({ref("employee", "a"), ref("employee", "b")})}};
  json after = {{"id", "9"}, {"care_team", json::array({ref("employee", "b"), ref("employee", "c"),
                                                         ref("episode", "e1")})}};
  auto msgs =
      re::build_events(m, ig, {"careplan", "9", "p", re::change_type::updated, 2, 3, &before, &after});
  REQUIRE(msgs.size() == 3);
  auto added = json::parse(msgs[1].value);
  auto removed = json::parse(msgs[2].value);
  CHECK(msgs[1].topic == "ehealth-careplan.careteam");
  CHECK(msgs[2].topic == "ehealth-careplan.careteam");
  CHECK(added["eventType"] == "reference_added");
  // Without a target the reference's own type names the resource type.
  CHECK(added["references"] ==
        json::array({"http://careplan.inttest.ehealth.sundhed.dk/fhir/PractitionerRole/c",
                     "http://careplan.inttest.ehealth.sundhed.dk/fhir/EpisodeOfCare/e1"}));
  CHECK(removed["eventType"] == "reference_removed");
  CHECK(removed["references"] ==
        json::array({"http://careplan.inttest.ehealth.sundhed.dk/fhir/PractitionerRole/a"}));
  CHECK(added["resourceVersion"] == "3");
  CHECK(removed["resourceVersion"] == "3");
  CHECK(headers_of(msgs[2])["eventType"] == "reference_removed");
  // Nothing changed in the element: no reference event.
  auto same = re::build_events(
      m, ig, {"careplan", "9", "p", re::change_type::updated, 3, 4, &after, &after});
  CHECK(same.size() == 1);
  // A deleted resource: only the simple event.
  auto gone = re::build_events(
      m, ig, {"careplan", "9", "p", re::change_type::deleted, 4, 5, &after, nullptr});
  CHECK(gone.size() == 1);
}

TEST_CASE("EHealthContextEvent: CarePlan status updated (context status)") {
  auto m = mapping_of(test_mapping);
  json before = {{"id", "536"}, {"status", "active"}};
  json after = {{"id", "536"}, {"status", "completed"}};
  auto msgs = re::build_events(
      m, ig, {"careplan", "536", "5508", re::change_type::updated, 1, 2, &before, &after});
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[1].topic == "ehealth-careplan.status");
  CHECK(msgs[1].value ==
        R"({"messageType":"EHealthContextEvent","messageVersion":"1.0","eventType":"updated",)"
        R"("resourceReference":"http://careplan.inttest.ehealth.sundhed.dk/fhir/CarePlan/536",)"
        R"("resourceVersion":"2","context":"status","status":""})");
  auto h = headers_of(msgs[1]);
  CHECK(h["context"] == "status");
  CHECK(h["resourceProfile"] == "ehealth-careplan");
  CHECK(h["messageType"] == "EHealthContextEvent");
  CHECK(h["messageClass"] == "com.systematic.ehealth.event.event.EHealthContextEvent");
  CHECK(h["patientReference"] == "http://careplan.inttest.ehealth.sundhed.dk/fhir/Patient/5508");
  CHECK_FALSE(h.contains("resourceElement"));
  // The same status: no context event.
  auto same = re::build_events(
      m, ig, {"careplan", "536", "5508", re::change_type::updated, 2, 3, &after, &after});
  CHECK(same.size() == 1);
}

TEST_CASE("every body value is a string; patientReference only for a patient's resource") {
  auto m = mapping_of(test_mapping);
  json before = {{"id", "1"}, {"status", "draft"}, {"care_team", json::array()}};
  json after = {{"id", "1"}, {"status", "active"}, {"care_team", json::array({ref("employee", "x")})}};
  auto msgs =
      re::build_events(m, ig, {"careplan", "1", "", re::change_type::updated, 1, 2, &before, &after});
  REQUIRE(msgs.size() == 3);
  for (auto& msg : msgs) {
    auto body = json::parse(msg.value);
    for (auto& [k, v] : body.items()) {
      if (k == "references") {
        for (auto& r : v) CHECK(r.is_string());
      } else {
        CHECK_MESSAGE(v.is_string(), k << " is not a string in " << msg.value);
      }
    }
    CHECK_FALSE(headers_of(msg).contains("patientReference"));
  }
}

TEST_CASE("topics: profile, aliases, <profile>.<element>, <profile>.<context>") {
  auto m = mapping_of(test_mapping);
  CHECK(re::topics(m) == std::vector<std::string>{"ehealth-careplan", "ehealth-careplan.careteam",
                                                  "ehealth-careplan.status",
                                                  "ehealth-careplan.subject",
                                                  "ehealth-procedurerequest",
                                                  "ehealth-servicerequest"});
}

TEST_CASE("the mapping is checked: the error names the place") {
  auto base = json::parse(test_mapping);
  base["resources"].erase("service_request");
  CHECK(re::parse_mapping(base, {"careplan"}).ok());

  auto d = base;
  d["resources"]["careplan"]["colour"] = "red";
  CHECK(parse_error(d) == "resources.careplan.colour: unknown field");
  d = base;
  d["resources"]["careplan"].erase("profile");
  CHECK(parse_error(d) == "resources.careplan.profile: missing");
  d = base;
  d["resources"]["careplan"]["profile"] = "ehealth careplan";
  CHECK(parse_error(d) == "resources.careplan.profile: \"ehealth careplan\" is not a valid topic "
                          "name ([a-zA-Z0-9._-], at most 249)");
  d = base;
  d["resources"]["careplan"]["profile"] = 7;
  CHECK(parse_error(d) == "resources.careplan.profile: expected a string");
  d = base;
  d["resources"]["careplam"] = d["resources"]["careplan"];
  CHECK(parse_error(d) == "resources.careplam: unknown resource kind (medflowd records: careplan)");
  CHECK(parse_error(base, {"careplan", "visit"}) ==
        "resources: kind \"visit\" is not mapped (every change must have its event)");
  d = base;
  d["resources"]["careplan"]["elements"]["owner"] = {{"paths", json::array({"owner"})}, {"target", "team"}};
  CHECK(parse_error(d) ==
        "resources.careplan.elements.owner.target: \"team\" has no resource type in resource_types");
  d = base;
  d["resources"]["careplan"]["elements"]["status"] = {{"paths", json::array({"status"})}};
  CHECK(parse_error(d) ==
        "resources.careplan.contexts.status: topic \"ehealth-careplan.status\" is used twice");
  d = base;
  d["resources"]["careplan"]["elements"]["subject"]["paths"] = json::array({"sub..ject"});
  CHECK(parse_error(d).rfind("resources.careplan.elements.subject.paths[0]: \"sub..ject\" is not "
                             "a path",
                             0) == 0);
  d = base;
  d["resources"]["careplan"]["elements"]["subject"]["paths"] = json::array();
  CHECK(parse_error(d) ==
        "resources.careplan.elements.subject.paths: expected a non-empty array of paths");
  d = base;
  d["resource_types"].erase("patient");
  CHECK(parse_error(d) ==
        "resource_types.patient: missing (patientReference is <base_url>/<its type>/<id>)");
  d = base;
  d["resource_types"]["careplan"] = "Care/Plan";
  CHECK(parse_error(d) ==
        "resource_types.careplan: \"Care/Plan\" is not a resource type (letters and digits)");
  CHECK(parse_error(json::array()) == "events: expected an object");
  // Comments are keys starting with '_'.
  d = base;
  d["_doc"] = "anything";
  d["resources"]["careplan"]["_doc"] = "anything";
  CHECK(re::parse_mapping(d, {"careplan"}).ok());
  // Limits: entries and name lengths.
  re::mapping_limits small;
  small.max_rules = 5;
  auto many = re::parse_mapping(base, {"careplan"}, small);
  REQUIRE_FALSE(many.ok());
  CHECK(many.err().message.find("more than 5 entries in the mapping") != std::string::npos);
  d = base;
  d["resources"]["careplan"]["profile"] = std::string(201, 'a');
  CHECK(parse_error(d) == "resources.careplan.profile: longer than 200 bytes");
}

TEST_CASE("the mapping file: size, depth, JSON and mapping errors name the file") {
  medflow::test::temp_dir dir;
  auto write = [&](const std::string& text) {
    auto p = dir.file("events.json");
    std::ofstream(p) << text;
    return p;
  };
  std::vector<std::string> kinds = {"careplan", "service_request"};
  auto error_of = [&](const std::string& path, re::file_limits limits = {}) -> std::string {
    try {
      re::load_mapping(path, kinds, limits);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no error";
  };
  auto good = write(test_mapping);
  CHECK(re::load_mapping(good, kinds).resources.size() == 2);
  re::file_limits tiny;
  tiny.max_bytes = 100;
  CHECK(error_of(good, tiny) ==
        good + " is larger than events.config_max_bytes (100 bytes)");
  auto deep = write("{\"resource_types\": " + std::string(100, '[') + std::string(100, ']') + "}");
  CHECK(error_of(deep) == deep + " is nested deeper than events.config_max_depth (32)");
  auto broken = write("{\"resources\": ");
  CHECK(error_of(broken).rfind(broken + " is not valid JSON: ", 0) == 0);
  auto wrong = write(R"({"resource_types": {"patient": "Patient"}, "resources": {}})");
  CHECK(error_of(wrong) ==
        wrong + ": resources: kind \"careplan\" is not mapped (every change must have its event)");
  CHECK(error_of(dir.file("absent.json")).rfind("cannot read the events mapping ", 0) == 0);
}

TEST_CASE("the shipped config/events.json maps every kind the flows publish") {
  // Empty path: the built-in copy of config/events.json.
  auto m = re::load_mapping("", medflow::app::published_kinds());
  CHECK(m.resources.size() == medflow::flows::medical_events::kind_names().size() + 1);
  CHECK(m.resources.at("exam").profile == "zmed-exam");
  CHECK(m.resources.at("exam").resource_type == "ServiceRequest");
  CHECK(m.resources.at("episode").profile == "ehealth-episodeofcare");
  CHECK(m.resources.at("service_request").profile == "ehealth-servicerequest");
  CHECK(m.resources.at("service_request").aliases ==
        std::vector<std::string>{"ehealth-procedurerequest"});
  auto ts = re::topics(m);
  for (auto t : {"ehealth-episodeofcare", "ehealth-episodeofcare.status",
                 "ehealth-episodeofcare.team", "ehealth-servicerequest",
                 "ehealth-procedurerequest", "ehealth-servicerequest.status", "zmed-exam",
                 "zmed-exam.status", "zmed-exam.subject"})
    CHECK_MESSAGE(std::find(ts.begin(), ts.end(), t) != ts.end(), t);
  // The file in the repository is the one built in.
  std::ifstream in(std::string(MEDFLOW_SOURCE_DIR) + "/config/events.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == std::string(re::shipped_mapping()));
}
