// AgP's own test data (agp-test-core TestDataDefines, FindContentTestData, VagvalsInfoTestData):
// the patients TC1..TC10, their engagements, and the TAK stub's permissions and routes.
#pragma once

#include "flows/aggregation/domain.hpp"

#include <string>
#include <vector>

namespace medflow::test::agp {

namespace ag = medflow::flows::aggregation;

inline const std::string tc1 = "121212121212";   // many hits, no errors
inline const std::string tc2 = "188803099368";   // zero hits
inline const std::string tc3 = "194911172296";   // one hit
inline const std::string tc4 = "198611062384";   // many hits, two on HSA-ID-2
inline const std::string tc6 = "194804032094";   // not in TAK
inline const std::string tc9 = "194800000002";   // three categories
inline const std::string tc10 = "194800000003";  // recursive engagement

inline const std::string own_address = "5565594230";  // agp.logicalAddress's default
inline const std::string sender = "sample-sender-id";
inline const std::string original_consumer = "sample-original-consumer-hsaid";
inline const std::string domain = "riv:clinicalprocess:healthcond:actoutcome";
inline const std::string contract =
    "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:4";

inline std::string url_of(const std::string& address) {
  return "http://127.0.0.1:9100/" + address;
}

// An engagement as FindContentTestData builds them: sourceSystem = logicalAddress.
inline ag::engagement engagement_of(const std::string& patient, const std::string& address,
                                    const std::string& category = "test_category",
                                    const std::string& object_id = "1") {
  ag::engagement e;
  e.registered_resident_identification = patient;
  e.service_domain = domain;
  e.categorization = category;
  e.logical_address = address;
  e.business_object_instance_identifier = object_id;
  e.clinical_process_interest_id = "NA";
  e.source_system = address;
  e.data_controller = "2321000016";
  return e;
}

// The engagement index's content for a patient.
inline std::vector<ag::engagement> index_for(const std::string& patient) {
  std::vector<ag::engagement> out;
  auto add = [&](const std::string& address, const std::string& category = "test_category",
                 const std::string& object_id = "1") {
    out.push_back(engagement_of(patient, address, category, object_id));
  };
  if (patient == tc1) {
    add("HSA-ID-4");
    add("HSA-ID-5");
    add("HSA-ID-6");
  } else if (patient == tc3) {
    add("HSA-ID-1");
    add("HSA-ID-2");
  } else if (patient == tc4) {
    add("HSA-ID-1");
    add("HSA-ID-2", "test_category", "1");
    add("HSA-ID-2", "test_category", "2");
    add("HSA-ID-3");
  } else if (patient == tc6) {
    add("HSA-ID-7");
  } else if (patient == tc9) {
    add("HSA-ID-4", "cat1");
    add("HSA-ID-5", "cat2");
    add("HSA-ID-6", "cat3");
  } else if (patient == tc10) {
    add(own_address);
    add("HSA-ID-5");
  }
  return out;
}

// The TAK stub: the sender has permission and a route for HSA-ID-1..6; the original consumer
// has permissions but no routes of its own (HSA-ID-1, 11, 12, 31, 32); HSA-ID-77 has a route
// and no permission; two entries are on another contract.
inline ag::tak tak_stub() {
  ag::tak t;
  for (int i = 1; i <= 6; ++i) {
    const std::string address = "HSA-ID-" + std::to_string(i);
    t.permissions.push_back({sender, contract, address});
    t.routes.push_back({contract, address, url_of(address)});
  }
  for (const char* address : {"HSA-ID-1", "HSA-ID-11", "HSA-ID-12", "HSA-ID-31", "HSA-ID-32"})
    t.permissions.push_back({original_consumer, contract, address});
  t.routes.push_back({contract, "HSA-ID-77", url_of("HSA-ID-77")});
  t.permissions.push_back({sender, "urn:some:other:contract:1", "HSA-ID-FEL"});
  t.routes.push_back({"urn:some:other:contract:1", "HSA-ID-FEL", url_of("HSA-ID-FEL")});
  return t;
}

inline ag::service_definition lab_service() {
  ag::service_definition s;
  s.name = "GetAggregatedLaboratoryOrderOutcome";
  s.service_domain = domain;
  s.categorizations = {"und-kkm-ure"};
  s.contract = contract;
  s.patient_id_pointer = "/patientId/extension";
  s.source_system_pointer = "/sourceSystemHSAId/extension";
  s.dedupe = ag::dedupe_on::source_system;
  s.list_field = "laboratoryOrderOutcome";
  return s;
}

inline ag::caller caller_of(const std::string& sender_id, const std::string& original) {
  ag::caller c;
  c.sender_id = sender_id;
  c.original_consumer = original;
  c.correlation_id = "corr-1";
  return c;
}

}  // namespace medflow::test::agp
