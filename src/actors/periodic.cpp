#include "actors/periodic.hpp"

#include "core/log.hpp"

namespace medflow::actors {

caf::behavior periodic(caf::stateful_actor<periodic_state>* self, std::string task_name,
                       std::chrono::milliseconds interval, std::function<void()> task) {
  auto& st = self->state;
  st.task_name = std::move(task_name);
  st.interval = interval;
  st.task = std::move(task);
  self->delayed_send(self, interval, tick_atom::value);
  return {
      [self](tick_atom) {
        auto& st = self->state;
        ++st.runs;
        try {
          st.task();
        } catch (const std::exception& e) {
          ++st.failures;
          log::warn("periodic", st.task_name, " failed: ", e.what());
        }
        self->delayed_send(self, st.interval, tick_atom::value);
      },
      [self](drain_atom) { self->quit(); },
  };
}

caf::behavior at_drain(caf::event_based_actor* self, std::function<void()> task) {
  return {
      [self, task](drain_atom) {
        try {
          task();
        } catch (const std::exception& e) {
          log::warn("periodic", "at drain: ", e.what());
        }
        self->quit();
      },
  };
}

}  // namespace medflow::actors
