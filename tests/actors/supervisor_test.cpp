#include "actors/supervisor.hpp"

#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

using fail_atom = caf::atom_constant<caf::atom("fail")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;

// A child that fails or stops on command.
caf::behavior test_child(caf::event_based_actor* self) {
  return {
      [self](fail_atom) { self->quit(caf::make_error(caf::sec::runtime_error, "boom")); },
      [self](stop_atom) { self->quit(); },
      [self](drain_atom) { self->quit(); },
  };
}

struct sup_fixture : test::actor_fixture {
  std::vector<caf::actor> children;
  health h;
  caf::actor sup;

  void start(restart_policy p) {
    sup = sys->spawn(supervisor, "child", [this](caf::actor_system& s) {
      children.push_back(spawn_without_args(s, test_child));
      return children.back();
    }, p, &h);
    run();
  }
  void fail_current() {
    caf::anon_send(children.back(), fail_atom::value);
    run();
  }
};

restart_policy policy(size_t max_restarts = 10) {
  restart_policy p;
  p.backoff_initial = 100ms;
  p.backoff_max = 400ms;
  p.max_restarts = max_restarts;
  p.window = 10000ms;
  return p;
}

}  // namespace

TEST_CASE_FIXTURE(sup_fixture, "a failed child is restarted after a capped exponential backoff") {
  start(policy());
  REQUIRE(children.size() == 1);
  fail_current();
  CHECK(children.size() == 1);  // not before the backoff
  advance(99ms);
  CHECK(children.size() == 1);
  advance(1ms);
  CHECK(children.size() == 2);  // after 100 ms
  fail_current();
  advance(199ms);
  CHECK(children.size() == 2);
  advance(1ms);
  CHECK(children.size() == 3);  // after 200 ms
  fail_current();
  advance(400ms);
  CHECK(children.size() == 4);  // after 400 ms
  fail_current();
  advance(400ms);
  CHECK(children.size() == 5);  // capped at 400 ms
  CHECK(state_of<supervisor_state>(sup).restarts == 4);
}

TEST_CASE_FIXTURE(sup_fixture, "too many restarts in the window escalate; a quiet window clears it") {
  start(policy(2));
  for (int i = 0; i < 2; ++i) {
    fail_current();
    advance(400ms);
  }
  CHECK(h.ready());
  fail_current();  // third failure within the window: more than 2 restarts
  CHECK_FALSE(h.ready());
  auto checks = h.evaluate();
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].name == "supervisor child");
  CHECK(checks[0].detail.find("boom") != std::string::npos);
  advance(400ms);
  CHECK(children.size() == 4);  // it keeps trying
  advance(10000ms);             // the child survives a whole window...
  fail_current();               // ...so this failure starts a fresh count
  CHECK(h.ready());
}

TEST_CASE_FIXTURE(sup_fixture, "a child that stops normally ends the supervision") {
  start(policy());
  auto rec = watch(sup);
  caf::anon_send(children.back(), stop_atom::value);
  run();
  advance(1000ms);
  CHECK(children.size() == 1);
  CHECK(rec->exited);
}

TEST_CASE_FIXTURE(sup_fixture, "drain is forwarded to the child and the supervisor stops with it") {
  start(policy());
  auto child_rec = watch(children.back());
  auto sup_rec = watch(sup);
  caf::anon_send(sup, drain_atom::value);
  run();
  CHECK(child_rec->exited);
  CHECK(sup_rec->exited);
  CHECK_FALSE(sup_rec->reason);
}

TEST_CASE_FIXTURE(sup_fixture, "killing the supervisor takes the child down") {
  start(policy());
  auto child_rec = watch(children.back());
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  CHECK(child_rec->exited);
  advance(1000ms);
  CHECK(children.size() == 1);
}
