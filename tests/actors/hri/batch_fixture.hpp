// The HRI batch actors on CAF's deterministic scheduler with a real SQLite store in a temp
// directory and the embedded bus: one tenant, one validated stream (FHIR, two partitions), the
// batch actors' clock on virtual time, and the store writer taking turns with the scheduler.
#pragma once

#include "actors/hri/batch_registry.hpp"
#include "bus/embedded_log.hpp"
#include "flows/hri/service.hpp"
#include "flows/hri/store.hpp"

#include "support/actor_fixture.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_turns.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medflow::test {

namespace hri = flows::hri;

inline const std::string fhir_bundle = R"({"resourceType":"Bundle","type":"collection"})";

// What the batch actors answered: action replies and record completions, in order.
struct batch_log {
  std::vector<std::pair<int, std::string>> replies;
  std::vector<std::pair<int64_t, bool>> dones;  // (offset, committed)
};

// Stands in for the registry when a batch_state is tested alone: records its idle offers.
struct registry_probe_state {
  static inline const char* name = "registry_probe";
  std::vector<std::pair<std::string, uint64_t>> idle;
};

inline caf::behavior registry_probe(caf::stateful_actor<registry_probe_state>* self) {
  return {[self](actors::idle_atom, const std::string& key, uint64_t handled) {
    self->state.idle.emplace_back(key, handled);
  }};
}

struct batch_fixture : actor_fixture {
  static constexpr int64_t t0 = 1600000000000;  // the wall clock at virtual time zero
  const std::string tenant = "t1";
  const std::string in_topic = "ingest.t1.s1.in";
  temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<bus::embedded_log> bus;
  std::shared_ptr<hri::service> svc;
  std::unique_ptr<writer_turns> turns;
  caf::actor_clock::time_point epoch = sys->clock().now();
  actors::now_fn now = [this] {
    return t0 + std::chrono::duration_cast<std::chrono::milliseconds>(sys->clock().now() - epoch)
                    .count();
  };
  std::shared_ptr<batch_log> log = std::make_shared<batch_log>();
  std::unique_ptr<hri::validator> fhir = hri::make_validator("fhir");
  // May act on its own batches (sendComplete, terminate) and as the validation job.
  hri::principal integrator{"integrator-1", {hri::scope_integrator, hri::scope_internal}, false};

  explicit batch_fixture(int64_t completion_delay_ms = 1000, int64_t stuck_timeout_ms = 0) {
    db = open_database(dir.file("hri.db"), {bus::embedded_log::migrations(), hri::migrations()});
    bus = std::make_unique<bus::embedded_log>(*db);
    hri::settings s;
    s.validation = true;
    s.completion_delay_ms = completion_delay_ms;
    s.stuck_timeout_ms = stuck_timeout_ms;
    svc = std::make_shared<hri::service>(*db, *bus, s);
    REQUIRE(svc->create_tenant(tenant).ok());
    hri::stream_settings ss;
    ss.num_partitions = 2;
    ss.validator = "fhir";
    REQUIRE(svc->create_stream(tenant, "s1", ss).ok());
    turns = std::make_unique<writer_turns>(db->write());
  }

  ~batch_fixture() {
    // Actors end while the store they use still exists.
    for (auto& a : spawned) caf::anon_send_exit(a, caf::exit_reason::kill);
    settle();
    sched->clock().cancel_all();
  }

  // -- running -----------------------------------------------------------------------------------

  // Runs the scheduler and the writer in turns until neither has anything left to do.
  void settle() {
    do {
      turns->hold();
      sched->run();
      turns->release();
    } while (sched->has_job());
  }
  // Moves virtual time forward (firing due timers), then settles.
  void advance(std::chrono::milliseconds d) {
    turns->hold();
    sched->advance_time(d);
    sched->run();
    turns->release();
    settle();
  }

  caf::actor spawn_batch(const std::string& id, const caf::actor& registry) {
    auto a = sys->spawn(actors::batch_state, svc, tenant, id, registry, now);
    spawned.push_back(a);
    settle();
    return a;
  }
  caf::actor spawn_registry() {
    auto a = sys->spawn(actors::batch_registry, svc, now, actors::batch_partition_fn{},
                        std::chrono::milliseconds(20000));
    spawned.push_back(a);
    settle();
    return a;
  }

  // -- batches -----------------------------------------------------------------------------------

