// Publishing in the change's transaction: the medical events service with the resource events
// publisher wired as medflowd wires it (app::publish_changes, the shipped mapping) on a real
// SQLite database and the embedded bus.
#include "app/resource_events.hpp"
#include "flows/medical_events/fixtures.hpp"

#include <doctest/doctest.h>

#include <atomic>

using namespace medflow;
using namespace medflow::test;
namespace re = medflow::flows::resource_events;

namespace {

const std::string ep = "55555555-5555-4555-8555-555555555555";
const std::string base = "http://medflow.test/fhir";

struct publish_fixture {
  std::unique_ptr<re::service> events;
  std::atomic<bool> fail_after_publish{false};
  service_fixture fx{settings()};

  publish_fixture() {
    events = std::make_unique<re::service>(
        *fx.bus, re::load_mapping("", app::published_kinds()), re::settings{base});
    events->create_topics(1);
  }

  // The listener medflowd installs; on request it throws after publishing, as any failure of
  // the job's unit of work would.
  me::settings settings() {
    me::settings s;
    s.on_change = [this](store::tx& t, const me::committed_change& c) {
      app::publish_changes(*events)(t, c);
      if (fail_after_publish) throw std::runtime_error("the unit fails after publishing");
    };
    return s;
  }

  std::vector<bus::record> records(const std::string& topic) {
    return fx.bus->fetch(topic, 0, 0, 100000);
  }

  // Every event on every topic of the mapping.
  size_t all_events() {
    size_t n = 0;
    for (auto& t : re::topics(events->rules())) n += records(t).size();
    return n;
  }

  me::request close_episode() const {
    me::request r = fx.create_episode(ep);
    r.type = me::job_type::episode_close;
    r.params = {{"id", ep}};
    r.body = {{"period", {{"end", clock::date(clock::now_ms())}}},
              {"status_reason",
               {{"coding", me::json::array({{{"system", "eHealth/episode_closing_reasons"},
                                             {"code", "legal_entity"}}})}}}};
    return r;
  }
};

std::string header(const bus::record& r, const std::string& name) {
  auto* h = r.header(name);
  return h ? *h : "<absent>";
}

}  // namespace

TEST_CASE_FIXTURE(publish_fixture, "a job's changes are published with it, on the mapped topics") {
  REQUIRE(fx.svc->submit(fx.create_episode(ep)).ok());
  fx.process(fx.job_records().at(0));
  auto simple = records("ehealth-episodeofcare");
  REQUIRE(simple.size() == 1);
  auto body = me::json::parse(simple[0].value);
  CHECK(body == me::json{{"messageType", "EHealthSimpleEvent"},
                         {"messageVersion", "1.0"},
                         {"eventType", "created"},
                         {"resourceReference", base + "/EpisodeOfCare/" + ep},
                         {"resourceVersion", "1"}});
  CHECK(header(simple[0], "patientReference") == base + "/Patient/" + service_fixture::patient);
  CHECK(header(simple[0], "resourceProfile") == "ehealth-episodeofcare");
  CHECK(simple[0].key == std::optional<std::string>(base + "/EpisodeOfCare/" + ep));
  // The care manager is the episode's team.
  auto team = records("ehealth-episodeofcare.team");
  REQUIRE(team.size() == 1);
  CHECK(me::json::parse(team[0].value)["references"] ==
        me::json::array({base + "/PractitionerRole/" + service_fixture::doctor}));
  CHECK(header(team[0], "resourceElement") == "team");
  CHECK(header(team[0], "eventType") == "reference_added");
  CHECK(header(team[0], "resourceProfile") == "ehealth-episodeofcare");
  // No status change yet.
  CHECK(records("ehealth-episodeofcare.status").empty());
  // One simple event per recorded change.
  CHECK(fx.count("SELECT count(*) FROM me_resource_changes") == 1);
}

TEST_CASE_FIXTURE(publish_fixture, "a status change is a context event with the version after") {
  REQUIRE(fx.svc->submit(fx.create_episode(ep)).ok());
  fx.process(fx.job_records().at(0));
  auto closed = fx.svc->submit(close_episode());
  REQUIRE(closed.ok());
  fx.process(fx.job_records().at(1));
  REQUIRE(fx.svc->job(closed->job.id)->status == me::job_status::processed);
  auto simple = records("ehealth-episodeofcare");
  REQUIRE(simple.size() == 2);
  CHECK(me::json::parse(simple[1].value)["eventType"] == "updated");
  CHECK(me::json::parse(simple[1].value)["resourceVersion"] == "2");
  auto status = records("ehealth-episodeofcare.status");
  REQUIRE(status.size() == 1);
  CHECK(me::json::parse(status[0].value) ==
        me::json{{"messageType", "EHealthContextEvent"},
                 {"messageVersion", "1.0"},
                 {"eventType", "updated"},
                 {"resourceReference", base + "/EpisodeOfCare/" + ep},
                 {"resourceVersion", "2"},
                 {"context", "status"},
                 {"status", ""}});
  CHECK(header(status[0], "context") == "status");
  CHECK(header(status[0], "resourceProfile") == "ehealth-episodeofcare");
  // The team did not change.
  CHECK(records("ehealth-episodeofcare.team").size() == 1);
}

TEST_CASE_FIXTURE(publish_fixture, "a redelivered job publishes nothing twice") {
  REQUIRE(fx.svc->submit(fx.create_episode(ep)).ok());
  auto rec = fx.job_records().at(0);
  fx.process(rec);
  auto events_once = all_events();
  CHECK(events_once == 3);  // simple, team, managingOrganization
  fx.process(rec);  // as after a crash between the commit and the offset commit
  CHECK(all_events() == events_once);
  CHECK(fx.count("SELECT count(*) FROM me_resource_changes") == 1);
}

TEST_CASE_FIXTURE(publish_fixture, "no event for a change that rolled back, no change without it") {
  REQUIRE(fx.svc->submit(fx.create_episode(ep)).ok());
  auto rec = fx.job_records().at(0);
  fail_after_publish = true;
  CHECK_THROWS(fx.process(rec));
  CHECK(all_events() == 0);
  CHECK(fx.count("SELECT count(*) FROM me_resource_changes") == 0);
  CHECK(fx.count("SELECT count(*) FROM me_entities") == 0);
  CHECK(fx.count("SELECT count(*) FROM me_jobs WHERE status=0") == 1);
  // Delivered again once the failure is gone: the change and its events, once.
  fail_after_publish = false;
  fx.process(rec);
  CHECK(fx.count("SELECT count(*) FROM me_resource_changes") == 1);
  CHECK(records("ehealth-episodeofcare").size() == 1);
}
