// The local (SQLite) engagement index: what find() returns is what update() stored, read from
// columns, also for rows written before the columns existed.
#include "flows/aggregation/agp_test_data.hpp"
#include "flows/aggregation/index.hpp"

#include <doctest/doctest.h>

#include <memory>

#include "store/database.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
namespace store = medflow::store;
using json = nlohmann::json;

json engagement_json(const std::string& logical_address, bool optionals) {
  json e = {{"registeredResidentIdentification", agp::tc1},
            {"serviceDomain", agp::domain},
            {"categorization", "und-kkm-ure"},
            {"logicalAddress", logical_address},
            {"businessObjectInstanceIdentifier", "1002"},
            {"clinicalProcessInterestId", "NA"},
            {"sourceSystem", "SYS-" + logical_address},
            {"dataController", "2321000016"}};
  if (optionals) {
    e["mostRecentContent"] = "20240305102030";
    e["creationTime"] = "20240101000000";
    e["updateTime"] = "20240229235959";
    e["owner"] = "HSA-ID-OWNER";
  }
  return e;
}

std::unique_ptr<store::database> open_db(const std::string& path,
                                         const std::vector<store::migration>& ms) {
  return medflow::test::open_database(path, {ms});
}

json found(ag::local_index& index, std::optional<std::string> categorization = std::nullopt) {
  ag::find_content f{agp::tc1, agp::domain, std::move(categorization)};
  auto r = index.find(f, ag::caller{}, 10000);
  REQUIRE(r.ok());
  json out = json::array();
  for (auto& e : *r) out.push_back(ag::to_json(e));
  return out;
}

}  // namespace

TEST_CASE("local index: find returns every field update stored, optional ones absent or set") {
  medflow::test::temp_dir dir;
  auto db = open_db(dir.file("agp.db"), ag::index_migrations());
  ag::local_index index(*db);
  json a = engagement_json("HSA-ID-1", true), b = engagement_json("HSA-ID-2", false);
  auto up = index.update({{"engagementTransaction", {{{"engagement", a}}, {{"engagement", b}}}}});
  REQUIRE(up.ok());
  CHECK(up->first == 2);
  CHECK(found(index) == json::array({a, b}));
  CHECK(found(index, std::string("und-kkm-ure")) == json::array({a, b}));
  CHECK(found(index, std::string("other")) == json::array());

  // An upsert of the same identity replaces the fields outside it.
  json a2 = a;
  a2["mostRecentContent"] = "20250101000000";
  a2.erase("owner");
  REQUIRE(index.update({{"engagementTransaction", {{{"engagement", a2}}}}}).ok());
  CHECK(found(index) == json::array({a2, b}));

  json del = {{"engagementTransaction", {{{"deleteFlag", true}, {"engagement", b}}}}};
  REQUIRE(index.update(del).ok());
  CHECK(found(index) == json::array({a2}));
}

TEST_CASE("local index: rows written before the field columns existed are found whole") {
  medflow::test::temp_dir dir;
  auto all = ag::index_migrations();
  REQUIRE(all.size() >= 2);
  json a = engagement_json("HSA-ID-1", true), b = engagement_json("HSA-ID-2", false);
  {
    // The first schema only, and rows as its update() wrote them.
    auto db = open_db(dir.file("agp.db"), {all[0]});
    db->write().run([&](store::tx& t) {
      for (auto* j : {&a, &b}) {
        auto e = ag::engagement_from_json(*j);
        REQUIRE(e.ok());
        t.conn
            .prepare(
                "INSERT INTO agp_engagements(identity, rrid, service_domain, categorization, "
                "doc, updated_at) VALUES (?, ?, ?, ?, ?, 0)")
            .bind_all(ag::identity_key(*e), e->registered_resident_identification,
                      e->service_domain, e->categorization, ag::to_json(*e).dump())
            .exec();
      }
    });
    db->close();
  }
  auto db = open_db(dir.file("agp.db"), all);
  ag::local_index index(*db);
  CHECK(found(index) == json::array({a, b}));
}

TEST_CASE("local index: a lookup finding more than its limit is 502 naming the limit") {
  medflow::test::temp_dir dir;
  auto db = open_db(dir.file("agp.db"), ag::index_migrations());
  ag::local_index index(*db);
  json tx = json::array();
  for (int i = 0; i < 5; ++i)
    tx.push_back({{"engagement", engagement_json("HSA-ID-" + std::to_string(i), false)}});
  REQUIRE(index.update({{"engagementTransaction", tx}}).ok());
  ag::find_content f{agp::tc1, agp::domain, std::nullopt};
  CHECK(index.find(f, ag::caller{}, 5)->size() == 5);  // exactly the limit is fine
  auto over = index.find(f, ag::caller{}, 4);
  REQUIRE_FALSE(over.ok());
  CHECK(over.err().status == 502);
  CHECK(over.err().code == "engagement_index_too_large");
  CHECK(over.err().message ==
        "the engagement index found more than 4 engagements for the request "
        "(aggregation.max_engagements)");
  CHECK(index.find(f, ag::caller{}, 0).err().code == "engagement_index_too_large");
}

TEST_CASE("local index: any Unicode reads back whole; a NUL character is refused, 400") {
  medflow::test::temp_dir dir;
  auto db = open_db(dir.file("agp.db"), ag::index_migrations());
  ag::local_index index(*db);
  json a = engagement_json("HSA-\xC3\x85\xC3\x84\xC3\x96-\xF0\x9F\x98\x80", true);
  json b = engagement_json("HSA-ID-\"'?$1--", false);
  REQUIRE(index.update({{"engagementTransaction", {{{"engagement", a}}, {{"engagement", b}}}}}).ok());
  CHECK(found(index) == json::array({a, b}));

  // PostgreSQL's text cannot hold one: refused on both backends alike, nothing written.
  for (const char* field : {"logicalAddress", "serviceDomain", "owner"}) {
    CAPTURE(field);
    json bad = engagement_json("HSA-ID-9", true);
    bad[field] = std::string("HSA\0ID", 6);
    auto up = index.update({{"engagementTransaction", {{{"engagement", bad}}}}});
    REQUIRE_FALSE(up.ok());
    CHECK(up.err().status == 400);
    CHECK(up.err().message ==
          std::string("engagementTransaction[0]: engagement.") + field +
              " must not contain a NUL character (\\u0000)");
  }
  CHECK(found(index) == json::array({a, b}));
  auto f = ag::find_content_from_json({{"registeredResidentIdentification", agp::tc1},
                                       {"serviceDomain", agp::domain},
                                       {"categorization", std::string("a\0b", 3)}});
  REQUIRE_FALSE(f.ok());
  CHECK(f.err().status == 400);
}
