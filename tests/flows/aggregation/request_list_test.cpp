// A request: mandatory headers, the query, FindContent, and the request list with AgP's test
// patients and TAK stub.
#include "flows/aggregation/agp_test_data.hpp"

#include <doctest/doctest.h>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
using json = nlohmann::json;
using filtered_t = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> addresses(const ag::request_list& l) {
  std::vector<std::string> out;
  for (const auto& c : l.calls) out.push_back(c.logical_address);
  return out;
}

ag::request_list list_for(const std::string& patient, const ag::caller& c,
                          std::optional<std::string> filter = std::nullopt,
                          const ag::service_definition& s = agp::lab_service(),
                          const ag::tak& t = agp::tak_stub()) {
  ag::query q{patient, std::move(filter)};
  return ag::make_request_list(s, agp::index_for(patient), c, t, agp::own_address, q);
}

const ag::caller by_sender = agp::caller_of(agp::sender, agp::original_consumer);

}  // namespace

TEST_CASE("check_headers: every combination, AgP 4.x texts in order") {
  const std::string s = "Mandatory HTTP header x-vp-sender-id is missing\n";
  const std::string o = "Mandatory HTTP header x-rivta-original-serviceconsumer-hsaid is missing\n";
  const std::string c = "Mandatory HTTP header x-skltp-correlation-id is missing\n";
  const std::optional<std::string> set = std::string("v"), unset;
  for (int mask = 0; mask < 8; ++mask) {
    CAPTURE(mask);
    const bool has_s = mask & 1, has_o = mask & 2, has_c = mask & 4;
    auto e = ag::check_headers(has_s ? set : unset, has_o ? set : unset, has_c ? set : unset);
    std::string expected = (has_s ? "" : s) + (has_o ? "" : o) + (has_c ? "" : c);
    if (expected.empty()) {
      CHECK_FALSE(e);
    } else {
      REQUIRE(e);
      CHECK(e->status == 400);
      CHECK(e->message == expected);
    }
  }
  // AgP tests for null only: a header sent empty is there.
  CHECK_FALSE(ag::check_headers(std::string(), std::string(), std::string()));
}

TEST_CASE("read_query: the patient id and the optional source-system filter") {
  auto s = agp::lab_service();
  auto q = ag::read_query(
      s, {{"patientId", {{"root", "1.2.752.129.2.1.3.1"}, {"extension", agp::tc1}}}});
  REQUIRE(q.ok());
  CHECK(q->patient_id == agp::tc1);
  CHECK_FALSE(q->source_system);

  q = ag::read_query(s, {{"patientId", {{"extension", agp::tc4}}},
                         {"sourceSystemHSAId", {{"extension", "HSA-ID-2"}}}});
  REQUIRE(q.ok());
  CHECK(q->source_system == "HSA-ID-2");

  // An empty or null filter is no filter.
  q = ag::read_query(
      s, {{"patientId", {{"extension", agp::tc4}}}, {"sourceSystemHSAId", {{"extension", ""}}}});
  REQUIRE(q.ok());
  CHECK_FALSE(q->source_system);
  q = ag::read_query(s, {{"patientId", {{"extension", agp::tc4}}}, {"sourceSystemHSAId", nullptr}});
  REQUIRE(q.ok());
  CHECK_FALSE(q->source_system);

  // A service without a filter pointer ignores such fields.
  s.source_system_pointer.clear();
  q = ag::read_query(s, {{"patientId", {{"extension", agp::tc4}}},
                         {"sourceSystemHSAId", {{"extension", "HSA-ID-2"}}}});
  REQUIRE(q.ok());
  CHECK_FALSE(q->source_system);
}

TEST_CASE("read_query: errors name the pointer") {
  auto s = agp::lab_service();
  auto msg = [&](const json& request) {
    auto q = ag::read_query(s, request);
    REQUIRE_FALSE(q.ok());
    CHECK(q.err().status == 400);
    return q.err().message;
  };
  CHECK(msg(json::array()) == "the request must be a JSON object");
  CHECK(msg(json::object()) == "the request has no patient id at /patientId/extension");
  CHECK(msg({{"patientId", "121212121212"}}) ==
        "the request has no patient id at /patientId/extension");
  CHECK(msg({{"patientId", json::array({1, 2})}}) ==
        "the request has no patient id at /patientId/extension");
  CHECK(msg({{"patientId", {{"extension", nullptr}}}}) ==
        "the request has no patient id at /patientId/extension");
  CHECK(msg({{"patientId", {{"extension", 121212121212}}}}) ==
        "the patient id at /patientId/extension must be a string");
  CHECK(msg({{"patientId", {{"extension", ""}}}}) ==
        "the patient id at /patientId/extension is empty");
  CHECK(
      msg({{"patientId", {{"extension", agp::tc1}}}, {"sourceSystemHSAId", {{"extension", 2}}}}) ==
      "the source system at /sourceSystemHSAId/extension must be a string");
}

