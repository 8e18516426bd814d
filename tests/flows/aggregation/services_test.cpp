// Configuration: timeouts ordering, service definitions, the TAK.
#include "flows/aggregation/agp_test_data.hpp"

#include <doctest/doctest.h>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
using json = nlohmann::json;

json care_contacts() {
  return {{"name", "GetAggregatedCareContacts"},
          {"serviceDomain", "riv:clinicalprocess:logistics:logistics"},
          {"categorization", "vko"},
          {"contract", "urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:3"},
          {"patientIdPointer", "/patientId/id"},
          {"sourceSystemPointer", "/sourceSystemHSAId"},
          {"dedupeOn", "sourceSystem"},
          {"listField", "careContact"}};
}

medflow::result<ag::service_definition> parse(const json& j) {
  return ag::parse_service(j, ag::timeouts{}, ag::cache_settings{});
}

std::string service_error(const json& j) {
  auto r = parse(j);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 400);
  return r.err().message;
}

std::string tak_error(const json& j) {
  auto r = ag::parse_tak(j);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 400);
  return r.err().message;
}

}  // namespace

TEST_CASE("check_timeouts: SERVICE < AGGREGATE < AGGREGATED_SERVICE") {
  CHECK_FALSE(ag::check_timeouts(ag::timeouts{}, "configuration"));
  CHECK_FALSE(ag::check_timeouts({27000, 28000, 29000}, "configuration"));

  auto e = ag::check_timeouts({4000, 3000, 5000}, "service GetAggregatedCareContacts");
  REQUIRE(e);
  CHECK(e->status == 400);
  CHECK(e->message ==
        "service GetAggregatedCareContacts: AGGREGATE_TIMEOUT_MS (3000) must be greater than "
        "SERVICE_TIMEOUT_MS (4000)");

  e = ag::check_timeouts({4000, 4500, 4500}, "configuration");
  REQUIRE(e);
  CHECK(e->message ==
        "configuration: AGGREGATED_SERVICE_TIMEOUT_MS (4500) must be greater than "
        "AGGREGATE_TIMEOUT_MS (4500)");

  e = ag::check_timeouts({4000, 4000, 5000}, "configuration");
  REQUIRE(e);
  CHECK(e->message ==
        "configuration: AGGREGATE_TIMEOUT_MS (4000) must be greater than SERVICE_TIMEOUT_MS "
        "(4000)");

  // Every problem is named, in order.
  e = ag::check_timeouts({5000, 4500, 4000}, "configuration");
  REQUIRE(e);
  CHECK(e->message ==
        "configuration: AGGREGATE_TIMEOUT_MS (4500) must be greater than SERVICE_TIMEOUT_MS "
        "(5000); AGGREGATED_SERVICE_TIMEOUT_MS (4000) must be greater than "
        "AGGREGATE_TIMEOUT_MS (4500)");

  e = ag::check_timeouts({0, 4500, 5000}, "configuration");
  REQUIRE(e);
  CHECK(e->message == "configuration: SERVICE_TIMEOUT_MS (0) must be positive");

  e = ag::check_timeouts({4000, 3000, 5000}, "");
  REQUIRE(e);
  CHECK(e->message == "AGGREGATE_TIMEOUT_MS (3000) must be greater than SERVICE_TIMEOUT_MS (4000)");
}

TEST_CASE("parse_service: a complete definition, defaults from the caller") {
  ag::timeouts defaults{1000, 2000, 3000};
  ag::cache_settings cache;
  cache.stale_ms = 60000;
  auto r = ag::parse_service(care_contacts(), defaults, cache);
  REQUIRE(r.ok());
  const auto& s = r.value();
  CHECK(s.name == "GetAggregatedCareContacts");
  CHECK(s.service_domain == "riv:clinicalprocess:logistics:logistics");
  CHECK(s.categorizations == std::vector<std::string>{"vko"});
  CHECK(s.contract == "urn:riv:clinicalprocess:logistics:logistics:GetCareContactsResponder:3");
  CHECK(s.patient_id_pointer == "/patientId/id");
  CHECK(s.source_system_pointer == "/sourceSystemHSAId");
  CHECK(s.dedupe == ag::dedupe_on::source_system);
  CHECK(s.list_field == "careContact");
  CHECK(s.limits.service_ms == 1000);
  CHECK(s.limits.aggregate_ms == 2000);
  CHECK(s.limits.aggregated_service_ms == 3000);
  CHECK_FALSE(s.cache.enabled);
  CHECK(s.cache.max_entries == 1000);
  CHECK(s.cache.ttl_ms == 5000);
  CHECK(s.cache.expiration_interval_ms == 1000);
  CHECK(s.cache.stale_ms == 60000);
}

