// partition_owner on the deterministic scheduler: two owners stand for two instances of one
// consumer group on one log (memory_log keeps the group's commits), and the test plays the
// group's rebalances (assign / revoke) between them.
#include "actors/partition_owner.hpp"

#include "actors/keyed_sequencer.hpp"
#include "actors/partition_consumer.hpp"
#include "actors/supervisor.hpp"
#include "support/actor_fixture.hpp"
#include "support/memory_log.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

// One instance's side: what its handlers saw, and the completions the test holds.
struct instance {
  std::vector<std::string> processed;  // "partition:key@offset"
  std::map<std::pair<int32_t, int64_t>, done_fn> held;
  bool hold = false;
  caf::actor owner;
};

struct owner_fixture : test::actor_fixture {
  test::memory_log bus;
  instance a, b;
  static constexpr auto release_timeout = 5000ms;

  owner_fixture() { bus.create_topic("t", 3); }
  ~owner_fixture() {
    for (auto* i : {&a, &b})
      if (i->owner) caf::anon_send_exit(i->owner, caf::exit_reason::kill);
    run();
  }

  std::shared_ptr<const record_handlers> handlers(instance& i) {
    auto h = std::make_shared<record_handlers>();
    h->key_of = [](const bus::record& r) { return r.key.value_or(""); };
    h->process = [&i](const bus::record& r, done_fn done) {
      i.processed.push_back(std::to_string(r.partition) + ":" + r.key.value_or("-") + "@" +
                            std::to_string(r.offset));
      if (i.hold) i.held[{r.partition, r.offset}] = std::move(done);
      else done(nullptr);
    };
    h->dead_letter = [](const bus::record&, const std::string&, done_fn done) { done(nullptr); };
    return h;
  }

  // The owner as the app wires it: a supervisor around a partition consumer per partition.
  caf::actor start(instance& i) {
    auto h = handlers(i);
    bus::log* log = &bus;
    auto spawn_partition = [h, log](caf::actor_system& sys, int32_t p) {
      consumer_config c;
      c.group = "g";
      c.topic = "t";
      c.partition = p;
      c.limits.idle = 60000ms;
      auto attempts = std::make_shared<attempt_tracker>();
      return sys.spawn(
          supervisor, "t/" + std::to_string(p),
          [c, log, h, attempts](caf::actor_system& s) {
            return s.spawn(partition_consumer, c, log, h, attempts);
          },
          restart_policy{}, nullptr);
    };
    i.owner = sys->spawn(partition_owner, std::string("t"),
                         std::function<caf::actor(caf::actor_system&, int32_t)>(spawn_partition),
                         std::chrono::milliseconds(release_timeout));
    run();
    return i.owner;
  }

  void produce(int32_t p, const std::string& key, int n = 1) {
    for (int k = 0; k < n; ++k) bus.append({{"t", key, "v", {}, p}});
  }
  void assign(instance& i, std::vector<int32_t> ps) {
    caf::anon_send(i.owner, assign_atom::value, std::move(ps));
    run();
  }
  // Revokes and returns the flag the release sets.
  std::shared_ptr<bool> revoke(instance& i, std::vector<int32_t> ps) {
    auto released = std::make_shared<bool>(false);
    caf::anon_send(i.owner, revoke_atom::value, std::move(ps),
                   partition_release{[released] { *released = true; }});
    run();
    return released;
  }
  std::vector<int32_t> owned(instance& i) {
    std::vector<int32_t> out;
    for (auto& [p, r] : state_of<partition_owner_state>(i.owner).partitions)
      if (!r.draining) out.push_back(p);
    return out;
  }
  caf::actor consumer_of(instance& i, int32_t p) {
    auto sup = state_of<partition_owner_state>(i.owner).partitions.at(p).actor;
    return state_of<supervisor_state>(sup).child;
  }
};

}  // namespace

TEST_CASE("a partition release runs once, and when dropped uncalled") {
  int n = 0;
  {
    partition_release r{[&n] { ++n; }};
    auto copy = r;
    copy.release();
    r.release();
  }
  CHECK(n == 1);
  { partition_release dropped{[&n] { ++n; }}; }
  CHECK(n == 2);
}

TEST_CASE_FIXTURE(owner_fixture, "assigned partitions are consumed from the committed offset") {
  produce(0, "x", 2);
  produce(1, "y", 3);
  bus.commit("g", "t", 1, 2);  // another instance got this far
  start(a);
  CHECK(a.processed.empty());  // nothing is owned before the group assigns
  assign(a, {0, 1});
  CHECK(owned(a) == std::vector<int32_t>{0, 1});
  CHECK(a.processed == std::vector<std::string>{"0:x@0", "0:x@1", "1:y@2"});
  assign(a, {1});  // assigned again: still one consumer
  CHECK(owned(a) == std::vector<int32_t>{0, 1});
  produce(1, "y");
  run();
  CHECK(a.processed.back() == "1:y@3");
  CHECK(a.processed.size() == 4);
}