  // A new batch of integrator-1 (status started, its "started" notification written).
  std::string new_batch() {
    hri::create_batch req{"batch", in_topic, "obs", -1, nullptr};
    auto b = svc->create_batch(tenant, req, integrator.sub);
    REQUIRE(b.ok());
    return b->id;
  }
  // Writes a batch row as it is (no notification): a batch left in some state by earlier work.
  void put(const hri::batch& b) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    hri::service::commit c;
    c.state = b;
    svc->apply(std::move(c), [done](std::exception_ptr e) {
      if (e) done->set_exception(e);
      else done->set_value();
    });
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    f.get();
  }
  // A new batch moved to `s` now (sendCompleted and later: 3 records expected).
  std::string batch_in(hri::status s) {
    auto id = new_batch();
    if (s == hri::status::started) return id;
    auto b = *svc->get_batch(tenant, id);
    b.st = s;
    b.status_changed_ms = now();
    b.expected_record_count = 3;
    if (s != hri::status::send_completed) b.end_ms = now();
    put(b);
    return id;
  }
  hri::batch stored(const std::string& id) {
    auto b = svc->get_batch(tenant, id);
    REQUIRE(b);
    return *b;
  }

  // -- messages ----------------------------------------------------------------------------------

  void act(const caf::actor& to, const std::string& id, hri::action_request r,
           const hri::principal& who) {
    auto l = log;
    caf::anon_send(to, actors::batch_action_atom::value,
                   actors::batch_action{tenant, id, std::move(r), who,
                                        [l](int status, std::string text) {
                                          l->replies.emplace_back(status, std::move(text));
                                        }});
  }
  void act(const caf::actor& to, const std::string& id, hri::action a) {
    act(to, id, request(a), integrator);
  }
  static hri::action_request request(hri::action a) {
    hri::action_request r{a, {}, {}, {}, {}, nullptr};
    switch (a) {
      case hri::action::send_complete: r.expected_record_count = 3; break;
      case hri::action::terminate: break;
      case hri::action::processing_complete:
        r.actual_record_count = 3;
        r.invalid_record_count = 0;
        break;
      case hri::action::fail:
        r.actual_record_count = 3;
        r.invalid_record_count = 1;
        r.failure_message = "stopped by the test";
        break;
    }
    return r;
  }
  static hri::action_request send_complete(int64_t expected) {
    hri::action_request r{hri::action::send_complete, expected, {}, {}, {}, nullptr};
    return r;
  }

  // One record of the input topic for batch `id` (nullopt: no batchId header).
  void record(const caf::actor& to, const std::optional<std::string>& id, int32_t partition,
              int64_t offset, bool valid = true) {
    caf::anon_send(to, actors::batch_record_atom::value, judged(id, partition, offset, valid));
  }
  // Records of partition 0 as one message (a fetch's, with process_all): (batch, offset) each.
  void records(const caf::actor& to,
               const std::vector<std::pair<std::optional<std::string>, int64_t>>& which) {
    actors::batch_records rs;
    for (auto& [id, offset] : which) rs.items.push_back(judged(id, 0, offset, true));
    caf::anon_send(to, actors::batch_records_atom::value, std::move(rs));
  }
  actors::batch_record judged(const std::optional<std::string>& id, int32_t partition,
                              int64_t offset, bool valid) {
    bus::record r;
    r.topic = in_topic;
    r.partition = partition;
    r.offset = offset;
    r.key = "k" + std::to_string(partition) + "-" + std::to_string(offset);
    r.value = valid ? fhir_bundle : "{}";
    if (id) r.hdrs.emplace_back("batchId", *id);
    auto l = log;
    return actors::batch_record{hri::judge(tenant, *fhir, r), [l, offset](std::exception_ptr e) {
                                  l->dones.emplace_back(offset, e == nullptr);
                                }};
  }

  // -- what was written --------------------------------------------------------------------------

  std::vector<nlohmann::json> values(const std::string& topic) {
    std::vector<nlohmann::json> out;
    for (int32_t p = 0; p < bus->partitions(topic).value_or(0); ++p)
      for (auto& r : bus->fetch(topic, p, 0, 1000)) out.push_back(nlohmann::json::parse(r.value));
    return out;
  }
  // The notifications of batch `id`, oldest first.
  std::vector<nlohmann::json> notifications(const std::string& id) {
    std::vector<nlohmann::json> out;
    for (auto& n : values("ingest.t1.s1.notification"))
      if (n["id"] == id) out.push_back(n);
    return out;
  }
  std::vector<std::string> statuses(const std::string& id) {
    std::vector<std::string> out;
    for (auto& n : notifications(id)) out.push_back(n["status"].get<std::string>());
    return out;
  }

  std::vector<caf::actor> spawned;
};

}  // namespace medflow::test
