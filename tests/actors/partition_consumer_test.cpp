#include "actors/partition_consumer.hpp"

#include "support/actor_fixture.hpp"
#include "support/memory_log.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

struct consumer_fixture : test::actor_fixture {
  test::memory_log bus;
  std::vector<std::string> processed;  // "key@offset"
  std::vector<std::string> dead;       // "offset:reason"
  std::map<int64_t, done_fn> pending;
  bool hold = false;                   // keep completions for the test to fire
  std::set<int64_t> poison;            // offsets whose handler throws
  bool all_at_once = false;            // record_handlers::process_all instead of process
  std::vector<size_t> calls;           // process_all: records per call
  record_handlers::order mode = record_handlers::order::by_key;
  std::shared_ptr<attempt_tracker> attempts = std::make_shared<attempt_tracker>();
  caf::actor consumer;

  consumer_fixture() { bus.create_topic("t", 1); }
  // The consumer ends while `bus`, which its watch handle unregisters from, still exists.
  ~consumer_fixture() {
    if (consumer) caf::anon_send_exit(consumer, caf::exit_reason::kill);
    run();
  }

  std::shared_ptr<const record_handlers> handlers() {
    auto h = std::make_shared<record_handlers>();
    h->mode = mode;
    h->key_of = [](const bus::record& r) {
      if (!r.key) throw std::runtime_error("no key");
      return *r.key;
    };
    h->process = [this](const bus::record& r, done_fn done) {
      if (poison.count(r.offset)) throw std::runtime_error("poison at " + std::to_string(r.offset));
      processed.push_back(r.key.value_or("-") + "@" + std::to_string(r.offset));
      if (hold) pending[r.offset] = std::move(done);
      else done(nullptr);
    };
    h->dead_letter = [this](const bus::record& r, const std::string& why, done_fn done) {
      dead.push_back(std::to_string(r.offset) + ":" + why);
      done(nullptr);
    };
    if (all_at_once) {
      auto one = h->process;
      h->process = nullptr;  // never called then
      h->process_all = [this, one](std::vector<std::pair<bus::record, done_fn>> records) {
        calls.push_back(records.size());
        for (auto& [r, done] : records) one(r, std::move(done));
      };
    }
    return h;
  }

  void start(size_t fetch_max = 100, int max_attempts = 3) {
    consumer_config c;
    c.group = "g";
    c.topic = "t";
    c.partition = 0;
    c.fetch_max = fetch_max;
    c.max_attempts = max_attempts;
    c.limits.idle = 1000ms;
    consumer = sys->spawn(partition_consumer, c, static_cast<bus::log*>(&bus), handlers(), attempts);
    run();
  }
  void produce(const std::string& key, int n = 1) {
    for (int i = 0; i < n; ++i) bus.append({{"t", key, "v", {}, 0}});
  }
  void produce_unkeyed() { bus.append({{"t", std::nullopt, "v", {}, 0}}); }
};

}  // namespace

TEST_CASE_FIXTURE(consumer_fixture, "commits only up to the first record that is not done") {
  produce("a", 2);
  produce("b", 1);
  hold = true;
  start();
  CHECK(processed == std::vector<std::string>{"a@0", "b@2"});
  CHECK(bus.commit_log.empty());
  pending.at(2)(nullptr);
  run();
  CHECK(bus.commit_log.empty());  // 0 and 1 are still out
  pending.at(0)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{1});  // 1 is still out
  pending.at(1)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{1, 3});
  CHECK(bus.committed("g", "t", 0) == 3);
}

TEST_CASE_FIXTURE(consumer_fixture, "commits are spaced by the commit interval") {
  produce("a", 3);
  hold = true;
  consumer_config c;
  c.group = "g";
  c.topic = "t";
  c.commit_interval = 100ms;
  consumer = sys->spawn(partition_consumer, c, static_cast<bus::log*>(&bus), handlers(), attempts);
  run();
  pending.at(0)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{1});  // the first commit goes at once
  pending.at(1)(nullptr);
  run();
  pending.at(2)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{1});  // the next waits for the interval...
  advance(100ms);
  CHECK(bus.commit_log == std::vector<int64_t>{1, 3});  // ...and covers both records
}

TEST_CASE_FIXTURE(consumer_fixture, "the next batch runs while a slow record holds the commit") {
  produce("slow", 1);
  produce("b", 1);
  hold = true;
  start(1);  // batches of one record
  produce("c", 1);
  run();
  CHECK(processed == std::vector<std::string>{"slow@0", "b@1", "c@2"});
  pending.at(1)(nullptr);
  pending.at(2)(nullptr);
  run();
  CHECK(bus.commit_log.empty());
  pending.at(0)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{3});
}

