// The per-subscription actor on the deterministic scheduler, over the real subscription service
// (embedded bus, SQLite): long-poll sinks answered when a matching record lands (not for one
// that does not match) or empty when their wait ends; the cap on waiting sinks; webhook delivery
// in order with backoff, the durable position after a 2xx, the dead letter after max_attempts;
// a receiver that never answers holds up no other subscription; delete answers 404; the hub's
// supervisor restarts a failed actor.
#include "actors/resource_events/subscription_hub.hpp"

#include "bus/embedded_log.hpp"
#include "core/health.hpp"
#include "support/actor_fixture.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"
#include "support/writer_turns.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;
namespace re = medflow::flows::resource_events;
using nlohmann::json;

namespace {

struct call {
  net::http_client::request req;
  std::function<void(net::http_client::response)> done;
};

struct sub_fixture : test::actor_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<bus::embedded_log> bus;
  std::unique_ptr<re::subscription_service> svc;
  std::unique_ptr<test::writer_turns> turns;
  std::shared_ptr<subscription_deps> deps = std::make_shared<subscription_deps>();
  std::deque<call> calls;  // webhook calls out, oldest first
  std::vector<caf::actor> actors;

  sub_fixture() {
    db = test::open_database(dir.file("re.db"),
                             {bus::embedded_log::migrations(), re::migrations()});
    bus = std::make_unique<bus::embedded_log>(*db);
    svc = std::make_unique<re::subscription_service>(*db, *bus);
    svc->create_topics();
    bus->create_topic("ehealth-careplan", 2);
    turns = std::make_unique<test::writer_turns>(db->write());
    deps->svc = svc.get();
    deps->bus = bus.get();
    deps->settings.max_wait_ms = 5000;
    deps->settings.max_waiting = 2;
    deps->settings.backoff_initial = 100ms;
    deps->settings.backoff_max = 400ms;
    deps->settings.max_attempts = 3;
    deps->post = [this](net::http_client::request r,
                        std::function<void(net::http_client::response)> done) {
      calls.push_back({std::move(r), std::move(done)});
    };
  }
  ~sub_fixture() {
    // The actors end (and drop their watches) while the bus still exists.
    for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::kill);
    run();
    calls.clear();
    turns.reset();
    db->close();
  }

  std::string create(const json& body) {
    auto r = svc->create(body);
    REQUIRE_MESSAGE(r.ok(), body.dump());
    return r->at("id").get<std::string>();
  }
  caf::actor spawn(const std::string& id) {
    auto a = sys->spawn(subscription, id, std::shared_ptr<const subscription_deps>(deps));
    actors.push_back(a);
    turn();
    return a;
  }
  // The scheduler runs while the writer waits, then the writer commits what the actors
  // submitted (its completions queue messages for the next turn).
  void turn() {
    turns->hold();
    run();
    turns->release();
    run();
  }
  void append(const std::string& event_type, const std::string& value, int32_t partition = 0) {
    bus->append({bus::message{"ehealth-careplan", std::nullopt, value,
                              {{"eventType", event_type}, {"patientReference", "Patient/1"}},
                              partition}});
  }
  // A shared store: the actors may post only while *ours (the lease); returns the id of a new
  // webhook subscription on ehealth-careplan.
  std::string shared_webhook(std::shared_ptr<bool> ours) {
    deps->may_post = [ours] { return *ours; };
    return create({{"topic", "ehealth-careplan"},
                   {"delivery", {{"mode", "webhook"}, {"url", "http://127.0.0.1:9/hook"}}}});
  }
  // Answers the oldest webhook call.
  void answer(int status) {
    REQUIRE_FALSE(calls.empty());
    auto c = std::move(calls.front());
    calls.pop_front();
    net::http_client::response res;
    res.result = net::http_client::response::outcome::ok;
    res.status = status;
    c.done(res);
    turn();
  }
};

// A sink that records its one answer.
struct sink {
  std::shared_ptr<std::optional<re::pull_batch>> got =
      std::make_shared<std::optional<re::pull_batch>>();
  std::shared_ptr<pull_request> request(int64_t wait_ms, std::size_t max = 10) {
    auto g = got;
    return std::make_shared<pull_request>(std::nullopt, max, wait_ms,
                                          [g](re::pull_batch b) { *g = std::move(b); });
  }
  // From the positions `from` (a stream's next request).
  std::shared_ptr<pull_request> request_from(re::positions from, int64_t wait_ms) {
    auto g = got;
    return std::make_shared<pull_request>(std::move(from), 10, wait_ms,
                                          [g](re::pull_batch b) { *g = std::move(b); });
  }
};

