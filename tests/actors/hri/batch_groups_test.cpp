// HRI batches across instances, the actors' side (README "HRI batches across instances"): the
// registry drains the batch actors of a revoked partition of the internal topic before it
// releases the partition, holding what arrives for them meanwhile; a relayed action writes its
// outcome with the batch's commit and is applied once however often it is delivered; the
// action waiter answers from that outcome (or 504), through the forwarder and the internal
// topic on the embedded bus. Deterministic scheduler, real SQLite store.
#include "actors/hri/action_waiter.hpp"
#include "actors/hri/batch_forwarder.hpp"
#include "actors/hri/batch_registry.hpp"
#include "flows/hri/batch_topic.hpp"

#include "batch_fixture.hpp"

#include <doctest/doctest.h>

#include <map>

namespace actors = medflow::actors;
using namespace medflow::test;
using namespace std::chrono_literals;
using hri::action;
using hri::status;

namespace {

struct groups_fixture : batch_fixture {
  std::map<std::string, int32_t> parts;  // batch key -> partition of the internal topic (else 0)
  caf::actor registry;

  groups_fixture() {
    registry = sys->spawn(
        actors::batch_registry, svc, now,
        actors::batch_partition_fn([this](const std::string& key) {
          auto it = parts.find(key);
          return it == parts.end() ? 0 : it->second;
        }),
        std::chrono::milliseconds(5000));
    spawned.push_back(registry);
    settle();
  }
  actors::batch_registry_state& st() { return state_of<actors::batch_registry_state>(registry); }
  bool has_actor(const std::string& id) { return st().batches.count("t1/" + id) > 0; }

  // A relayed action (as the internal topic's consumer hands it over); `done` logs its offset.
  void relayed(const std::string& id, hri::action_request r, const std::string& request_id,
               int64_t offset) {
    auto l = log;
    caf::anon_send(registry, actors::batch_action_atom::value,
                   actors::batch_action{tenant, id, std::move(r), integrator, nullptr, request_id,
                                        [l, offset](std::exception_ptr e) {
                                          l->dones.emplace_back(offset, e == nullptr);
                                        }});
  }
  std::optional<hri::action_outcome> outcome(const std::string& request_id) {
    return svc->find_outcome(request_id);
  }
};

}  // namespace

TEST_CASE_FIXTURE(groups_fixture, "batch groups: a revoked partition's batch actors commit and "
                                  "stop before the release; what arrives meanwhile waits") {
  auto a = new_batch();
  auto b = new_batch();
  parts["t1/" + a] = 0;
  parts["t1/" + b] = 1;
  record(registry, a, 0, 0);
  record(registry, b, 1, 0);
  settle();
  REQUIRE(has_actor(a));
  REQUIRE(has_actor(b));

  auto released = std::make_shared<int>(0);
  turns->hold();  // the writer waits: a's next commit is in flight during the revocation
  record(registry, a, 0, 1);
  caf::anon_send(registry, actors::revoke_atom::value, std::vector<int32_t>{0},
                 actors::partition_release{[released] { ++*released; }});
  sched->run();
  CHECK(*released == 0);  // a's actor still holds an uncommitted record
  CHECK(st().releasing.count("t1/" + a) == 1);
  CHECK_FALSE(has_actor(a));
  CHECK(has_actor(b));  // another partition: untouched
  // The partition comes back at once (a new assignment): its record waits for the old actor.
  record(registry, a, 0, 2);
  records(registry, {{a, 3}, {a, 4}});  // a fetch's run too: held record by record
  sched->run();
  CHECK(st().held["t1/" + a].size() == 3);
  turns->release();
  settle();
  CHECK(*released == 1);
  CHECK(st().releasing.empty());
  CHECK(st().held.empty());
  REQUIRE(has_actor(a));  // a new actor, started from the committed state, took the records
  CHECK(stored(a).valid_count == 5);
  CHECK(stored(b).valid_count == 1);
  CHECK(log->dones.size() == 6);
  for (auto& d : log->dones) CHECK(d.second);

  // Nothing of the revoked partition here: released at once.
  caf::anon_send(registry, actors::revoke_atom::value, std::vector<int32_t>{5},
                 actors::partition_release{[released] { ++*released; }});
  settle();
  CHECK(*released == 2);
}

TEST_CASE_FIXTURE(groups_fixture, "batch groups: a batch actor that does not drain within the "
                                  "release timeout is stopped, then the partition released") {
  auto a = new_batch();
  record(registry, a, 0, 0);
  settle();
  auto released = std::make_shared<int>(0);
  turns->hold();
  record(registry, a, 0, 1);
  caf::anon_send(registry, actors::revoke_atom::value, std::vector<int32_t>{0},
                 actors::partition_release{[released] { ++*released; }});
  sched->run();
  sched->advance_time(4999ms);
  sched->run();
  CHECK(*released == 0);
  sched->advance_time(1ms);
  sched->run();
  CHECK(*released == 1);
  CHECK(st().releasing.empty());
  turns->release();
  settle();
  // The registry lives on: the next record of the batch starts a new actor.
  record(registry, a, 0, 2);
  settle();
  CHECK(has_actor(a));
  CHECK(stored(a).valid_count == 3);
}

