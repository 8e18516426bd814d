#include "actors/keyed_sequencer.hpp"

#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

// Handlers that record which records started and keep their completions for the test to fire.
struct recording_handlers {
  std::vector<std::string> started;  // "key@offset"
  std::map<int64_t, done_fn> pending;
  std::set<int64_t> throw_on;

  std::shared_ptr<record_handlers> make() {
    auto h = std::make_shared<record_handlers>();
    h->key_of = [](const bus::record& r) { return *r.key; };
    h->process = [this](const bus::record& r, done_fn done) {
      if (throw_on.count(r.offset)) throw std::runtime_error("handler exploded");
      started.push_back(*r.key + "@" + std::to_string(r.offset));
      pending[r.offset] = std::move(done);
    };
    h->dead_letter = [this](const bus::record& r, const std::string& why, done_fn done) {
      started.push_back("dead:" + *r.key + "@" + std::to_string(r.offset));
      done(nullptr);
    };
    return h;
  }
  void complete(int64_t offset) {
    auto fn = std::move(pending.at(offset));
    pending.erase(offset);
    fn(nullptr);
  }
};

struct seq_fixture : test::actor_fixture {
  recording_handlers rh;
  std::shared_ptr<test::owner_log> owner_log = std::make_shared<test::owner_log>();
  caf::actor owner;
  caf::actor seq;

  void start(sequencer_limits limits) {
    owner = sys->spawn(test::owner_probe, owner_log);
    seq = sys->spawn(keyed_sequencer, std::shared_ptr<const record_handlers>(rh.make()), owner,
                     limits, "test");
    run();
  }
  void dispatch(const std::string& key, int64_t offset) {
    work_item item;
    item.rec.key = key;
    item.rec.offset = offset;
    caf::anon_send(seq, dispatch_atom::value, key, std::move(item));
  }
  void complete(int64_t offset) {
    rh.complete(offset);
    run();
  }
  keyed_sequencer_state& st() { return state_of<keyed_sequencer_state>(seq); }

  // The sequencer and its live key workers hold handles of one another: left alive (the
  // fixture's system does not wait for actors), they would never be freed (LeakSanitizer in
  // the sanitized run). Killing the sequencer takes its workers along, as in production.
  ~seq_fixture() {
    if (seq) caf::anon_send_exit(seq, caf::exit_reason::kill);
    if (owner) caf::anon_send_exit(owner, caf::exit_reason::kill);
    run();
  }
};

sequencer_limits limits(size_t max_keys = 100) {
  sequencer_limits l;
  l.max_keys = max_keys;
  l.idle = 1000ms;
  return l;
}

}  // namespace

TEST_CASE_FIXTURE(seq_fixture, "one key is handled one record at a time, keys in parallel") {
  start(limits());
  dispatch("a", 0);
  dispatch("a", 1);
  dispatch("b", 2);
  dispatch("a", 3);
  run();
  // a@0 and b@2 run at once; a@1 waits for a@0's completion.
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@2"});
  complete(2);
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@2"});
  complete(0);
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@2", "a@1"});
  complete(1);
  complete(3);
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@2", "a@1", "a@3"});
  CHECK(owner_log->done == std::vector<int64_t>{2, 0, 1, 3});
  CHECK(owner_log->failed.empty());
}

TEST_CASE_FIXTURE(seq_fixture, "idle key workers are reclaimed; a late record gets a new one") {
  start(limits());
  dispatch("a", 0);
  run();
  complete(0);
  CHECK(st().keys.size() == 1);
  advance(999ms);
  CHECK(st().keys.size() == 1);
  advance(1ms);
  CHECK(st().keys.size() == 0);
  CHECK(st().reclaimed == 1);
  dispatch("a", 1);
  run();
  CHECK(rh.started.back() == "a@1");
  CHECK(st().spawned == 2);
}

TEST_CASE_FIXTURE(seq_fixture, "activity postpones reclaiming") {
  start(limits());
  dispatch("a", 0);
  run();
  complete(0);
  advance(600ms);
  dispatch("a", 1);
  run();
  advance(600ms);  // the first timer fires now but the key was used since
  CHECK(st().keys.size() == 1);
  complete(1);
  advance(1000ms);
  CHECK(st().keys.size() == 0);
}

TEST_CASE_FIXTURE(seq_fixture, "each idle key is reclaimed at its own time by one timer") {
  start(limits());
  dispatch("a", 0);
  dispatch("b", 1);
  run();
  complete(0);  // a idle at t=0
  advance(300ms);
  dispatch("b", 2);
  dispatch("b", 3);
  run();
  complete(1);
  complete(2);
  complete(3);  // b idle at t=300, after three records
  CHECK(st().sweep_pending);
  CHECK(sched->clock().schedule().size() == 1);  // one timer, not one per handled record
  advance(699ms);
  CHECK(st().keys.size() == 2);
  advance(1ms);  // t=1000: a only
  CHECK(st().keys.count("a") == 0);
  CHECK(st().keys.count("b") == 1);
  CHECK(st().sweep_pending);  // re-armed for b
  advance(299ms);
  CHECK(st().keys.count("b") == 1);
  advance(1ms);  // t=1300
  CHECK(st().keys.empty());
  CHECK(st().reclaimed == 2);
  CHECK_FALSE(st().sweep_pending);  // nothing idle, no timer
}

