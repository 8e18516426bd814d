// A CAF actor system on the deterministic test scheduler (no threads, virtual time), for
// doctest. Messages only move when the test calls run()/advance(); timers fire on advance().
#pragma once

#include "actors/protocol.hpp"
#include "actors/spawn.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <memory>
#include <string>
#include <vector>

namespace medflow::test {

struct actor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;

  actor_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    // Actors still alive at the end of a test are simply dropped.
    sys->await_actors_before_shutdown(false);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  ~actor_fixture() {
    // Periodic timers would keep the shutdown's final run() going forever.
    sched->clock().cancel_all();
  }

  // Delivers messages until nothing is left.
  void run() { sched->run(); }
  // Moves virtual time forward, fires due timers, and runs.
  void advance(std::chrono::milliseconds d) {
    sched->advance_time(d);
    sched->run();
  }

  // The state of a stateful actor (the test owns every thread, so this is safe).
  template <class State>
  static State& state_of(const caf::actor& a) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(a);
    return dynamic_cast<caf::stateful_actor<State>&>(*ptr).state;
  }

  // Watches an actor: the result holds its exit reason once it has terminated.
  struct exit_record {
    bool exited = false;
    caf::error reason;
  };
  std::shared_ptr<exit_record> watch(const caf::actor& a) {
    auto rec = std::make_shared<exit_record>();
    // Keep a handle: an actor nobody references is destroyed.
    auto watcher = [a, rec](caf::event_based_actor* self) -> caf::behavior {
      self->monitor(a);
      self->set_down_handler([self, rec](caf::down_msg& dm) {
        rec->exited = true;
        rec->reason = dm.reason;
        self->quit();
      });
      return {[](int) {}};
    };
    watchers.push_back(actors::spawn_without_args(*sys, watcher));
    run();
    return rec;
  }
  std::vector<caf::actor> watchers;
};

// Records what a partition consumer would hear from its sequencer.
struct owner_log {
  std::vector<int64_t> done;
  std::vector<std::pair<int64_t, std::string>> failed;
};

struct owner_probe_state {
  static inline const char* name = "owner_probe";
  std::shared_ptr<owner_log> log;
};

inline caf::behavior owner_probe(caf::stateful_actor<owner_probe_state>* self,
                                 std::shared_ptr<owner_log> log) {
  self->state.log = std::move(log);
  self->set_exit_handler([](caf::exit_msg&) {});  // outlive the sequencer's failures
  return {
      [self](actors::record_done_atom, int64_t off) { self->state.log->done.push_back(off); },
      [self](actors::record_failed_atom, int64_t off, const std::string& why) {
        self->state.log->failed.emplace_back(off, why);
      },
  };
}

}  // namespace medflow::test
