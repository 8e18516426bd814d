// batch_state on the deterministic scheduler with a real store and the embedded bus: every
// status x action with its HTTP status, text and notification; what happens to records; the
// completion delay and the stuck timeout on virtual time; resuming from the store; the idle
// offer to the registry.
#include "actors/hri/batch_state.hpp"

#include "batch_fixture.hpp"
#include "core/clock.hpp"

#include <doctest/doctest.h>

#include <map>

namespace actors = medflow::actors;
using namespace medflow::test;
using namespace std::chrono_literals;
using hri::action;
using hri::status;
using nlohmann::json;

namespace {

struct state_fixture : batch_fixture {
  caf::actor probe =
      actors::spawn_without_args<caf::stateful_actor<registry_probe_state>>(*sys, registry_probe);
  using batch_fixture::batch_fixture;
  caf::actor start(const std::string& id) { return spawn_batch(id, probe); }
  registry_probe_state& registry() { return state_of<registry_probe_state>(probe); }
};

struct expected {
  int http;
  std::string text;  // empty: the action is allowed
  const char* next;  // the status afterwards (and of the new notification when allowed)
};

// HRI's management API: which action is allowed in which status, and its refusal's text.
const std::map<std::pair<status, action>, expected> table = {
    {{status::started, action::send_complete}, {200, "", "sendCompleted"}},
    {{status::started, action::terminate}, {200, "", "terminated"}},
    {{status::started, action::processing_complete},
     {409, "processingComplete failed, batch is in 'started' state", "started"}},
    {{status::started, action::fail}, {200, "", "failed"}},
    {{status::send_completed, action::send_complete},
     {409, "sendComplete failed, batch is in 'sendCompleted' state", "sendCompleted"}},
    {{status::send_completed, action::terminate},
     {409, "terminate failed, batch is in 'sendCompleted' state", "sendCompleted"}},
    {{status::send_completed, action::processing_complete}, {200, "", "completed"}},
    {{status::send_completed, action::fail}, {200, "", "failed"}},
    {{status::completed, action::send_complete},
     {409, "sendComplete failed, batch is in 'completed' state", "completed"}},
    {{status::completed, action::terminate},
     {409, "terminate failed, batch is in 'completed' state", "completed"}},
    {{status::completed, action::processing_complete},
     {409, "processingComplete failed, batch is in 'completed' state", "completed"}},
    // HRI fails a completed batch too: only failed and terminated are final.
    {{status::completed, action::fail}, {200, "", "failed"}},
    {{status::failed, action::send_complete},
     {409, "sendComplete failed, batch is in 'failed' state", "failed"}},
    {{status::failed, action::terminate},
     {409, "terminate failed, batch is in 'failed' state", "failed"}},
    {{status::failed, action::processing_complete},
     {409, "processingComplete failed, batch is in 'failed' state", "failed"}},
    {{status::failed, action::fail}, {409, "'fail' failed, batch is in 'failed' state", "failed"}},
    {{status::terminated, action::send_complete},
     {409, "sendComplete failed, batch is in 'terminated' state", "terminated"}},
    {{status::terminated, action::terminate},
     {409, "terminate failed, batch is in 'terminated' state", "terminated"}},
    {{status::terminated, action::processing_complete},
     {409, "processingComplete failed, batch is in 'terminated' state", "terminated"}},
    {{status::terminated, action::fail},
     {409, "'fail' failed, batch is in 'terminated' state", "terminated"}},
};

}  // namespace