TEST_CASE_FIXTURE(consumer_fixture, "new records wake the consumer; batches respect fetch_max") {
  start(2);
  CHECK(processed.empty());
  produce("a", 5);  // the watch wakes it at once
  run();
  CHECK(processed.size() == 5);
  CHECK(bus.committed("g", "t", 0) == 5);
  CHECK(std::is_sorted(bus.commit_log.begin(), bus.commit_log.end()));
  auto& st = state_of<partition_consumer_state>(consumer);
  CHECK(st.m_batches->value() >= 3);  // at most two records per fetch
}

TEST_CASE_FIXTURE(consumer_fixture, "a restarted consumer resumes at the committed offset") {
  produce("a", 3);
  bus.commit("g", "t", 0, 2);
  start();
  CHECK(processed == std::vector<std::string>{"a@2"});
}

TEST_CASE_FIXTURE(consumer_fixture, "a failing record stops the consumer; the batch is redelivered; "
                                     "after max attempts it is dead-lettered and the key goes on") {
  produce("a", 1);  // offset 0
  produce("b", 1);  // offset 1: poison
  produce("b", 1);  // offset 2: same key, after the poison
  poison = {1};
  start(100, 2);
  auto rec = watch(consumer);
  CHECK(rec->exited);
  CHECK(describe(rec->reason).find("t/0 offset 1 failed (attempt 1): key b: poison at 1") !=
        std::string::npos);
  CHECK(bus.commit_log == std::vector<int64_t>{1});  // a@0 was done before the failure
  CHECK(attempts->attempts(1) == 1);
  start(100, 2);  // what the supervisor does
  CHECK(attempts->attempts(1) == 2);
  start(100, 2);
  // Third delivery: offset 1 is dead-lettered and b@2 still runs after it.
  CHECK(dead.size() == 1);
  CHECK(dead[0].rfind("1:failed 2 attempts; last: key b: poison at 1", 0) == 0);
  CHECK(processed.back() == "b@2");
  CHECK(bus.committed("g", "t", 0) == 3);
  CHECK(attempts->attempts(1) == 0);  // forgotten once committed
}

TEST_CASE_FIXTURE(consumer_fixture, "a record whose key cannot be read is dead-lettered at once") {
  produce_unkeyed();
  produce("a", 1);
  start();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0] == "0:cannot read the record's key: no key");
  CHECK(processed == std::vector<std::string>{"a@1"});
  CHECK(bus.committed("g", "t", 0) == 2);
}

TEST_CASE_FIXTURE(consumer_fixture, "drain finishes the batch in flight, commits it, and stops") {
  SUBCASE("by key") { mode = record_handlers::order::by_key; }
  SUBCASE("in log order") { mode = record_handlers::order::in_log_order; }
  produce("a", 2);
  hold = true;
  start();
  auto rec = watch(consumer);
  caf::anon_send(consumer, drain_atom::value);
  run();
  CHECK_FALSE(rec->exited);
  produce("a", 1);  // not fetched any more
  run();
  pending.at(0)(nullptr);
  run();
  pending.at(1)(nullptr);
  run();
  CHECK(rec->exited);
  CHECK_FALSE(rec->reason);
  CHECK(bus.commit_log == std::vector<int64_t>{1, 2});
  CHECK(processed.size() == 2);
}

TEST_CASE_FIXTURE(consumer_fixture, "a bus that cannot be read fails the consumer for a restart") {
  bus.fail_fetch = true;
  start();
  auto rec = watch(consumer);
  CHECK(rec->exited);
  CHECK(describe(rec->reason) == "fetch t/0 failed: bus down");
}

TEST_CASE_FIXTURE(consumer_fixture, "the safety-net tick fetches even without a wake") {
  start();
  auto before = bus.fetches;
  advance(1000ms);
  CHECK(bus.fetches > before);
}

// -- record_handlers::order::in_log_order (HRI: the batch actors keep the order) ----------------

