#include "actors/aggregation/lookup.hpp"

namespace medflow::actors {

caf::behavior lookup(caf::stateful_actor<lookup_state>* self, std::function<void()> step) {
  // Should the step throw, the request's replies it held are dropped unanswered, and its
  // responder answers 500.
  step();
  self->quit();
  return {};
}

flows::aggregation::run_fn run_on_lookup(caf::actor_system& sys) {
  return [&sys](std::function<void()> step) { sys.spawn(lookup, std::move(step)); };
}

}  // namespace medflow::actors