TEST_CASE("parse_service: timeouts and cache from the file") {
  json j = care_contacts();
  j["timeouts"] = {{"serviceMs", 3000}};  // the others stay the defaults 4500 / 5000
  j["cache"] = {{"enabled", true},
                {"maxEntries", 10},
                {"ttlMs", 0},
                {"expirationIntervalMs", 250},
                {"staleMs", 1000}};
  auto r = parse(j);
  REQUIRE(r.ok());
  CHECK(r->limits.service_ms == 3000);
  CHECK(r->limits.aggregate_ms == 4500);
  CHECK(r->limits.aggregated_service_ms == 5000);
  CHECK(r->cache.enabled);
  CHECK(r->cache.max_entries == 10);
  CHECK(r->cache.ttl_ms == 0);
  CHECK(r->cache.expiration_interval_ms == 250);
  CHECK(r->cache.stale_ms == 1000);
}

TEST_CASE("parse_service: categorization as a string, a comma list or an array") {
  json j = care_contacts();
  j.erase("categorization");
  CHECK(parse(j)->categorizations.empty());
  j["categorization"] = nullptr;
  CHECK(parse(j)->categorizations.empty());
  j["categorization"] = "";
  CHECK(parse(j)->categorizations.empty());
  j["categorization"] = "cat2,cat3";
  CHECK(parse(j)->categorizations == std::vector<std::string>{"cat2", "cat3"});
  j["categorization"] = " cat2 , cat3 ";
  CHECK(parse(j)->categorizations == std::vector<std::string>{"cat2", "cat3"});
  j["categorization"] = json::array({"cat1", "CAT2"});
  CHECK(parse(j)->categorizations == std::vector<std::string>{"cat1", "CAT2"});
  j["categorization"] = json::array();
  CHECK(parse(j)->categorizations.empty());

  const std::string prefix = "service GetAggregatedCareContacts: ";
  j["categorization"] = "cat2,,cat3";
  CHECK(service_error(j) == prefix + "categorization has an empty category");
  j["categorization"] = json::array({"cat1", 2});
  CHECK(service_error(j) == prefix + "categorization must hold strings");
  j["categorization"] = 7;
  CHECK(service_error(j) ==
        prefix + "categorization must be a string, a comma list or an array of strings");
}

TEST_CASE("parse_service: dedupeOn and the optional source-system pointer") {
  json j = care_contacts();
  j["dedupeOn"] = "logicalAddress";
  CHECK(parse(j)->dedupe == ag::dedupe_on::logical_address);
  j.erase("dedupeOn");
  CHECK(parse(j)->dedupe == ag::dedupe_on::source_system);
  j.erase("sourceSystemPointer");
  CHECK(parse(j)->source_system_pointer.empty());
  j["sourceSystemPointer"] = "";
  CHECK(parse(j)->source_system_pointer.empty());
}

