// Engagements and FindContent as JSON: field names, validation, identity, matching.
#include "flows/aggregation/agp_test_data.hpp"

#include <doctest/doctest.h>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
using json = nlohmann::json;

json full_engagement() {
  return {{"registeredResidentIdentification", agp::tc1},
          {"serviceDomain", agp::domain},
          {"categorization", "und-kkm-ure"},
          {"logicalAddress", "HSA-ID-4"},
          {"businessObjectInstanceIdentifier", "1002"},
          {"clinicalProcessInterestId", "NA"},
          {"mostRecentContent", "20240305102030"},
          {"sourceSystem", "HSA-ID-4"},
          {"creationTime", "20240101000000"},
          {"updateTime", "20240229235959"},
          {"dataController", "2321000016"},
          {"owner", "HSA-ID-OWNER"}};
}

std::string error_of(const json& j) {
  auto r = ag::engagement_from_json(j);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 400);
  return r.err().message;
}

}  // namespace

TEST_CASE("engagement: every field round-trips with the XSD's element names") {
  auto r = ag::engagement_from_json(full_engagement());
  REQUIRE(r.ok());
  const auto& e = r.value();
  CHECK(e.registered_resident_identification == agp::tc1);
  CHECK(e.service_domain == agp::domain);
  CHECK(e.categorization == "und-kkm-ure");
  CHECK(e.logical_address == "HSA-ID-4");
  CHECK(e.business_object_instance_identifier == "1002");
  CHECK(e.clinical_process_interest_id == "NA");
  CHECK(e.most_recent_content == "20240305102030");
  CHECK(e.source_system == "HSA-ID-4");
  CHECK(e.creation_time == "20240101000000");
  CHECK(e.update_time == "20240229235959");
  CHECK(e.data_controller == "2321000016");
  CHECK(e.owner == "HSA-ID-OWNER");
  CHECK(ag::to_json(e) == full_engagement());
}

TEST_CASE("engagement: optional fields may be absent or null and are not written back") {
  json j = full_engagement();
  j.erase("mostRecentContent");
  j.erase("creationTime");
  j["updateTime"] = nullptr;
  j.erase("owner");
  j["somethingElse"] = 1;  // like the XSD's xs:any
  auto r = ag::engagement_from_json(j);
  REQUIRE(r.ok());
  CHECK_FALSE(r->most_recent_content);
  CHECK_FALSE(r->creation_time);
  CHECK_FALSE(r->update_time);
  CHECK_FALSE(r->owner);
  json back = ag::to_json(r.value());
  CHECK(back.size() == 8);
  CHECK_FALSE(back.contains("updateTime"));
  CHECK_FALSE(back.contains("somethingElse"));
}

TEST_CASE("engagement: required fields") {
  for (std::string field : {"registeredResidentIdentification", "serviceDomain", "categorization",
                            "logicalAddress", "businessObjectInstanceIdentifier",
                            "clinicalProcessInterestId", "sourceSystem", "dataController"}) {
    CAPTURE(field);
    json j = full_engagement();
    j.erase(field);
    CHECK(error_of(j) == std::string("engagement.") + field + " is required");
    j[field] = nullptr;
    CHECK(error_of(j) == std::string("engagement.") + field + " is required");
    j[field] = 42;
    CHECK(error_of(j) == std::string("engagement.") + field + " must be a string");
  }
  CHECK(error_of(json::array()) == "engagement must be a JSON object");
}

TEST_CASE("engagement: what is matched on and addressed to must not be empty") {
  for (const char* field : {"serviceDomain", "logicalAddress", "sourceSystem"}) {
    json j = full_engagement();
    j[field] = "";
    CHECK(error_of(j) == std::string("engagement.") + field + " must not be empty");
  }
  // Other strings may be empty, as the XSD allows.
  json j = full_engagement();
  j["categorization"] = "";
  j["businessObjectInstanceIdentifier"] = "";
  j["clinicalProcessInterestId"] = "";
  j["dataController"] = "";
  CHECK(ag::engagement_from_json(j).ok());
}

TEST_CASE("engagement: registeredResidentIdentification pattern") {
  const std::string msg =
      "engagement.registeredResidentIdentification must match ^[0-9]{8}[0-9pPtTfF][0-9]{3}$";
  for (const char* good : {"121212121212", "19121212T123", "19121212p123", "19121212F000"}) {
    json j = full_engagement();
    j["registeredResidentIdentification"] = good;
    CHECK_MESSAGE(ag::engagement_from_json(j).ok(), good);
  }
  for (std::string bad : {"12121212121", "1212121212123", "1912121X1234", "19121212X123",
                          "191212121-12", "", "EI:INV_ID"}) {
    CAPTURE(bad);
    json j = full_engagement();
    j["registeredResidentIdentification"] = bad;
    CHECK(error_of(j) == msg);
  }
}