std::vector<json> bodies(const re::pull_batch& b) {
  std::vector<json> out;
  for (const auto& e : b.events) out.push_back(json::parse(e).at("body"));
  return out;
}

}  // namespace

TEST_CASE_FIXTURE(sub_fixture, "long poll: answered when a matching record lands, not before") {
  auto id = create({{"topic", "ehealth-careplan"}, {"selector", "eventType = 'create'"}});
  auto a = spawn(id);
  sink s;
  caf::anon_send(a, pull_atom::value, s.request(3000));
  turn();
  CHECK_FALSE(s.got->has_value());  // nothing yet: it waits
  append("update", R"({"n":1})");
  turn();
  CHECK_FALSE(s.got->has_value());  // woken, but nothing matches
  append("create", R"({"n":2})", 1);
  turn();
  REQUIRE(s.got->has_value());
  REQUIRE_FALSE((*s.got)->err);
  CHECK(bodies(**s.got) == std::vector<json>{{{"n", 2}}});
  // The batch's position is past everything read: a stream asking from there waits again.
  sink next;
  caf::anon_send(a, pull_atom::value,
                 std::make_shared<pull_request>((*s.got)->next, 10, 1000,
                                                [g = next.got](re::pull_batch b) { *g = std::move(b); }));
  turn();
  CHECK_FALSE(next.got->has_value());
  advance(1000ms);
  REQUIRE(next.got->has_value());
  CHECK((*next.got)->events.empty());
  // Unacked, a pull from the acked position gets the event again, at once.
  sink again;
  caf::anon_send(a, pull_atom::value, again.request(0));
  turn();
  REQUIRE(again.got->has_value());
  CHECK(bodies(**again.got) == std::vector<json>{{{"n", 2}}});
}

TEST_CASE_FIXTURE(sub_fixture, "long poll: the wait ends empty; at most max_waiting sinks wait") {
  auto id = create({{"topic", "ehealth-careplan"}});
  auto a = spawn(id);
  sink s1, s2, s3;
  caf::anon_send(a, pull_atom::value, s1.request(100000));  // capped at max_wait_ms (5000)
  caf::anon_send(a, pull_atom::value, s2.request(2000));
  caf::anon_send(a, pull_atom::value, s3.request(2000));
  turn();
  REQUIRE(s3.got->has_value());
  REQUIRE((*s3.got)->err);
  CHECK((*s3.got)->err->status == 429);
  advance(2000ms);
  REQUIRE(s2.got->has_value());
  CHECK((*s2.got)->events.empty());
  CHECK_FALSE(s1.got->has_value());
  advance(3000ms);
  REQUIRE(s1.got->has_value());
  CHECK((*s1.got)->events.empty());
  CHECK_FALSE((*s1.got)->err);
}

TEST_CASE_FIXTURE(sub_fixture, "delete: waiting sinks get 404 and the actor stops") {
  auto id = create({{"topic", "ehealth-careplan"}});
  auto a = spawn(id);
  auto exit = watch(a);
  sink s;
  caf::anon_send(a, pull_atom::value, s.request(3000));
  turn();
  caf::anon_send(a, deleted_atom::value);
  turn();
  REQUIRE(s.got->has_value());
  REQUIRE((*s.got)->err);
  CHECK((*s.got)->err->status == 404);
  CHECK(exit->exited);
}

TEST_CASE_FIXTURE(sub_fixture, "a request dropped unanswered answers 503 itself") {
  sink s;
  { auto r = s.request(0); }
  REQUIRE(s.got->has_value());
  REQUIRE((*s.got)->err);
  CHECK((*s.got)->err->status == 503);
}