TEST_CASE("parse_service: errors name the service and the field") {
  const std::string prefix = "service GetAggregatedCareContacts: ";
  auto without = [](const char* field) {
    json j = care_contacts();
    j.erase(field);
    return j;
  };
  auto with = [](const char* field, json value) {
    json j = care_contacts();
    j[field] = std::move(value);
    return j;
  };
  CHECK(service_error(json::array()) == "service: the definition must be a JSON object");
  CHECK(service_error(without("name")) == "service: name is required");
  CHECK(service_error(with("name", "Get Aggregated")) ==
        "service: name \"Get Aggregated\" must match [A-Za-z0-9._-]+");
  CHECK(service_error(with("name", "../etc")) ==
        "service: name \"../etc\" must match [A-Za-z0-9._-]+");
  CHECK(service_error(without("serviceDomain")) == prefix + "serviceDomain is required");
  CHECK(service_error(with("serviceDomain", "")) == prefix + "serviceDomain must not be empty");
  CHECK(service_error(without("contract")) == prefix + "contract is required");
  CHECK(service_error(with("contract", 1)) == prefix + "contract must be a string");
  CHECK(service_error(without("patientIdPointer")) == prefix + "patientIdPointer is required");
  CHECK(service_error(with("patientIdPointer", "patientId/id")) ==
        prefix +
            "patientIdPointer \"patientId/id\" is not a JSON pointer (RFC 6901: \"/a/b\", ~0 "
            "for ~, ~1 for /)");
  CHECK(service_error(with("sourceSystemPointer", "/a/~2")) ==
        prefix +
            "sourceSystemPointer \"/a/~2\" is not a JSON pointer (RFC 6901: \"/a/b\", ~0 for "
            "~, ~1 for /)");
  CHECK(service_error(with("dedupeOn", "owner")) ==
        prefix + "dedupeOn \"owner\" must be \"sourceSystem\" or \"logicalAddress\"");
  CHECK(service_error(without("listField")) == prefix + "listField is required");
  CHECK(service_error(with("listField", "processingStatus")) ==
        prefix + "listField must not be \"processingStatus\"");
  CHECK(service_error(with("sourceSystemHSAId", "/x")) ==
        prefix + "unknown field \"sourceSystemHSAId\"");
  CHECK(service_error(with("timeouts", 5)) == prefix + "timeouts must be an object");
  CHECK(service_error(with("timeouts", {{"serviceMS", 1}})) ==
        prefix + "unknown field \"timeouts.serviceMS\"");
  CHECK(service_error(with("timeouts", {{"serviceMs", "4000"}})) ==
        prefix + "timeouts.serviceMs must be an integer");
  CHECK(service_error(with("timeouts", {{"serviceMs", 4000.5}})) ==
        prefix + "timeouts.serviceMs must be an integer");
  // A service may collect for less than a call may take (then late sources are "Unknown
  // error"), but must answer before the consumer's request is given up.
  CHECK(parse(with("timeouts", {{"aggregateMs", 3000}})).ok());
  CHECK(service_error(with("timeouts", {{"aggregatedServiceMs", 4500}})) ==
        prefix + "AGGREGATED_SERVICE_TIMEOUT_MS (4500) must be greater than AGGREGATE_TIMEOUT_MS (4500)");
  CHECK(service_error(with("cache", {{"enabled", "yes"}})) ==
        prefix + "cache.enabled must be true or false");
  CHECK(service_error(with("cache", {{"ttl", 1}})) == prefix + "unknown field \"cache.ttl\"");
  CHECK(service_error(with("cache", {{"maxEntries", 0}})) ==
        prefix + "cache.maxEntries (0) must be at least 1");
  CHECK(service_error(with("cache", {{"ttlMs", -1}})) ==
        prefix + "cache.ttlMs (-1) must not be negative");
  CHECK(service_error(with("cache", {{"expirationIntervalMs", 0}})) ==
        prefix + "cache.expirationIntervalMs (0) must be at least 1");
  CHECK(service_error(with("cache", {{"ttlMs", 5000}, {"staleMs", 1000}})) ==
        prefix + "cache.staleMs (1000) must not be less than cache.ttlMs (5000)");
}

TEST_CASE("parse_tak: permissions and routes") {
  json j = {
      {"permissions",
       {{{"consumer", agp::sender}, {"contract", agp::contract}, {"logicalAddress", "HSA-ID-1"}},
        {{"consumer", "wildcard"}, {"contract", agp::contract}, {"logicalAddress", "*"}}}},
      {"routes",
       {{{"contract", agp::contract},
         {"logicalAddress", "HSA-ID-1"},
         {"url", "http://127.0.0.1:9100/HSA-ID-1"}},
        {{"contract", agp::contract},
         {"logicalAddress", "HSA-ID-2"},
         {"url", "https://source.example/HSA-ID-2"}}}}};
  auto r = ag::parse_tak(j);
  REQUIRE(r.ok());
  const auto& t = r.value();
  REQUIRE(t.permissions.size() == 2);
  CHECK(t.permissions[1].consumer == "wildcard");
  CHECK(t.permissions[1].logical_address == "*");
  REQUIRE(t.routes.size() == 2);
  CHECK(t.routes[1].url == "https://source.example/HSA-ID-2");

  CHECK(t.authorized(agp::sender, agp::contract, "HSA-ID-1"));
  CHECK_FALSE(t.authorized(agp::sender, agp::contract, "HSA-ID-2"));
  CHECK_FALSE(t.authorized(agp::sender, "urn:other:1", "HSA-ID-1"));
  CHECK(t.authorized("wildcard", agp::contract, "HSA-ID-2"));
  CHECK(t.authorized("wildcard", agp::contract, "anything"));
  CHECK_FALSE(t.authorized("wildcard", "urn:other:1", "HSA-ID-2"));
  CHECK_FALSE(t.authorized("", agp::contract, "HSA-ID-1"));

  REQUIRE(t.route_for(agp::contract, "HSA-ID-1"));
  CHECK(t.route_for(agp::contract, "HSA-ID-1")->url == "http://127.0.0.1:9100/HSA-ID-1");
  CHECK_FALSE(t.route_for(agp::contract, "HSA-ID-3"));
  CHECK_FALSE(t.route_for("urn:other:1", "HSA-ID-1"));

  auto empty = ag::parse_tak(json::object());
  REQUIRE(empty.ok());
  CHECK(empty->permissions.empty());
  CHECK(empty->routes.empty());
}