TEST_CASE_FIXTURE(seq_fixture, "live workers are bounded: new keys wait for a slot, in order") {
  start(limits(2));
  dispatch("a", 0);
  dispatch("b", 1);
  dispatch("c", 2);  // no slot: a and b are busy
  dispatch("c", 3);
  dispatch("a", 4);  // a has a worker: not blocked by c
  run();
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@1"});
  CHECK(st().waiting.size() == 2);
  complete(1);  // b becomes idle and is reclaimed for c
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@1", "c@2"});
  CHECK(st().keys.size() == 2);
  CHECK(st().keys.count("b") == 0);
  complete(0);
  CHECK(rh.started == std::vector<std::string>{"a@0", "b@1", "c@2", "a@4"});
  complete(2);
  CHECK(rh.started.back() == "c@3");
  CHECK(st().waiting.empty());
}

TEST_CASE_FIXTURE(seq_fixture, "a throwing handler is reported with its offset and reason") {
  start(limits());
  rh.throw_on = {1};
  dispatch("a", 0);
  dispatch("a", 1);
  dispatch("b", 2);
  run();
  complete(0);  // now a@1 starts and throws
  REQUIRE(owner_log->failed.size() == 1);
  CHECK(owner_log->failed[0].first == 1);
  CHECK(owner_log->failed[0].second == "key a: handler exploded");
  CHECK(st().keys.count("a") == 0);
  complete(2);  // other keys go on
  CHECK(owner_log->done == std::vector<int64_t>{0, 2});
}

TEST_CASE_FIXTURE(seq_fixture, "a completion with an error is a failure too") {
  start(limits());
  dispatch("a", 0);
  run();
  auto fn = std::move(rh.pending.at(0));
  fn(std::make_exception_ptr(std::runtime_error("commit failed")));
  run();
  REQUIRE(owner_log->failed.size() == 1);
  CHECK(owner_log->failed[0] == std::make_pair(int64_t{0}, std::string("key a: commit failed")));
}

TEST_CASE_FIXTURE(seq_fixture, "dead-letter items go through the key's order too") {
  start(limits());
  dispatch("a", 0);
  work_item dl;
  dl.rec.key = "a";
  dl.rec.offset = 1;
  dl.dead_letter = true;
  dl.reason = "poison";
  caf::anon_send(seq, dispatch_atom::value, std::string("a"), std::move(dl));
  run();
  CHECK(rh.started == std::vector<std::string>{"a@0"});
  complete(0);
  CHECK(rh.started == std::vector<std::string>{"a@0", "dead:a@1"});
  CHECK(owner_log->done == std::vector<int64_t>{0, 1});
}

TEST_CASE_FIXTURE(seq_fixture, "a sequencer that is killed takes its key workers along") {
  start(limits());
  dispatch("a", 0);
  run();
  auto worker_rec = watch(st().keys.at("a").worker);
  auto seq_rec = watch(seq);
  caf::anon_send_exit(seq, caf::exit_reason::kill);
  run();
  CHECK(seq_rec->exited);
  CHECK(worker_rec->exited);
}

TEST_CASE_FIXTURE(seq_fixture, "an owner ending normally takes the sequencer and its live workers along") {
  // A worker that has handled its record stays alive (idle, until reclaimed). Linked actors
  // ignore a normal exit, so without an explicit one it would outlive its sequencer, and a
  // reference to it held elsewhere (here: the test's handle) would keep the actor system's
  // shutdown waiting for it.
  start(limits());
  dispatch("a", 0);
  run();
  rh.complete(0);
  run();
  REQUIRE(st().keys.at("a").idle);
  caf::actor worker = st().keys.at("a").worker;
  auto worker_rec = watch(worker);
  auto seq_rec = watch(seq);
  // What the link to the partition consumer delivers when the consumer quits after a drain.
  caf::anon_send(seq, caf::exit_msg{owner.address(), caf::error{}});
  run();
  CHECK(seq_rec->exited);
  CHECK(worker_rec->exited);
}

TEST_CASE_FIXTURE(seq_fixture, "after a failure nothing more starts, not even the failed key's next") {
  start(limits());
  rh.throw_on = {0};
  dispatch("a", 0);
  run();
  REQUIRE(owner_log->failed.size() == 1);
  // The owner has not reacted yet; records already on their way must not overtake offset 0.
  dispatch("a", 1);
  dispatch("b", 2);
  run();
  CHECK(rh.started.empty());
  CHECK(owner_log->done.empty());
}