TEST_CASE_FIXTURE(sub_fixture, "webhook: in order, retried with backoff, position durable after 2xx") {
  auto id = create({{"topic", "ehealth-careplan"},
                    {"selector", "eventType = 'create'"},
                    {"delivery", {{"mode", "webhook"}, {"url", "http://127.0.0.1:9/hook"}}}});
  append("create", R"({"n":1})");
  append("update", R"({"n":2})");
  append("create", R"({"n":3})");
  auto a = spawn(id);
  REQUIRE(calls.size() == 1);  // one call at a time
  CHECK(calls[0].req.url == "http://127.0.0.1:9/hook");
  CHECK(calls[0].req.body == R"({"n":1})");
  auto has = [](const net::http_client::request& r, const std::string& k, const std::string& v) {
    for (const auto& h : r.headers)
      if (h.first == k && h.second == v) return true;
    return false;
  };
  CHECK(has(calls[0].req, "eventType", "create"));
  CHECK(has(calls[0].req, "X-Medflow-Subscription", id));
  CHECK(has(calls[0].req, "X-Medflow-Offset", "0"));
  // A web hook with a pull: refused.
  sink s;
  caf::anon_send(a, pull_atom::value, s.request(0));
  turn();
  REQUIRE(s.got->has_value());
  REQUIRE((*s.got)->err);
  CHECK((*s.got)->err->status == 409);

  answer(503);
  CHECK(calls.empty());  // waiting for the backoff
  advance(99ms);
  CHECK(calls.empty());
  advance(1ms);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":1})");
  answer(200);
  turn();
  // The position moved past the first event (durably), the next call is the third record.
  CHECK(svc->acked(id).at({"ehealth-careplan", 0}) == 1);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":3})");
  answer(204);
  turn();
  CHECK(svc->acked(id).at({"ehealth-careplan", 0}) == 3);
  CHECK(calls.empty());
  // Idle until a record lands.
  append("create", R"({"n":4})", 1);
  turn();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":4})");
}

TEST_CASE_FIXTURE(sub_fixture,
                  "webhook on a shared store: posts only while may_post; on from the durable "
                  "positions when its turn comes again") {
  auto turn_here = std::make_shared<bool>(false);
  auto id = shared_webhook(turn_here);
  append("create", R"({"n":1})");
  auto a = spawn(id);
  CHECK(calls.empty());  // another instance posts
  append("create", R"({"n":2})");
  turn();
  CHECK(calls.empty());
  // Meanwhile the other instance delivered the first event (its position is durable).
  bool moved = false;
  svc->advance(id, re::positions{{{"ehealth-careplan", 0}, 1}},
               [&](std::exception_ptr e) { moved = !e; });
  turn();
  REQUIRE(moved);
  // The lease comes here (the daemon wakes the webhook actors): on from offset 1, not 0.
  *turn_here = true;
  caf::anon_send(a, wake_atom::value);
  turn();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":2})");
  answer(200);
  turn();
  CHECK(svc->acked(id).at({"ehealth-careplan", 0}) == 2);
  // It goes elsewhere again: the next event is not posted here.
  *turn_here = false;
  append("create", R"({"n":3})");
  turn();
  CHECK(calls.empty());
}

TEST_CASE_FIXTURE(sub_fixture,
                  "webhook on a shared store: a failed event is not retried nor dead-lettered "
                  "once the lease may be another instance's") {
  auto turn_here = std::make_shared<bool>(true);
  auto id = shared_webhook(turn_here);
  append("create", R"({"n":1})");
  auto a = spawn(id);
  REQUIRE(calls.size() == 1);
  // The lease lapses while the call is out (a slow receiver, a late renewal); it fails.
  *turn_here = false;
  answer(503);
  advance(10s);  // past every backoff and max_attempts' worth of them
  CHECK(calls.empty());  // the new holder posts it, not this one
  CHECK(bus->fetch(re::dead_letter_topic, 0, 0, 10).empty());
  CHECK(svc->acked(id).at({"ehealth-careplan", 0}) == 0);  // not moved past it
  // The lease comes back: the event is posted from the durable position.
  *turn_here = true;
  caf::anon_send(a, wake_atom::value);
  turn();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":1})");
  // Lost again with the retry scheduled: the retry does not post.
  answer(500);
  *turn_here = false;
  advance(10s);
  CHECK(calls.empty());
}

