// batch_registry on the deterministic scheduler with a real store and the embedded bus: one
// batch actor per batch, started on first use (or by a wake, resuming its timers), reclaimed
// through the idle handshake without losing a message, stopped for a deleted tenant, drained.
#include "actors/hri/batch_registry.hpp"

#include "batch_fixture.hpp"

#include <doctest/doctest.h>

namespace actors = medflow::actors;
using namespace medflow::test;
using namespace std::chrono_literals;
using hri::action;
using hri::status;

namespace {

struct registry_fixture : batch_fixture {
  caf::actor registry = spawn_registry();
  using batch_fixture::batch_fixture;
  actors::batch_registry_state& st() { return state_of<actors::batch_registry_state>(registry); }
  caf::actor_addr actor_of(const std::string& id) {
    auto it = st().batches.find("t1/" + id);
    return it == st().batches.end() ? caf::actor_addr{} : it->second.actor.address();
  }
};

}  // namespace

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: records and actions reach their batch's "
                                    "one actor, started on first use") {
  auto a = new_batch();
  auto b = new_batch();
  record(registry, a, 0, 0);
  record(registry, b, 1, 0);
  record(registry, a, 0, 1);
  act(registry, a, action::terminate);
  settle();
  CHECK(st().batches.size() == 2);
  CHECK(st().batches.at("t1/" + a).sent == 3);
  CHECK(st().batches.at("t1/" + b).sent == 1);
  CHECK(log->dones.size() == 3);
  CHECK(log->replies == std::vector<std::pair<int, std::string>>{{200, ""}});
  CHECK(stored(a).valid_count == 2);
  CHECK(stored(a).st == status::terminated);
  CHECK(stored(b).valid_count == 1);
  // A record without a batchId header has a "batch" too, which rejects it.
  record(registry, std::nullopt, 0, 2);
  settle();
  auto invalid = values("ingest.t1.s1.invalid");
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0]["failure"] == "Bad Message - No header or batchId node");
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: a fetch's records as one message: each run "
                                    "of one batch goes on as one message, in order") {
  auto a = new_batch();
  auto b = new_batch();
  records(registry, {{a, 0}, {a, 1}, {b, 2}, {a, 3}, {std::nullopt, 4}});
  settle();
  // Messages, not records: the idle handshake compares messages sent with messages handled.
  CHECK(st().batches.at("t1/" + a).sent == 2);
  CHECK(st().batches.at("t1/" + b).sent == 1);
  CHECK(state_of<actors::batch_state_state>(st().batches.at("t1/" + a).actor).handled == 2);
  CHECK(log->dones.size() == 5);
  for (auto& d : log->dones) CHECK(d.second);
  CHECK(stored(a).valid_count == 3);
  CHECK(stored(b).valid_count == 1);
  std::set<std::string> keys;  // forwarded to .out's partitions by key
  for (int32_t p = 0; p < bus->partitions("ingest.t1.s1.out").value_or(0); ++p)
    for (auto& r : bus->fetch("ingest.t1.s1.out", p, 0, 100)) keys.insert(r.key.value_or(""));
  CHECK(keys == std::set<std::string>{"k0-0", "k0-1", "k0-2", "k0-3"});
  REQUIRE(values("ingest.t1.s1.invalid").size() == 1);
  // Idle with everything handled: reclaimed as after single records.
  advance(30s);
  CHECK(st().batches.empty());
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: an idle batch actor is reclaimed; the next "
                                    "message starts a new one") {
  auto id = new_batch();
  record(registry, id, 0, 0);
  settle();
  auto first = actor_of(id);
  REQUIRE(first);
  advance(29s);
  CHECK(actor_of(id) == first);
  advance(1s);
  CHECK(st().batches.empty());
  CHECK(st().by_actor.empty());
  record(registry, id, 0, 1);
  settle();
  REQUIRE(actor_of(id));
  CHECK(actor_of(id) != first);
  CHECK(stored(id).valid_count == 2);
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: an idle offer overtaken by a new message is "
                                    "refused, so the message is not lost") {
  auto id = new_batch();
  record(registry, id, 0, 0);
  settle();
  auto first = actor_of(id);
  // The batch actor's idle timer fires and, in the same turn, a record is on its way to the
  // registry: the actor's offer (1 message handled) reaches the registry after the record
  // (2 sent).
  turns->hold();
  sched->advance_time(30s);
  record(registry, id, 0, 1);
  sched->run();
  turns->release();
  settle();
  CHECK(actor_of(id) == first);
  CHECK(st().batches.at("t1/" + id).sent == 2);
  CHECK(log->dones == std::vector<std::pair<int64_t, bool>>{{0, true}, {1, true}});
  CHECK(stored(id).valid_count == 2);
  // Idle again with everything handled, it goes.
  advance(30s);
  CHECK(st().batches.empty());
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: a wake starts the actor, which resumes a "
                                    "pending completion") {
  auto id = batch_in(status::send_completed);
  auto b = stored(id);
  b.valid_count = 3;
  put(b);
  caf::anon_send(registry, actors::wake_atom::value, tenant, id);
  settle();
  REQUIRE(actor_of(id));
  CHECK(st().batches.at("t1/" + id).sent == 0);  // a wake is not a message to hand over
  advance(1000ms);
  CHECK(stored(id).st == status::completed);
  CHECK(statuses(id) == std::vector<std::string>{"started", "completed"});
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: forget stops the actors of a deleted tenant "
                                    "only") {
  REQUIRE(svc->create_tenant("t2").ok());
  auto id = new_batch();
  record(registry, id, 0, 0);
  act(registry, "other", action::terminate);  // t1/other: unknown, 404
  caf::anon_send(registry, actors::batch_action_atom::value,
                 actors::batch_action{"t2", "x", request(action::terminate), integrator,
                                      [](int, std::string) {}});
  settle();
  CHECK(st().batches.size() == 3);
  caf::anon_send(registry, actors::forget_atom::value, std::string("t1"));
  settle();
  REQUIRE(st().batches.size() == 1);
  CHECK(st().batches.count("t2/x") == 1);
  CHECK(st().by_actor.size() == 1);
}

TEST_CASE_FIXTURE(registry_fixture, "batch_registry: drain lets every batch actor commit, also "
                                    "one started while draining, then stops") {
  auto a = new_batch();
  auto b = new_batch();
  auto rec = watch(registry);
  turns->hold();
  record(registry, a, 0, 0);
  caf::anon_send(registry, actors::drain_atom::value);
  sched->run();
  // Draining, with a's commit still with the writer: a message for a batch without an actor
  // starts one, which drains too.
  act(registry, b, action::terminate);
  sched->run();
  CHECK_FALSE(rec->exited);
  CHECK(st().draining);
  turns->release();
  settle();
  CHECK(rec->exited);
  CHECK_FALSE(rec->reason);
  CHECK(log->dones == std::vector<std::pair<int64_t, bool>>{{0, true}});
  CHECK(log->replies == std::vector<std::pair<int, std::string>>{{200, ""}});
  CHECK(stored(a).valid_count == 1);
  CHECK(stored(b).st == status::terminated);
}