TEST_CASE("batch_state: every status x action answers as HRI does, with its notification") {
  for (auto& [key, want] : table) {
    auto [from, a] = key;
    CAPTURE(hri::status_name(from));
    CAPTURE(hri::action_name(a));
    state_fixture f;
    auto id = f.batch_in(from);
    auto before = f.notifications(id).size();
    auto batch = f.start(id);
    f.act(batch, id, a);
    f.settle();
    REQUIRE(f.log->replies.size() == 1);
    CHECK(f.log->replies[0].first == want.http);
    CHECK(f.log->replies[0].second == want.text);
    CHECK(hri::status_name(f.stored(id).st) == std::string(want.next));
    auto notes = f.notifications(id);
    if (want.http != 200) {
      CHECK(notes.size() == before);  // a refusal changes nothing
      continue;
    }
    // One notification per change, carrying the batch as the API returns it.
    REQUIRE(notes.size() == before + 1);
    CHECK(notes.back()["status"] == want.next);
    switch (a) {
      case action::send_complete:
        CHECK(notes.back()["expectedRecordCount"] == 3);
        CHECK_FALSE(notes.back().contains("endDate"));  // the validation job completes it
        break;
      case action::terminate: CHECK(notes.back().contains("endDate")); break;
      case action::processing_complete:
        CHECK(notes.back()["actualRecordCount"] == 3);
        CHECK(notes.back()["invalidRecordCount"] == 0);
        break;
      case action::fail:
        CHECK(notes.back()["failureMessage"] == "stopped by the test");
        CHECK(notes.back()["invalidRecordCount"] == 1);
        break;
    }
  }
}

TEST_CASE("batch_state: roles, ownership and an unknown batch are refused before the status") {
  state_fixture f;
  auto id = f.new_batch();
  auto batch = f.start(id);
  hri::principal consumer{"reader", {hri::scope_consumer}, false};
  f.act(batch, id, f.request(action::send_complete), consumer);
  f.act(batch, id, f.request(action::processing_complete), consumer);
  hri::principal other{"integrator-2", {hri::scope_integrator}, false};
  f.act(batch, id, f.request(action::terminate), other);
  f.settle();
  CHECK(f.log->replies ==
        std::vector<std::pair<int, std::string>>{
            {401, "Must have hri_data_integrator role to initiate sendComplete on a batch"},
            {401, "Must have hri_internal role to mark a batch as processingComplete"},
            {401, "terminate requested by 'integrator-2' but owned by 'integrator-1'"}});
  CHECK(f.statuses(id) == std::vector<std::string>{"started"});

  auto none = f.start("no-such-batch");
  f.act(none, "no-such-batch", action::terminate);
  f.settle();
  CHECK(f.log->replies.back() ==
        std::pair<int, std::string>{404, "error getting current Batch Status: The document for "
                                         "tenantId: t1 with document (batch) ID: no-such-batch "
                                         "was not found"});
}

TEST_CASE("batch_state: records are forwarded, rejected, counted once, and completed after "
          "their commit") {
  state_fixture f;
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.record(batch, id, 0, 1, false);  // not a FHIR bundle
  f.record(batch, id, 1, 0);
  f.record(batch, id, 0, 0);  // delivered again after a crash
  CHECK(f.log->dones.empty());
  f.settle();
  CHECK(f.log->dones ==
        std::vector<std::pair<int64_t, bool>>{{0, true}, {1, true}, {0, true}, {0, true}});
  auto out = f.values("ingest.t1.s1.out");
  CHECK(out.size() == 2);
  for (auto& v : out) CHECK(v == json::parse(fhir_bundle));
  auto invalid = f.values("ingest.t1.s1.invalid");
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0]["batchId"] == id);
  CHECK(invalid[0]["partition"] == 0);
  CHECK(invalid[0]["offset"] == 1);
  auto b = f.stored(id);
  CHECK(b.valid_count == 2);
  CHECK(b.invalid_count == 1);
  CHECK(b.seen_offsets == std::map<std::string, int64_t>{{"ingest.t1.s1.in/0", 1},
                                                         {"ingest.t1.s1.in/1", 0}});
  // A new actor for the batch (after a restart) recognises the redelivery from the store.
  auto again = f.start(id);
  f.record(again, id, 0, 1, false);
  f.settle();
  CHECK(f.values("ingest.t1.s1.invalid").size() == 1);
  CHECK(f.stored(id).invalid_count == 1);
}

TEST_CASE("batch_state: sendComplete with every record in completes after the delay, on "
          "virtual time") {
  state_fixture f(1000);
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.record(batch, id, 1, 0, false);
  f.act(batch, id, f.send_complete(2), f.integrator);
  f.settle();
  CHECK(f.log->replies.back().first == 200);
  CHECK(f.statuses(id) == std::vector<std::string>{"started", "sendCompleted"});
  f.advance(999ms);
  CHECK(f.stored(id).st == status::send_completed);
  f.advance(1ms);
  CHECK(f.stored(id).st == status::completed);
  auto notes = f.notifications(id);
  REQUIRE(notes.size() == 3);
  CHECK(notes[2]["status"] == "completed");
  CHECK(notes[2]["actualRecordCount"] == 2);
  CHECK(notes[2]["invalidRecordCount"] == 1);
  CHECK(notes[2]["endDate"] == medflow::clock::iso8601(batch_fixture::t0 + 1000));
}