TEST_CASE_FIXTURE(owner_fixture,
                  "revoke finishes what is in flight, commits, stops the per-key actors, and only "
                  "then releases") {
  produce(0, "k1");
  produce(0, "k2");
  a.hold = true;
  start(a);
  assign(a, {0, 2});
  REQUIRE(a.processed == std::vector<std::string>{"0:k1@0", "0:k2@1"});
  auto consumer = consumer_of(a, 0);
  auto& cst = state_of<partition_consumer_state>(consumer);
  auto sequencer = cst.sequencer;
  auto worker = state_of<keyed_sequencer_state>(sequencer).keys.at("k1").worker;
  auto sup = state_of<partition_owner_state>(a.owner).partitions.at(0).actor;
  auto w_sup = watch(sup), w_con = watch(consumer), w_seq = watch(sequencer), w_key = watch(worker);

  auto released = revoke(a, {0});
  CHECK_FALSE(*released);
  CHECK(owned(a) == std::vector<int32_t>{2});  // partition 2 keeps running
  produce(0, "k3");                               // not fetched any more: it is not ours
  run();
  CHECK(a.processed.size() == 2);
  a.held.at({0, 1})(nullptr);
  run();
  CHECK_FALSE(*released);  // offset 0 is still in flight
  CHECK_FALSE(bus.committed("g", "t", 0));
  a.held.at({0, 0})(nullptr);
  run();
  CHECK(*released);
  CHECK(bus.committed("g", "t", 0) == 2);
  CHECK(w_sup->exited);
  CHECK(w_con->exited);
  CHECK(w_seq->exited);
  CHECK(w_key->exited);
  CHECK(state_of<partition_owner_state>(a.owner).partitions.count(0) == 0);
}

TEST_CASE_FIXTURE(owner_fixture, "a revoked partition moves to the other instance, each record once") {
  produce(0, "p", 3);
  produce(1, "q", 2);
  start(a);
  start(b);
  assign(a, {0, 1});
  assign(b, {2});
  auto released = revoke(a, {1});
  REQUIRE(*released);  // nothing was in flight
  assign(b, {1});
  produce(1, "q", 2);
  produce(0, "p");
  run();
  CHECK(a.processed ==
        std::vector<std::string>{"0:p@0", "0:p@1", "0:p@2", "1:q@0", "1:q@1", "0:p@3"});
  CHECK(b.processed == std::vector<std::string>{"1:q@2", "1:q@3"});
  CHECK(owned(a) == std::vector<int32_t>{0});
  CHECK(owned(b) == std::vector<int32_t>{1, 2});
}

TEST_CASE_FIXTURE(owner_fixture, "a consumer that does not drain in time is stopped, then released") {
  produce(0, "stuck");
  a.hold = true;
  start(a);
  assign(a, {0});
  auto consumer = consumer_of(a, 0);
  auto w_con = watch(consumer);
  auto w_owner = watch(a.owner);
  auto released = revoke(a, {0});
  advance(release_timeout - 1ms);
  CHECK_FALSE(*released);
  advance(1ms);
  CHECK(*released);
  CHECK(w_con->exited);
  CHECK_FALSE(w_owner->exited);  // the owner lives on for its other partitions
  CHECK_FALSE(bus.committed("g", "t", 0));  // the record is delivered again to the next owner
  assign(a, {0});                           // and may come back here
  CHECK(a.processed == std::vector<std::string>{"0:stuck@0", "0:stuck@0"});
}

TEST_CASE_FIXTURE(owner_fixture, "a partition assigned again while it drains restarts after") {
  produce(0, "k");
  a.hold = true;
  start(a);
  assign(a, {0});
  auto released = revoke(a, {0});
  assign(a, {0});
  CHECK(a.processed.size() == 1);  // not two consumers of one partition at once
  a.held.at({0, 0})(nullptr);
  run();
  CHECK(*released);
  CHECK(owned(a) == std::vector<int32_t>{0});
  produce(0, "k");
  run();
  CHECK(a.processed == std::vector<std::string>{"0:k@0", "0:k@1"});
}

TEST_CASE_FIXTURE(owner_fixture, "a revoke for an owner that is gone releases at once") {
  start(a);
  assign(a, {0});
  auto w = watch(a.owner);
  caf::anon_send(a.owner, drain_atom::value);
  run();
  REQUIRE(w->exited);
  auto released = revoke(a, {0});
  CHECK(*released);
  a.owner = nullptr;
}

TEST_CASE_FIXTURE(owner_fixture, "drain stops every partition's consumer, then the owner") {
  produce(1, "k");
  a.hold = true;
  start(a);
  assign(a, {0, 1, 2});
  auto w = watch(a.owner);
  caf::anon_send(a.owner, drain_atom::value);
  run();
  CHECK_FALSE(w->exited);
  a.held.at({1, 0})(nullptr);
  run();
  CHECK(w->exited);
  CHECK(bus.committed("g", "t", 1) == 1);
  a.owner = nullptr;
}
