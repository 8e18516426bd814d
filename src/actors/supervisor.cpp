#include "actors/supervisor.hpp"

#include "core/log.hpp"

namespace medflow::actors {

std::chrono::milliseconds supervisor_state::next_delay() const {
  auto d = policy.backoff_initial;
  for (size_t i = 1; i < consecutive && d < policy.backoff_max; ++i) d *= 2;
  return std::min(d, policy.backoff_max);
}

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, std::string child_name,
                         std::function<caf::actor(caf::actor_system&)> factory,
                         restart_policy policy, health* h) {
  auto& st = self->state;
  st.child_name = std::move(child_name);
  st.policy = policy;
  st.factory = std::move(factory);
  st.health_registry = h;
  st.m_restarts = &metrics::registry::global().get_counter(
      "medflow_supervisor_restarts_total", "children restarted after a failure",
      {{"child", st.child_name}});
  st.m_escalated = &metrics::registry::global().get_gauge(
      "medflow_supervisor_escalated",
      "1 while the child failed more than supervisor.max_restarts times within the window",
      {{"child", st.child_name}});
  st.m_escalated->set(0);

  auto spawn_child = [self] {
    auto& s = self->state;
    s.child = s.factory(self->system());
    s.started = self->clock().now();
    // Monitored to see it fail; linked so that it goes down when the supervisor is killed.
    self->monitor(s.child);
    self->link_to(s.child);
  };

  self->set_exit_handler([self](caf::exit_msg& em) {
    // The child's own exit arrives as a down message too; anyone else's takes us down.
    if (self->state.child && em.source == self->state.child.address()) return;
    if (em.reason) self->quit(em.reason);
  });

  self->set_down_handler([self, spawn_child](caf::down_msg& dm) {
    auto& s = self->state;
    if (dm.source != s.child.address()) return;
    s.child = nullptr;
    if (s.draining || !dm.reason || dm.reason == caf::exit_reason::user_shutdown) {
      // A child that stopped on purpose ends the supervision.
      self->quit();
      return;
    }
    auto now = self->clock().now();
    if (now - s.started >= s.policy.window) {
      // It had lived a whole window: this is a fresh failure, not a crash loop.
      s.consecutive = 0;
      if (s.escalated && s.health_registry) s.health_registry->clear_problem("supervisor " + s.child_name);
      s.escalated = false;
      s.m_escalated->set(0);
    }
    s.failures.push_back(now);
    while (!s.failures.empty() && now - s.failures.front() > s.policy.window) s.failures.pop_front();
    ++s.consecutive;
    auto delay = s.next_delay();
    if (s.failures.size() > s.policy.max_restarts && !s.escalated) {
      s.escalated = true;
      s.m_escalated->set(1);
      log::error("supervisor", s.child_name, " failed ", s.failures.size(), " times within ",
                 s.policy.window.count(), " ms; escalating (not ready): ", describe(dm.reason));
      if (s.health_registry)
        s.health_registry->set_problem("supervisor " + s.child_name,
                                       std::to_string(s.failures.size()) + " restarts within " +
                                           std::to_string(s.policy.window.count()) +
                                           " ms; last failure: " + describe(dm.reason));
    } else {
      log::warn("supervisor", s.child_name, " failed (", describe(dm.reason), "); restarting in ",
                delay.count(), " ms");
    }
    self->delayed_send(self, delay, restart_atom::value);
  });

  spawn_child();

  return {
      [self, spawn_child](restart_atom) {
        auto& s = self->state;
        if (s.draining || s.child) return;
        ++s.restarts;
        s.m_restarts->inc();
        spawn_child();
      },
      [self](drain_atom) {
        auto& s = self->state;
        s.draining = true;
        if (s.child) self->send(s.child, drain_atom::value);
        else self->quit();
      },
      [self](status_atom) {
        auto& s = self->state;
        return std::map<std::string, std::string>{
            {"child", s.child_name},
            {"restarts", std::to_string(s.restarts)},
            {"escalated", s.escalated ? "true" : "false"},
            {"running", s.child ? "true" : "false"}};
      },
  };
}

}  // namespace medflow::actors