TEST_CASE("find_content_for: the category only when exactly one is configured") {
  auto s = agp::lab_service();
  ag::query q{agp::tc9, std::nullopt};
  auto f = ag::find_content_for(s, q);
  CHECK(f.registered_resident_identification == agp::tc9);
  CHECK(f.service_domain == agp::domain);
  CHECK(f.categorization == "und-kkm-ure");
  s.categorizations.clear();
  CHECK_FALSE(ag::find_content_for(s, q).categorization);
  s.categorizations = {"cat2", "cat3"};
  CHECK_FALSE(ag::find_content_for(s, q).categorization);
}

TEST_CASE("request list: every authorized source, in the index's order, with its route") {
  auto l = list_for(agp::tc1, by_sender);
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-4", "HSA-ID-5", "HSA-ID-6"});
  for (const auto& c : l.calls) {
    CHECK(c.source_system == c.logical_address);
    CHECK(c.url == agp::url_of(c.logical_address));
  }
  CHECK(l.filtered.empty());
  CHECK(list_for(agp::tc2, by_sender).calls.empty());
  CHECK(addresses(list_for(agp::tc3, by_sender)) ==
        std::vector<std::string>{"HSA-ID-1", "HSA-ID-2"});
}

TEST_CASE("request list: TC4's two engagements on HSA-ID-2 give one call") {
  auto l = list_for(agp::tc4, by_sender);
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-1", "HSA-ID-2", "HSA-ID-3"});
  CHECK(l.filtered.empty());
}

TEST_CASE("request list: the source-system filter equals the engagement's logicalAddress") {
  // AgP's CreateRequestListTest: TC4 with HSA-ID-2 -> 1 request; TC1 with HSA-ID-2 -> none.
  auto l = list_for(agp::tc4, by_sender, "HSA-ID-2");
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-2"});
  CHECK(l.filtered == filtered_t{{"HSA-ID-1", "FS"}, {"HSA-ID-3", "FS"}});
  l = list_for(agp::tc1, by_sender, "HSA-ID-2");
  CHECK(l.calls.empty());
  CHECK(l.filtered == filtered_t{{"HSA-ID-4", "FS"}, {"HSA-ID-5", "FS"}, {"HSA-ID-6", "FS"}});
  // An empty filter is none.
  CHECK(list_for(agp::tc1, by_sender, "").calls.size() == 3);

  // The filter is compared with logicalAddress even where the call goes to sourceSystem.
  std::vector<ag::engagement> found = {agp::engagement_of(agp::tc1, "HSA-ID-4")};
  found[0].source_system = "HSA-ID-5";
  ag::query q{agp::tc1, std::string("HSA-ID-5")};
  auto t = agp::tak_stub();
  CHECK(ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address, q)
            .calls.empty());
  q.source_system = "HSA-ID-4";
  CHECK(addresses(ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                                        q)) == std::vector<std::string>{"HSA-ID-5"});
}

TEST_CASE("request list: several categories configured filter case-insensitively") {
  auto s = agp::lab_service();
  s.categorizations = {"cat2", "cat3"};
  auto l = list_for(agp::tc9, by_sender, std::nullopt, s);
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-5", "HSA-ID-6"});
  CHECK(l.filtered == filtered_t{{"HSA-ID-4", "FS"}});

  s.categorizations = {"CAT2", "Cat3"};
  CHECK(addresses(list_for(agp::tc9, by_sender, std::nullopt, s)) ==
        std::vector<std::string>{"HSA-ID-5", "HSA-ID-6"});
  auto found = agp::index_for(agp::tc9);
  found[1].categorization = "CaT2";
  CHECK(addresses(ag::make_request_list(s, found, by_sender, agp::tak_stub(), agp::own_address,
                                        {agp::tc9, std::nullopt})) ==
        std::vector<std::string>{"HSA-ID-5", "HSA-ID-6"});

  // One category was asked of the index: nothing is filtered afterwards (AgP's TC9 with a
  // single category gives 4, 5 and 6).
  s.categorizations = {"cat2"};
  CHECK(list_for(agp::tc9, by_sender, std::nullopt, s).calls.size() == 3);
  s.categorizations.clear();
  CHECK(list_for(agp::tc9, by_sender, std::nullopt, s).calls.size() == 3);
}

