// Every file shipped under config/aggregation parses, and says what agp.md §6 says.
#include "flows/aggregation/agp_test_data.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path dir = fs::path(MEDFLOW_SOURCE_DIR) / "config" / "aggregation";

json read(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE_MESSAGE(in.good(), p.string());
  return json::parse(in);
}

std::map<std::string, ag::service_definition> services() {
  std::map<std::string, ag::service_definition> out;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".json" || f.path().filename() == "tak.json") continue;
    auto s = ag::parse_service(read(f.path()), ag::timeouts{}, ag::cache_settings{});
    const std::string why = f.path().string() + ": " + (s.ok() ? "" : s.err().message);
    REQUIRE_MESSAGE(s.ok(), why);
    CHECK(s->name == f.path().stem().string());  // the file is named after its service
    out.emplace(s->name, s.value());
  }
  return out;
}

}  // namespace

TEST_CASE("config/aggregation: every service file parses") {
  auto all = services();
  REQUIRE(all.size() == 3);

  const auto& schedule = all.at("GetAggregatedSubjectOfCareSchedule");
  CHECK(schedule.service_domain == "riv:crm:scheduling");
  CHECK(schedule.categorizations.empty());
  CHECK(schedule.contract == "urn:riv:crm:scheduling:GetSubjectOfCareScheduleResponder:1");
  CHECK(schedule.patient_id_pointer == "/subjectOfCare");
  CHECK(schedule.source_system_pointer.empty());
  CHECK(schedule.dedupe == ag::dedupe_on::logical_address);
  CHECK(schedule.list_field == "timeslotDetail");
  CHECK_FALSE(schedule.cache.enabled);

  const auto& lab = all.at("GetAggregatedLaboratoryOrderOutcome");
  CHECK(lab.service_domain == "riv:clinicalprocess:healthcond:actoutcome");
  CHECK(lab.categorizations == std::vector<std::string>{"und-kkm-ure"});
  CHECK(lab.contract ==
        "urn:riv:clinicalprocess:healthcond:actoutcome:GetLaboratoryOrderOutcomeResponder:4");
  CHECK(lab.patient_id_pointer == "/patientId/extension");
  CHECK(lab.source_system_pointer == "/sourceSystemHSAId/extension");
  CHECK(lab.dedupe == ag::dedupe_on::source_system);
  CHECK(lab.list_field == "laboratoryOrderOutcome");

  const auto& contacts = all.at("GetAggregatedCareContacts");
  CHECK(contacts.service_domain == "riv:clinicalprocess:logistics:logistics");
  CHECK(contacts.categorizations == std::vector<std::string>{"vko"});
  CHECK(contacts.contract ==
        "urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:3");
  CHECK(contacts.patient_id_pointer == "/patientId/id");
  CHECK(contacts.source_system_pointer == "/sourceSystemHSAId");
  CHECK(contacts.dedupe == ag::dedupe_on::source_system);
  CHECK(contacts.list_field == "careContact");

  // No file pins timeouts: they come from the daemon's configuration.
  for (const auto& [name, s] : all) {
    CAPTURE(name);
    CHECK(s.limits.service_ms == 4000);
    CHECK(s.limits.aggregate_ms == 4500);
    CHECK(s.limits.aggregated_service_ms == 5000);
  }
}

TEST_CASE("config/aggregation/tak.json: the local demo's permissions and routes") {
  auto t = ag::parse_tak(read(dir / "tak.json"));
  const std::string why = t.ok() ? "" : t.err().message;
  REQUIRE_MESSAGE(t.ok(), why);
  auto all = services();
  for (const auto& [name, s] : all) {
    for (int i = 1; i <= 6; ++i) {
      const std::string address = "HSA-ID-" + std::to_string(i);
      CAPTURE(name);
      CAPTURE(address);
      CHECK(t->authorized(agp::sender, s.contract, address));
      REQUIRE(t->route_for(s.contract, address));
      CHECK(t->route_for(s.contract, address)->url == "http://127.0.0.1:9100/" + address);
    }
    CHECK_FALSE(t->authorized(agp::sender, s.contract, "HSA-ID-7"));
    CHECK_FALSE(t->route_for(s.contract, "HSA-ID-7"));
  }
  CHECK(std::any_of(t->permissions.begin(), t->permissions.end(),
                    [](const ag::permission& p) { return p.logical_address == "*"; }));

  // TC1 through the shipped files: three calls to the fake source.
  const auto& lab = all.at("GetAggregatedLaboratoryOrderOutcome");
  auto found = agp::index_for(agp::tc1);
  for (auto& e : found) e.service_domain = lab.service_domain;
  auto l = ag::make_request_list(lab, found, agp::caller_of(agp::sender, agp::original_consumer),
                                 t.value(), agp::own_address, {agp::tc1, std::nullopt});
  REQUIRE(l.calls.size() == 3);
  CHECK(l.calls[0].url == "http://127.0.0.1:9100/HSA-ID-4");
}