TEST_CASE("tak: a parsed table of thousands of routes answers by its index, as a scan does") {
  json routes = json::array();
  for (int i = 1; i <= 20000; ++i)
    routes.push_back({{"contract", agp::contract},
                      {"logicalAddress", "UNIT-" + std::to_string(i)},
                      {"url", "http://127.0.0.1:9100/UNIT-" + std::to_string(i)}});
  json perms = {{{"consumer", agp::sender}, {"contract", agp::contract}, {"logicalAddress", "*"}},
                {{"consumer", "one"}, {"contract", agp::contract}, {"logicalAddress", "UNIT-7"}}};
  auto parsed = ag::parse_tak({{"permissions", perms}, {"routes", routes}});
  REQUIRE(parsed.ok());
  ag::tak t = std::move(*parsed);
  auto check = [](const ag::tak& t) {
    REQUIRE(t.route_for(agp::contract, "UNIT-1"));
    CHECK(t.route_for(agp::contract, "UNIT-20000")->url == "http://127.0.0.1:9100/UNIT-20000");
    CHECK(t.route_for(agp::contract, "UNIT-12345")->logical_address == "UNIT-12345");
    CHECK_FALSE(t.route_for(agp::contract, "UNIT-20001"));
    CHECK_FALSE(t.route_for("urn:none:1", "UNIT-1"));
    CHECK(t.authorized(agp::sender, agp::contract, "UNIT-9"));
    CHECK(t.authorized("one", agp::contract, "UNIT-7"));
    CHECK_FALSE(t.authorized("one", agp::contract, "UNIT-8"));
    CHECK_FALSE(t.authorized("one", "urn:other:1", "UNIT-7"));
    CHECK_FALSE(t.authorized(agp::sender, "urn:other:1", "UNIT-9"));
  };
  check(t);
  ag::tak copy = t;  // the copy's routes are its own
  t.routes.clear();
  check(copy);
  // A table changed after it was indexed is scanned: what was added is found.
  copy.routes.push_back({"urn:other:1", "UNIT-1", "http://h/x"});
  copy.permissions.push_back({"two", "urn:other:1", "UNIT-1"});
  CHECK(copy.route_for("urn:other:1", "UNIT-1")->url == "http://h/x");
  CHECK(copy.authorized("two", "urn:other:1", "UNIT-1"));
  check(copy);
  copy.reindex();
  CHECK(copy.route_for("urn:other:1", "UNIT-1")->url == "http://h/x");
  check(copy);
}

TEST_CASE("parse_tak: errors") {
  json perm = {{"consumer", agp::sender}, {"contract", agp::contract}, {"logicalAddress", "A"}};
  json route = {{"contract", agp::contract}, {"logicalAddress", "A"}, {"url", "http://h/A"}};
  auto with_perm = [&](const char* field, json value) {
    json p = perm;
    if (value.is_discarded())
      p.erase(field);
    else
      p[field] = std::move(value);
    return json{{"permissions", json::array({p})}};
  };
  auto with_route = [&](const char* field, json value) {
    json r = route;
    if (value.is_discarded())
      r.erase(field);
    else
      r[field] = std::move(value);
    return json{{"routes", json::array({route, r})}};
  };
  const json gone = json::value_t::discarded;
  CHECK(tak_error(json::array()) == "tak: the table must be a JSON object");
  CHECK(tak_error({{"permission", json::array()}}) == "tak: unknown field \"permission\"");
  CHECK(tak_error({{"permissions", json::object()}}) == "tak: permissions must be an array");
  CHECK(tak_error({{"routes", "x"}}) == "tak: routes must be an array");
  CHECK(tak_error({{"permissions", json::array({1})}}) == "tak: permissions[0] must be an object");
  CHECK(tak_error(with_perm("consumer", gone)) == "tak: permissions[0].consumer is required");
  CHECK(tak_error(with_perm("contract", "")) == "tak: permissions[0].contract must not be empty");
  CHECK(tak_error(with_perm("logicalAddress", 3)) ==
        "tak: permissions[0].logicalAddress must be a string");
  CHECK(tak_error(with_perm("validFrom", "2024")) ==
        "tak: unknown field \"permissions[0].validFrom\"");
  CHECK(tak_error(with_route("url", gone)) == "tak: routes[1].url is required");
  CHECK(tak_error(with_route("url", "ftp://h/A")) ==
        "tak: routes[1].url \"ftp://h/A\" must start with http:// or https://");
  CHECK(tak_error(with_route("logicalAddress", "*")) ==
        "tak: routes[1].logicalAddress \"*\" is not allowed in a route");
  CHECK(tak_error(with_route("url", "http://other/A")) ==
        "tak: routes[1] repeats the route of " + agp::contract + " to A");
  // Another receiver or another contract is not a repeat.
  CHECK(ag::parse_tak(with_route("logicalAddress", "B")).ok());
  CHECK(ag::parse_tak(with_route("contract", "urn:other:1")).ok());
}