TEST_CASE("request list: the own logical address is never called (TC10)") {
  // Even with a permission and a route for it, which is what makes the guard necessary.
  auto t = agp::tak_stub();
  t.permissions.push_back({agp::sender, agp::contract, agp::own_address});
  t.routes.push_back({agp::contract, agp::own_address, agp::url_of(agp::own_address)});
  auto l = list_for(agp::tc10, by_sender, std::nullopt, agp::lab_service(), t);
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-5"});
  CHECK(l.filtered == filtered_t{{agp::own_address, "FS"}});

  // A call addressed to the own address through sourceSystem is the same recursion.
  std::vector<ag::engagement> found = {agp::engagement_of(agp::tc10, "HSA-ID-5")};
  found[0].source_system = agp::own_address;
  l = ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                            {agp::tc10, std::nullopt});
  CHECK(l.calls.empty());
  CHECK(l.filtered == filtered_t{{agp::own_address, "FS"}});
}

TEST_CASE("request list: authorization through the sender, the original consumer, or neither") {
  // Sender only: the original consumer is unknown to the TAK.
  auto l = list_for(agp::tc1, agp::caller_of(agp::sender, "someone-else"));
  CHECK(l.calls.size() == 3);

  // Original consumer only: it is permitted on HSA-ID-1 (HSA-ID-1 has a route); HSA-ID-2 is not.
  l = list_for(agp::tc3, agp::caller_of("unknown-sender", agp::original_consumer));
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-1"});
  CHECK(l.filtered == filtered_t{{"HSA-ID-2", "FT"}});

  // Neither.
  l = list_for(agp::tc1, agp::caller_of("unknown-sender", "unknown-consumer"));
  CHECK(l.calls.empty());
  CHECK(l.filtered == filtered_t{{"HSA-ID-4", "FT"}, {"HSA-ID-5", "FT"}, {"HSA-ID-6", "FT"}});
  CHECK(l.unauthorized == std::vector<std::string>{"HSA-ID-4", "HSA-ID-5", "HSA-ID-6"});

  // TC6: HSA-ID-7 is in nobody's TAK.
  l = list_for(agp::tc6, by_sender);
  CHECK(l.calls.empty());
  CHECK(l.filtered == filtered_t{{"HSA-ID-7", "FT"}});

  // Empty ids are nobody.
  CHECK(list_for(agp::tc1, agp::caller_of("", "")).calls.empty());
}

TEST_CASE("request list: a permission without a route, or a route without a permission") {
  // The original consumer is permitted on HSA-ID-11, which has no route.
  std::vector<ag::engagement> found = {agp::engagement_of(agp::tc1, "HSA-ID-11"),
                                       agp::engagement_of(agp::tc1, "HSA-ID-77")};
  auto l = ag::make_request_list(agp::lab_service(), found, by_sender, agp::tak_stub(),
                                 agp::own_address, {agp::tc1, std::nullopt});
  CHECK(l.calls.empty());
  // HSA-ID-77 has a route but nobody's permission.
  CHECK(l.filtered == filtered_t{{"HSA-ID-11", "FT"}, {"HSA-ID-77", "FT"}});
  // Only the one without a permission counts as unauthorized.
  CHECK(l.unauthorized == std::vector<std::string>{"HSA-ID-77"});

  // Giving HSA-ID-77 a permission makes it callable.
  auto t = agp::tak_stub();
  t.permissions.push_back({agp::original_consumer, agp::contract, "HSA-ID-77"});
  l = ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                            {agp::tc1, std::nullopt});
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-77"});
}

TEST_CASE("request list: the \"*\" permission covers every receiver with a route") {
  auto t = agp::tak_stub();
  t.permissions.push_back({"wildcard-consumer", agp::contract, "*"});
  auto l = list_for(agp::tc4, agp::caller_of("unknown-sender", "wildcard-consumer"), std::nullopt,
                    agp::lab_service(), t);
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-1", "HSA-ID-2", "HSA-ID-3"});
  // It does not stand in for a route.
  l = list_for(agp::tc6, agp::caller_of("wildcard-consumer", ""), std::nullopt, agp::lab_service(),
               t);
  CHECK(l.filtered == filtered_t{{"HSA-ID-7", "FT"}});
  // Nor for another contract.
  t.permissions.back().contract = "urn:some:other:contract:1";
  CHECK(list_for(agp::tc4, agp::caller_of("wildcard-consumer", ""), std::nullopt,
                 agp::lab_service(), t)
            .calls.empty());
}