TEST_CASE_FIXTURE(groups_fixture, "batch groups: a relayed action writes its outcome with the "
                                  "batch's commit and is applied once however often delivered") {
  auto id = new_batch();
  relayed(id, send_complete(3), "r1", 10);
  settle();
  CHECK(stored(id).st == status::send_completed);
  auto o = outcome("r1");
  REQUIRE(o);
  CHECK(o->status == 200);
  CHECK(o->message.empty());
  // Delivered again (the internal topic's offset was not committed): recognised, the outcome
  // stays 200, nothing is applied twice; its completion still comes.
  relayed(id, send_complete(3), "r1", 11);
  settle();
  CHECK(outcome("r1")->status == 200);
  CHECK(statuses(id) == std::vector<std::string>{"started", "sendCompleted"});
  // The same again after the actor was reclaimed: the store recognises it.
  advance(30s);
  CHECK_FALSE(has_actor(id));
  relayed(id, send_complete(3), "r1", 12);
  settle();
  CHECK(outcome("r1")->status == 200);
  CHECK(statuses(id) == std::vector<std::string>{"started", "sendCompleted"});
  // A refusal is an outcome too: 409 for a second sendComplete, 404 for an unknown batch.
  relayed(id, send_complete(3), "r2", 13);
  relayed("nope", request(action::terminate), "r3", 14);
  settle();
  REQUIRE(outcome("r2"));
  CHECK(outcome("r2")->status == 409);
  CHECK(outcome("r2")->message == "sendComplete failed, batch is in 'sendCompleted' state");
  REQUIRE(outcome("r3"));
  CHECK(outcome("r3")->status == 404);
  CHECK(log->dones == std::vector<std::pair<int64_t, bool>>{
                          {10, true}, {11, true}, {12, true}, {13, true}, {14, true}});
  CHECK(log->replies.empty());
}

namespace {

struct waiter_fixture : groups_fixture {
  caf::actor forwarder;
  caf::actor waiter;

  explicit waiter_fixture(bool with_topic = true) {
    if (with_topic) bus->create_topic(hri::batch_records_topic, 2);
    forwarder = sys->spawn(actors::batch_forwarder, static_cast<medflow::bus::log*>(bus.get()), size_t{100});
    waiter = sys->spawn(actors::action_waiter, svc, forwarder, now, std::chrono::milliseconds(10000),
                        std::chrono::milliseconds(20));
    spawned.push_back(forwarder);
    spawned.push_back(waiter);
    settle();
  }
  void relay(const std::string& id, hri::action_request r) {
    auto l = log;
    caf::anon_send(waiter, actors::batch_relay_atom::value,
                   actors::batch_action{tenant, id, std::move(r), integrator,
                                        [l](int status, std::string text) {
                                          l->replies.emplace_back(status, std::move(text));
                                        }});
  }
  // The internal topic's consumer: hands every entry from `from` on to the registry.
  std::map<int32_t, int64_t> next;
  size_t deliver() {
    size_t n = 0;
    for (int32_t p = 0; p < 2; ++p) {
      for (auto& r : bus->fetch(hri::batch_records_topic, p, next[p], 100)) {
        next[p] = r.offset + 1;
        ++n;
        auto e = hri::decode_entry(r);
        auto* a = std::get_if<hri::action_entry>(&e);
        REQUIRE(a);
        caf::anon_send(registry, actors::batch_action_atom::value,
                       actors::batch_action{a->tenant, a->batch_id, a->request, a->who, nullptr,
                                            a->request_id, [](std::exception_ptr) {}});
      }
    }
    return n;
  }
};

struct waiter_without_topic : waiter_fixture {
  waiter_without_topic() : waiter_fixture(false) {}
};

}  // namespace

TEST_CASE_FIXTURE(waiter_fixture, "batch groups: an action received here is appended for the "
                                  "batch's owner and answered with the outcome it wrote") {
  auto id = new_batch();
  relay(id, send_complete(3));
  settle();
  CHECK(log->replies.empty());  // appended, not applied yet
  REQUIRE(deliver() == 1);
  settle();
  advance(19ms);
  CHECK(log->replies.empty());  // the next look at the store is 20 ms after the last
  advance(1ms);
  CHECK(log->replies == std::vector<std::pair<int, std::string>>{{200, ""}});
  CHECK(stored(id).st == status::send_completed);
  // A refusal comes back as it was decided.
  relay(id, send_complete(3));
  settle();
  REQUIRE(deliver() == 1);
  settle();
  advance(20ms);
  REQUIRE(log->replies.size() == 2);
  CHECK(log->replies[1] ==
        std::pair<int, std::string>{409, "sendComplete failed, batch is in 'sendCompleted' state"});
}

TEST_CASE_FIXTURE(waiter_fixture, "batch groups: no outcome within the action timeout is 504") {
  auto id = new_batch();
  relay(id, send_complete(3));
  settle();
  advance(9980ms);
  CHECK(log->replies.empty());
  advance(40ms);
  REQUIRE(log->replies.size() == 1);
  CHECK(log->replies[0].first == 504);
  CHECK(log->replies[0].second == "the batch's owner did not apply the action within 10000 ms");
  // Applied later after all: nobody waits any more, nothing breaks.
  REQUIRE(deliver() == 1);
  settle();
  advance(100ms);
  CHECK(log->replies.size() == 1);
  CHECK(stored(id).st == status::send_completed);
}

TEST_CASE_FIXTURE(waiter_without_topic, "batch groups: an action the bus refuses is 503 at once") {
  auto id = new_batch();
  relay(id, send_complete(3));
  settle();
  REQUIRE(log->replies.size() == 1);
  CHECK(log->replies[0].first == 503);
  CHECK(log->replies[0].second == "the action could not be handed to the batch's owner");
}