TEST_CASE("engagement: timestamps are yyyyMMddHHmmss") {
  for (std::string field : {"mostRecentContent", "creationTime", "updateTime"}) {
    const std::string msg =
        std::string("engagement.") + field + " must be a timestamp yyyyMMddHHmmss (14 digits)";
    for (std::string bad : {"2024030510203", "202403051020300", "2024-03-05T10:20",
                            "20241305102030", "20240005102030", "20240332102030", "20240305242030",
                            "20240305106030", "20240305102060", "02240305102030"}) {
      CAPTURE(field);
      CAPTURE(bad);
      json j = full_engagement();
      j[field] = bad;
      CHECK(error_of(j) == msg);
    }
    json j = full_engagement();
    j[field] = 20240305102030;
    CHECK(error_of(j) == std::string("engagement.") + field + " must be a string");
  }
  json j = full_engagement();
  j["mostRecentContent"] = "19991231235959";
  CHECK(ag::engagement_from_json(j).ok());
}

TEST_CASE("identity_key: the index's identity fields only") {
  auto base = ag::engagement_from_json(full_engagement()).value();
  auto same = base;
  same.most_recent_content = "20250101000000";
  same.creation_time.reset();
  same.update_time = "20250101000000";
  same.owner.reset();
  CHECK(ag::identity_key(base) == ag::identity_key(same));
  auto changed = [&](auto mutate) {
    auto e = base;
    mutate(e);
    return ag::identity_key(e) != ag::identity_key(base);
  };
  CHECK(changed([](ag::engagement& e) { e.registered_resident_identification = agp::tc3; }));
  CHECK(changed([](ag::engagement& e) { e.service_domain = "riv:crm:scheduling"; }));
  CHECK(changed([](ag::engagement& e) { e.categorization = "x"; }));
  CHECK(changed([](ag::engagement& e) { e.logical_address = "HSA-ID-5"; }));
  CHECK(changed([](ag::engagement& e) { e.business_object_instance_identifier = "x"; }));
  CHECK(changed([](ag::engagement& e) { e.clinical_process_interest_id = "x"; }));
  CHECK(changed([](ag::engagement& e) { e.source_system = "HSA-ID-5"; }));
  CHECK(changed([](ag::engagement& e) { e.data_controller = "x"; }));
  // Values that contain what a naive separator would be stay distinct.
  auto a = base, b = base;
  a.categorization = "x|y";
  a.logical_address = "z";
  b.categorization = "x";
  b.logical_address = "y|z";
  CHECK(ag::identity_key(a) != ag::identity_key(b));
}

TEST_CASE("find_content: parsing") {
  auto r = ag::find_content_from_json(
      {{"registeredResidentIdentification", agp::tc1}, {"serviceDomain", agp::domain}});
  REQUIRE(r.ok());
  CHECK(r->registered_resident_identification == agp::tc1);
  CHECK(r->service_domain == agp::domain);
  CHECK_FALSE(r->categorization);
  CHECK(ag::to_json(r.value()) ==
        json{{"registeredResidentIdentification", agp::tc1}, {"serviceDomain", agp::domain}});

  r = ag::find_content_from_json({{"registeredResidentIdentification", agp::tc1},
                                  {"serviceDomain", agp::domain},
                                  {"categorization", "und-kkm-ure"}});
  REQUIRE(r.ok());
  CHECK(r->categorization == "und-kkm-ure");
  CHECK(ag::to_json(r.value())["categorization"] == "und-kkm-ure");

  r = ag::find_content_from_json({{"registeredResidentIdentification", agp::tc1},
                                  {"serviceDomain", agp::domain},
                                  {"categorization", ""}});
  REQUIRE(r.ok());
  CHECK_FALSE(r->categorization);
}

TEST_CASE("find_content: errors") {
  auto msg = [](const json& j) {
    auto r = ag::find_content_from_json(j);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 400);
    return r.err().message;
  };
  CHECK(msg(json::array()) == "findContent must be a JSON object");
  CHECK(msg({{"serviceDomain", agp::domain}}) ==
        "findContent.registeredResidentIdentification is required");
  CHECK(msg({{"registeredResidentIdentification", "EI:INV_ID"}, {"serviceDomain", agp::domain}}) ==
        "findContent.registeredResidentIdentification must match "
        "^[0-9]{8}[0-9pPtTfF][0-9]{3}$");
  CHECK(msg({{"registeredResidentIdentification", agp::tc1}}) ==
        "findContent.serviceDomain is required");
  CHECK(msg({{"registeredResidentIdentification", agp::tc1},
             {"serviceDomain", agp::domain},
             {"categorization", 3}}) == "findContent.categorization must be a string");
  CHECK(msg({{"registeredResidentIdentification", agp::tc1},
             {"serviceDomain", agp::domain},
             {"sourceSystem", "HSA-ID-4"}}) ==
        "findContent.sourceSystem is not supported (the index is searched by "
        "registeredResidentIdentification, serviceDomain and categorization)");
}

TEST_CASE("find_content: matching") {
  auto e = agp::engagement_of(agp::tc9, "HSA-ID-5", "cat2");
  ag::find_content f{agp::tc9, agp::domain, std::nullopt};
  CHECK(ag::matches(f, e));
  f.categorization = "cat2";
  CHECK(ag::matches(f, e));
  f.categorization = "cat3";
  CHECK_FALSE(ag::matches(f, e));
  f.categorization = "CAT2";  // the index compares as stored
  CHECK_FALSE(ag::matches(f, e));
  CHECK_FALSE(ag::matches({agp::tc1, agp::domain, std::nullopt}, e));
  CHECK_FALSE(ag::matches({agp::tc9, "riv:crm:scheduling", std::nullopt}, e));
}