TEST_CASE_FIXTURE(consumer_fixture, "in log order: every record is handed over at once, no key "
                                     "is read, and the commit waits for the first not done") {
  mode = record_handlers::order::in_log_order;
  produce("a", 2);
  produce_unkeyed();  // no key to read: not a dead letter in this mode
  produce("b", 1);
  hold = true;
  start();
  CHECK(processed == std::vector<std::string>{"a@0", "a@1", "-@2", "b@3"});
  CHECK(dead.empty());
  CHECK(state_of<partition_consumer_state>(consumer).sequencer == nullptr);
  pending.at(1)(nullptr);  // a later record of the same key may finish first
  pending.at(3)(nullptr);
  run();
  CHECK(bus.commit_log.empty());
  pending.at(0)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{2});
  pending.at(2)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{2, 4});
}

TEST_CASE_FIXTURE(consumer_fixture, "in log order: a throwing handler stops the consumer before "
                                     "the rest of the batch; after max attempts, a dead letter") {
  mode = record_handlers::order::in_log_order;
  produce("a", 3);
  poison = {1};
  start(100, 2);
  auto rec = watch(consumer);
  CHECK(rec->exited);
  CHECK(describe(rec->reason).find("t/0 offset 1 failed (attempt 1): poison at 1") !=
        std::string::npos);
  // a@2 was not handed over; a@0's completion came after the failure: nothing committed, so
  // a@0 is delivered again (its handler, like every in-order one, must be idempotent).
  CHECK(processed == std::vector<std::string>{"a@0"});
  CHECK_FALSE(bus.committed("g", "t", 0));
  start(100, 2);
  CHECK(attempts->attempts(1) == 2);
  start(100, 2);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].rfind("1:failed 2 attempts; last: poison at 1", 0) == 0);
  CHECK(processed == std::vector<std::string>{"a@0", "a@0", "a@0", "a@2"});
  CHECK(bus.committed("g", "t", 0) == 3);
}

TEST_CASE_FIXTURE(consumer_fixture, "in log order, all at once: a fetch's records in one call, "
                                     "their completions taken together") {
  mode = record_handlers::order::in_log_order;
  all_at_once = true;
  produce("a", 3);
  produce_unkeyed();
  produce("b", 1);
  hold = true;
  start();
  CHECK(calls == std::vector<size_t>{5});
  CHECK(processed == std::vector<std::string>{"a@0", "a@1", "a@2", "-@3", "b@4"});
  // Completions from another thread (the store writer's), most of them before the consumer
  // runs: one message for those, and the commit waits for the first not done, as before.
  pending.at(1)(nullptr);
  pending.at(0)(nullptr);
  pending.at(4)(nullptr);
  CHECK(state_of<partition_consumer_state>(consumer).pending.size() == 5);  // not taken yet
  run();
  CHECK(state_of<partition_consumer_state>(consumer).pending == std::set<int64_t>{2, 3});
  CHECK(bus.commit_log == std::vector<int64_t>{2});
  pending.at(3)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{2});
  pending.at(2)(nullptr);
  run();
  CHECK(bus.commit_log == std::vector<int64_t>{2, 5});
  // The next fetch is another call.
  produce("c", 2);
  run();
  CHECK(calls == std::vector<size_t>{5, 2});
}

TEST_CASE_FIXTURE(consumer_fixture, "in log order, all at once: a dead letter splits the call "
                                     "and keeps its place; a throw fails the call's first record") {
  mode = record_handlers::order::in_log_order;
  all_at_once = true;
  produce("a", 4);
  poison = {2};
  start(100, 2);
  // The call with offsets 0 - 3 threw at 2 (after 0 and 1 were handled): the first record of
  // the call failed, and the consumer stopped.
  CHECK(attempts->attempts(0) == 1);
  start(100, 2);
  CHECK(attempts->attempts(0) == 2);
  poison.clear();
  start(100, 2);
  // 0 went to the dead letter handler in its place, the rest in one call after it.
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].rfind("0:failed 2 attempts", 0) == 0);
  CHECK(calls.back() == 3);
  CHECK(processed.back() == "a@3");
  CHECK(bus.committed("g", "t", 0) == 4);
}

TEST_CASE_FIXTURE(consumer_fixture, "in log order: a completion with an error fails the record") {
  mode = record_handlers::order::in_log_order;
  produce("a", 2);
  hold = true;
  start();
  auto rec = watch(consumer);
  pending.at(0)(std::make_exception_ptr(std::runtime_error("commit failed")));
  run();
  CHECK(rec->exited);
  CHECK(describe(rec->reason).find("t/0 offset 0 failed (attempt 1): commit failed") !=
        std::string::npos);
  CHECK(bus.commit_log.empty());
  CHECK(attempts->attempts(0) == 1);
}
