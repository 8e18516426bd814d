// spawn_without_args: spawns a function-based actor that takes nothing but its self pointer.
// CAF 0.17.6 spawns such an actor through a null std::shared_ptr<std::tuple<>> that it
// dereferences when the actor starts (caf/detail/init_fun_factory.hpp,
// init_fun_factory_helper::apply: `*args_`), undefined behaviour that UBSan reports (and the
// sanitized test run aborts on: its checks do not recover, and a suppression cannot stop an
// abort). One empty tag argument gives CAF a real tuple to dereference; the actor itself is
// unchanged. Use it for every spawn of an actor without arguments (sys.spawn(f) with f taking
// only self).
#pragma once

#include <caf/all.hpp>

namespace medflow::actors {

struct no_spawn_args {};

template <class Self = caf::event_based_actor, class F>
caf::actor spawn_without_args(caf::actor_system& sys, F fn) {
  return sys.spawn([fn](Self* self, no_spawn_args) -> caf::behavior { return fn(self); },
                   no_spawn_args{});
}

}  // namespace medflow::actors