TEST_CASE_FIXTURE(sub_fixture, "webhook: dead letter after max_attempts, then the next event") {
  auto id = create({{"topic", "ehealth-careplan"},
                    {"delivery", {{"mode", "webhook"}, {"url", "http://127.0.0.1:9/hook"}}}});
  append("create", R"({"n":1})");
  append("create", R"({"n":2})");
  spawn(id);
  answer(500);
  advance(100ms);
  answer(500);
  advance(200ms);
  // Third failure: no answer at all.
  REQUIRE(calls.size() == 1);
  auto c = std::move(calls.front());
  calls.pop_front();
  net::http_client::response res;
  res.result = net::http_client::response::outcome::timeout;
  res.error = "Operation timed out";
  c.done(res);
  turn();
  turn();
  auto dead = bus->fetch(re::dead_letter_topic, 0, 0, 10);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].value == R"({"n":1})");
  REQUIRE(dead[0].header("dead_letter_reason"));
  CHECK(dead[0].header("dead_letter_reason")->find("failed 3 times; last: timed out") !=
        std::string::npos);
  CHECK(*dead[0].header("subscription_id") == id);
  CHECK(*dead[0].header("source_offset") == "0");
  CHECK(svc->acked(id).at({"ehealth-careplan", 0}) == 1);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.body == R"({"n":2})");
}

TEST_CASE_FIXTURE(sub_fixture, "webhook: a receiver that never answers holds up no other one") {
  auto slow = create({{"topic", "ehealth-careplan"},
                      {"delivery", {{"mode", "webhook"}, {"url", "http://slow.invalid/"}}}});
  auto fast = create({{"topic", "ehealth-careplan"},
                      {"delivery", {{"mode", "webhook"}, {"url", "http://fast.invalid/"}}}});
  spawn(slow);
  spawn(fast);
  int fast_got = 0;
  for (int i = 0; i < 3; ++i) {
    append("create", "{\"n\":" + std::to_string(i) + "}");
    turn();
    // Answer every call to the fast receiver; the slow one's first call stays out.
    for (auto it = calls.begin(); it != calls.end();) {
      if (it->req.url != "http://fast.invalid/") {
        ++it;
        continue;
      }
      auto c = std::move(*it);
      it = calls.erase(it);
      net::http_client::response res;
      res.result = net::http_client::response::outcome::ok;
      res.status = 200;
      c.done(res);
      ++fast_got;
      turn();
      it = calls.begin();
    }
  }
  CHECK(fast_got == 3);
  CHECK(svc->acked(fast).at({"ehealth-careplan", 0}) == 3);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].req.url == "http://slow.invalid/");
  CHECK(svc->acked(slow).at({"ehealth-careplan", 0}) == 0);
}

TEST_CASE_FIXTURE(sub_fixture, "hub: pull by id, restart after a failure, stop on delete") {
  health h;
  restart_policy policy;
  policy.backoff_initial = 50ms;
  subscription_hub hub(*sys, deps, policy, &h);
  actors.push_back(hub.actor());
  auto id = create({{"topic", "ehealth-careplan"}});
  hub.start(id);
  turn();
  auto first = hub.find(id);
  REQUIRE(first);
  sink s;
  hub.pull(id, s.request(0));
  turn();
  REQUIRE(s.got->has_value());
  CHECK_FALSE((*s.got)->err);

  sink unknown;
  hub.pull("nope", unknown.request(0));
  REQUIRE(unknown.got->has_value());
  REQUIRE((*unknown.got)->err);
  CHECK((*unknown.got)->err->status == 404);

  // A failing actor: its waiting sink gets 503, the supervisor starts a new one.
  sink waiting;
  hub.pull(id, waiting.request(3000));
  turn();
  // (Not exit_reason::kill: that would take the linked supervisor down too.)
  caf::anon_send_exit(first, caf::exit_reason::unhandled_exception);
  turn();
  REQUIRE(waiting.got->has_value());
  REQUIRE((*waiting.got)->err);
  CHECK((*waiting.got)->err->status == 503);
  advance(50ms);
  turn();
  auto second = hub.find(id);
  REQUIRE(second);
  CHECK(second != first);
  append("create", R"({"n":1})");
  sink after;
  hub.pull(id, after.request(0));
  turn();
  REQUIRE(after.got->has_value());
  CHECK(bodies(**after.got) == std::vector<json>{{{"n", 1}}});

  sink gone;
  hub.pull(id, std::make_shared<pull_request>(
                   (*after.got)->next, 10, 3000,
                   [g = gone.got](re::pull_batch b) { *g = std::move(b); }));
  turn();
  CHECK_FALSE(gone.got->has_value());  // waits: nothing after the position it asked from
  REQUIRE(svc->remove(id).ok());
  hub.stop(id);
  turn();
  REQUIRE(gone.got->has_value());
  REQUIRE((*gone.got)->err);
  CHECK((*gone.got)->err->status == 404);
  CHECK_FALSE(hub.find(id));
}

