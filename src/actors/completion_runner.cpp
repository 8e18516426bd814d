#include "actors/completion_runner.hpp"

namespace medflow::actors {

namespace {

thread_local caf::execution_unit* runner_unit = nullptr;

// Sets runner_unit for the callbacks of one round, and clears it however the round ends.
struct unit_scope {
  explicit unit_scope(caf::execution_unit* u) noexcept { runner_unit = u; }
  ~unit_scope() { runner_unit = nullptr; }
  unit_scope(const unit_scope&) = delete;
  unit_scope& operator=(const unit_scope&) = delete;
};

}  // namespace

caf::execution_unit* detail::current_runner_unit() noexcept { return runner_unit; }

caf::behavior completion_runner(caf::event_based_actor* self) {
  return {
      [self](run_atom, std::shared_ptr<completion_round>& round) {
        unit_scope scope{self->context()};
        round->run();
      },
      // At shutdown, after the HTTP server stopped. A round that comes later still runs (see
      // completion_round), on the thread that sent it.
      [self](drain_atom) { self->quit(); },
  };
}

std::function<void(std::vector<net::http_client::completion>)> deliver_to(caf::actor runner) {
  return [runner = std::move(runner)](std::vector<net::http_client::completion> items) {
    caf::anon_send(runner, run_atom::value, std::make_shared<completion_round>(std::move(items)));
  };
}

}  // namespace medflow::actors