TEST_CASE("request list: dedupe on sourceSystem addresses the call to the source system") {
  // Two care units (logicalAddress) served by one source system: one call, to the system.
  std::vector<ag::engagement> found = {agp::engagement_of(agp::tc1, "HSA-ID-4"),
                                       agp::engagement_of(agp::tc1, "HSA-ID-5"),
                                       agp::engagement_of(agp::tc1, "HSA-ID-4", "x", "2")};
  for (auto& e : found) e.source_system = "HSA-ID-6";
  auto t = agp::tak_stub();
  auto l = ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                                 {agp::tc1, std::nullopt});
  REQUIRE(l.calls.size() == 1);
  CHECK(l.calls[0].logical_address == "HSA-ID-6");
  CHECK(l.calls[0].source_system == "HSA-ID-6");
  CHECK(l.calls[0].url == agp::url_of("HSA-ID-6"));

  // The source system needs a route of its own...
  for (auto& e : found) e.source_system = "SYSTEM-WITHOUT-ROUTE";
  l = ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                            {agp::tc1, std::nullopt});
  CHECK(l.calls.empty());
  CHECK(l.filtered.size() == 3);
  CHECK(l.filtered[0] == std::pair<std::string, std::string>{"SYSTEM-WITHOUT-ROUTE", "FT"});

  // ...and the consumer's permission on it, as the VP would require.
  t.routes.push_back({agp::contract, "SYSTEM-B", agp::url_of("SYSTEM-B")});
  for (auto& e : found) e.source_system = "SYSTEM-B";
  l = ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                            {agp::tc1, std::nullopt});
  CHECK(l.calls.empty());
  // Unauthorized on the source system it would call, not on the care unit.
  CHECK(l.unauthorized == std::vector<std::string>{"SYSTEM-B", "SYSTEM-B", "SYSTEM-B"});
  t.permissions.push_back({agp::sender, agp::contract, "SYSTEM-B"});
  CHECK(addresses(ag::make_request_list(agp::lab_service(), found, by_sender, t, agp::own_address,
                                        {agp::tc1, std::nullopt})) ==
        std::vector<std::string>{"SYSTEM-B"});
}

TEST_CASE("request list: dedupe on logicalAddress (GetAggregatedSubjectOfCareSchedule)") {
  auto s = agp::lab_service();
  s.dedupe = ag::dedupe_on::logical_address;
  std::vector<ag::engagement> found = {agp::engagement_of(agp::tc1, "HSA-ID-4"),
                                       agp::engagement_of(agp::tc1, "HSA-ID-5"),
                                       agp::engagement_of(agp::tc1, "HSA-ID-4", "x", "2")};
  for (auto& e : found) e.source_system = "SYSTEM-WITHOUT-ROUTE";
  auto l = ag::make_request_list(s, found, by_sender, agp::tak_stub(), agp::own_address,
                                 {agp::tc1, std::nullopt});
  REQUIRE(l.calls.size() == 2);
  CHECK(l.calls[0].logical_address == "HSA-ID-4");
  CHECK(l.calls[0].source_system == "SYSTEM-WITHOUT-ROUTE");
  CHECK(l.calls[0].url == agp::url_of("HSA-ID-4"));
  CHECK(l.calls[1].logical_address == "HSA-ID-5");
  CHECK(l.filtered.empty());
}

TEST_CASE("request list: the order of first appearance") {
  std::vector<ag::engagement> found;
  for (const char* a : {"HSA-ID-5", "HSA-ID-4", "HSA-ID-5", "HSA-ID-7", "HSA-ID-6", "HSA-ID-4"})
    found.push_back(agp::engagement_of(agp::tc1, a));
  auto l = ag::make_request_list(agp::lab_service(), found, by_sender, agp::tak_stub(),
                                 agp::own_address, {agp::tc1, std::nullopt});
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-5", "HSA-ID-4", "HSA-ID-6"});
  CHECK(l.filtered == filtered_t{{"HSA-ID-7", "FT"}});
}

TEST_CASE("request list: filters apply in AgP's order (category, own address, TAK, source)") {
  auto s = agp::lab_service();
  s.categorizations = {"cat1", "cat2"};
  auto t = agp::tak_stub();
  // Each engagement fails every later filter too; the reason is the first one's.
  std::vector<ag::engagement> found = {
      agp::engagement_of(agp::tc1, agp::own_address, "other"),  // category first: FS
      agp::engagement_of(agp::tc1, agp::own_address, "cat1"),   // own address: FS
      agp::engagement_of(agp::tc1, "HSA-ID-7", "cat1"),         // TAK before the filter: FT
      agp::engagement_of(agp::tc1, "HSA-ID-4", "cat2"),         // source filter: FS
      agp::engagement_of(agp::tc1, "HSA-ID-5", "cat2")};
  auto l = ag::make_request_list(s, found, by_sender, t, agp::own_address,
                                 {agp::tc1, std::string("HSA-ID-5")});
  CHECK(addresses(l) == std::vector<std::string>{"HSA-ID-5"});
  CHECK(l.filtered == filtered_t{{agp::own_address, "FS"},
                                 {agp::own_address, "FS"},
                                 {"HSA-ID-7", "FT"},
                                 {"HSA-ID-4", "FS"}});
}