TEST_CASE_FIXTURE(sub_fixture, "delivery rounds: collected off the actor, one round at a time") {
  // The rounds queue here instead of on the delivery threads; the test runs them.
  std::deque<std::function<void()>> rounds;
  deps->deliver = [&rounds](std::function<void()> task) { rounds.push_back(std::move(task)); };
  auto run_rounds = [&] {
    while (!rounds.empty()) {
      auto r = std::move(rounds.front());
      rounds.pop_front();
      r();
      turn();
    }
  };
  auto id = create({{"topic", "ehealth-careplan"}, {"selector", "eventType = 'create'"}});
  auto a = spawn(id);
  append("create", R"({"n":1})");
  sink now, later;
  caf::anon_send(a, pull_atom::value, now.request(0));
  caf::anon_send(a, pull_atom::value, later.request(2000));
  turn();
  // The first pull's round is out; the second waits for the next round, nothing is answered
  // on the actor.
  REQUIRE(rounds.size() == 1);
  CHECK_FALSE(now.got->has_value());
  rounds.front()();
  rounds.pop_front();
  REQUIRE(now.got->has_value());  // answered by the round itself
  CHECK(bodies(**now.got) == std::vector<json>{{{"n", 1}}});
  turn();
  REQUIRE(rounds.size() == 1);  // back: the next round, for the second pull
  run_rounds();
  REQUIRE(later.got->has_value());  // the acked position is still before n=1
  CHECK(bodies(**later.got) == std::vector<json>{{{"n", 1}}});

  // A wait that ends while its sink is out in a round: the round after answers it.
  sink w;
  caf::anon_send(a, pull_atom::value, w.request_from((*now.got)->next, 1000));
  turn();
  run_rounds();
  CHECK_FALSE(w.got->has_value());  // waits
  append("update", R"({"n":2})");   // a wake: a round goes out
  turn();
  REQUIRE(rounds.size() == 1);
  advance(1000ms);  // the wait ends meanwhile
  CHECK_FALSE(w.got->has_value());
  run_rounds();
  REQUIRE(w.got->has_value());
  CHECK_FALSE((*w.got)->err);
  CHECK((*w.got)->events.empty());

  // The wait runs from the pull's arrival, not from the return of its first round.
  sink f;
  caf::anon_send(a, pull_atom::value, f.request_from((*now.got)->next, 1000));
  turn();
  REQUIRE(rounds.size() == 1);
  advance(600ms);  // the round takes its time
  run_rounds();
  CHECK_FALSE(f.got->has_value());
  advance(400ms);
  REQUIRE(rounds.size() == 1);  // the expiry's last look
  run_rounds();
  REQUIRE(f.got->has_value());
  CHECK((*f.got)->events.empty());

  // Deleted with a round out: its sink gets 404 when the round is back, then the actor stops.
  auto exit = watch(a);
  sink d;
  caf::anon_send(a, pull_atom::value, d.request_from((*now.got)->next, 3000));
  turn();
  REQUIRE(rounds.size() == 1);
  caf::anon_send(a, deleted_atom::value);
  turn();
  CHECK_FALSE(exit->exited);
  run_rounds();
  REQUIRE(d.got->has_value());
  REQUIRE((*d.got)->err);
  CHECK((*d.got)->err->status == 404);
  CHECK(exit->exited);
}

TEST_CASE_FIXTURE(sub_fixture, "a poll the server answered with its safety net is dropped") {
  auto id = create({{"topic", "ehealth-careplan"}, {"selector", "eventType = 'create'"}});
  auto a = spawn(id);
  sink s;
  auto dead = std::make_shared<bool>(false);
  caf::anon_send(a, pull_atom::value,
                 std::make_shared<pull_request>(
                     std::nullopt, 10, 3000, [g = s.got](re::pull_batch b) { *g = std::move(b); },
                     [dead] { return *dead; }));
  turn();
  CHECK(state_of<subscription_state>(a).waiting.size() == 1);
  *dead = true;               // the 503 went out meanwhile
  append("update", R"({})");  // a wake, nothing for it
  turn();
  CHECK(state_of<subscription_state>(a).waiting.empty());  // not held until its wait ends
  REQUIRE(s.got->has_value());  // its reply ran once, dropped (the server ignores it)
  REQUIRE((*s.got)->err);
  CHECK((*s.got)->err->status == 503);
}
