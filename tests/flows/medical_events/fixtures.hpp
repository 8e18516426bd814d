// A real medical events service on a temporary SQLite database with the embedded bus (on
// PostgreSQL, MEDFLOW_TEST_STORE=postgres: the in-memory bus, fed on commit as the Kafka
// outbox is), and request builders for the tests that go through the store (no HTTP).
#pragma once

#include "bus/embedded_log.hpp"
#include "core/clock.hpp"
#include "flows/medical_events/service.hpp"
#include "flows/medical_events/handler_fixtures.hpp"
#include "support/database.hpp"
#include "support/memory_log.hpp"
#include "support/temp_dir.hpp"

#include <memory>

namespace medflow::test {

namespace me = medflow::flows::medical_events;

struct service_fixture {
  temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<bus::log> bus;
  std::unique_ptr<me::service> svc;

  static constexpr const char* user = "user-1";
  static constexpr const char* le = "11111111-1111-4111-8111-111111111111";
  static constexpr const char* doctor = "22222222-2222-4222-8222-222222222222";
  static constexpr const char* patient = "33333333-3333-4333-8333-333333333333";

  explicit service_fixture(me::settings s = {}) {
    db = open_database(dir.file("me.db"), {bus::embedded_log::migrations(), me::migrations()});
    if (on_postgres())
      bus = std::make_unique<memory_log>();
    else
      bus = std::make_unique<bus::embedded_log>(*db);
    svc = std::make_unique<me::service>(*db, *bus, s);
    svc->create_topics();
    svc->put_legal_entity({le, "ACTIVE", {{"id", le}}});
    svc->put_employee({doctor, le, "DOCTOR", "APPROVED", user, "1234567890", {{"id", doctor}}});
    svc->put_person({patient, "active", {{"id", patient}}});
  }

  // Queued units refer to the service: let the writer finish them first.
  ~service_fixture() { db->close(); }

  static me::json episode_body(const std::string& id) {
    return {{"id", id},
            {"type", {{"system", "eHealth/episode_types"}, {"code", "primary_care"}}},
            {"status", "active"},
            {"name", "Diabetes"},
            {"managing_organization", ref("legal_entity", le)},
            {"period", {{"start", clock::date(clock::now_ms())}}},
            {"care_manager", ref("employee", doctor)}};
  }

  me::request create_episode(const std::string& id) const {
    me::request r;
    r.type = me::job_type::episode_create;
    r.patient_id = patient;
    r.user_id = user;
    r.client_id = le;
    r.params = me::json::object();
    r.body = episode_body(id);
    return r;
  }

  me::request update_episode(const std::string& id, const std::string& name) const {
    me::request r = create_episode(id);
    r.type = me::job_type::episode_update;
    r.params = {{"id", id}};
    r.body = {{"name", name}};
    return r;
  }

  // The records of topic medical_events, all partitions, in offset order per partition.
  std::vector<bus::record> job_records() {
    std::vector<bus::record> out;
    for (int32_t p = 0; p < *bus->partitions(me::jobs_topic); ++p)
      for (auto& r : bus->fetch(me::jobs_topic, p, 0, 100000)) out.push_back(r);
    return out;
  }

  // Runs process() and waits for its commit; rethrows a failure.
  void process(const bus::record& r) {
    std::promise<void> done;
    svc->process(r, [&](std::exception_ptr e) {
      if (e) done.set_exception(e);
      else done.set_value();
    });
    done.get_future().get();
  }

  int64_t count(const std::string& sql) {
    auto rd = db->reader();
    auto q = rd->prepare(sql);
    q.step();
    return q.int64(0);
  }
};

}  // namespace medflow::test
