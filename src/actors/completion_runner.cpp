#include "actors/completion_runner.hpp"

#include "core/log.hpp"

namespace medflow::actors {

namespace {
thread_local caf::execution_unit* runner_unit = nullptr;
}  // namespace

caf::execution_unit* detail::current_runner_unit() noexcept { return runner_unit; }

caf::behavior completion_runner(caf::event_based_actor* self) {
  return {
      [self](run_atom, std::vector<http_client::completion>& round) {
        runner_unit = self->context();
        for (auto& c : round) {
          try {
            c.done(std::move(c.res));
          } catch (const std::exception& e) {
            log::error("http_client", "completion callback threw: ", e.what());
          } catch (...) {
            log::error("http_client", "completion callback threw a non-standard exception");
          }
        }
        runner_unit = nullptr;
      },
      // At shutdown, after the HTTP server stopped: no aggregated request is waiting any more.
      [self](drain_atom) { self->quit(); },
  };
}

std::function<void(std::vector<http_client::completion>)> deliver_to(caf::actor runner) {
  return [runner = std::move(runner)](std::vector<http_client::completion> round) {
    caf::anon_send(runner, run_atom::value, std::move(round));
  };
}

}  // namespace medflow::actors