TEST_CASE("batch_state: a record beyond the expected count within the delay fails the batch") {
  state_fixture f(1000);
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.act(batch, id, f.send_complete(1), f.integrator);
  f.settle();
  f.advance(500ms);
  f.record(batch, id, 0, 1);
  f.settle();
  CHECK(f.stored(id).st == status::failed);
  CHECK(f.notifications(id).back()["failureMessage"] ==
        "Failing batch: " + id + ", received too many records, actualRecordCount: 2 > "
                                 "expectedRecordCount: 1");
  f.advance(1000ms);  // the completion that was due is not applied any more
  CHECK(f.statuses(id) == std::vector<std::string>{"started", "sendCompleted", "failed"});
}

TEST_CASE("batch_state: a batch still missing records fails at the stuck timeout") {
  state_fixture f(1000, 2000);
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.act(batch, id, f.send_complete(3), f.integrator);
  f.settle();
  f.advance(1999ms);
  CHECK(f.stored(id).st == status::send_completed);
  f.advance(1ms);
  CHECK(f.stored(id).st == status::failed);
  auto last = f.notifications(id).back();
  CHECK(last["failureMessage"] == "Failing batch: " + id +
                                      ", only 1 of 3 expected records arrived within 2000 ms "
                                      "after sendComplete");
  CHECK(last["actualRecordCount"] == 1);
}

TEST_CASE("batch_state: an actor started later resumes a completion from the store") {
  state_fixture f(1000);
  auto id = f.batch_in(status::send_completed);
  auto b = f.stored(id);
  b.valid_count = 3;  // every expected record arrived before the previous actor went away
  f.put(b);
  f.advance(400ms);
  f.start(id);
  CHECK(f.stored(id).st == status::send_completed);
  f.advance(599ms);
  CHECK(f.stored(id).st == status::send_completed);
  f.advance(1ms);
  CHECK(f.stored(id).st == status::completed);
  // One whose delay passed while no actor ran completes at once.
  auto late = f.batch_in(status::send_completed);
  auto lb = f.stored(late);
  lb.valid_count = 3;
  lb.status_changed_ms = f.now() - 5000;
  f.put(lb);
  f.start(late);
  CHECK(f.stored(late).st == status::completed);
}

TEST_CASE("batch_state: idle for 30 s with nothing held, it offers itself to the registry "
          "with its message count") {
  state_fixture f;
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.act(batch, id, action::terminate);
  f.settle();
  f.advance(29s);
  CHECK(f.registry().idle.empty());
  f.advance(1s);
  CHECK(f.registry().idle == std::vector<std::pair<std::string, uint64_t>>{{"t1/" + id, 2}});
}

TEST_CASE("batch_state: a pending completion delay keeps it from offering itself") {
  state_fixture f(60000);
  auto id = f.new_batch();
  auto batch = f.start(id);
  f.record(batch, id, 0, 0);
  f.act(batch, id, f.send_complete(1), f.integrator);
  f.settle();
  f.advance(59s);
  CHECK(f.registry().idle.empty());
  f.advance(1s);  // completed now
  CHECK(f.stored(id).st == status::completed);
  f.advance(30s);
  CHECK(f.registry().idle.size() == 1);
}

TEST_CASE("batch_state: drain commits what it holds, then stops") {
  state_fixture f;
  auto id = f.new_batch();
  auto batch = f.start(id);
  auto rec = f.watch(batch);
  f.turns->hold();
  f.record(batch, id, 0, 0);
  caf::anon_send(batch, actors::drain_atom::value);
  f.sched->run();
  CHECK_FALSE(rec->exited);  // its commit is still with the writer
  f.turns->release();
  f.settle();
  CHECK(rec->exited);
  CHECK_FALSE(rec->reason);
  CHECK(f.log->dones == std::vector<std::pair<int64_t, bool>>{{0, true}});
  CHECK(f.values("ingest.t1.s1.out").size() == 1);
}
