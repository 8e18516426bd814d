#include "actors/resource_events/subscription_hub.hpp"

namespace medflow::actors {

caf::actor subscription_directory::find(const std::string& id) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto it = actors_.find(id);
  return it == actors_.end() ? caf::actor{} : it->second;
}

void subscription_directory::set(const std::string& id, caf::actor a) {
  std::lock_guard<std::mutex> g{mutex_};
  actors_[id] = std::move(a);
}

caf::actor subscription_directory::take(const std::string& id) {
  std::lock_guard<std::mutex> g{mutex_};
  auto it = actors_.find(id);
  if (it == actors_.end()) return {};
  auto a = std::move(it->second);
  actors_.erase(it);
  return a;
}

std::size_t subscription_directory::size() const {
  std::lock_guard<std::mutex> g{mutex_};
  return actors_.size();
}

std::vector<std::string> subscription_directory::ids() const {
  std::lock_guard<std::mutex> g{mutex_};
  std::vector<std::string> out;
  out.reserve(actors_.size());
  for (const auto& [id, a] : actors_) out.push_back(id);
  return out;
}

caf::behavior subscription_hub_actor(caf::stateful_actor<subscription_hub_state>* self,
                                     std::shared_ptr<subscription_directory> directory) {
  self->state.directory = std::move(directory);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto it = st.supervisors.begin(); it != st.supervisors.end(); ++it)
      if (it->second.address() == dm.source) {
        st.supervisors.erase(it);
        break;
      }
    if (st.draining && st.supervisors.empty()) self->quit();
  });
  return {
      [self](start_atom, const std::string& id, caf::actor& sup) {
        auto& st = self->state;
        if (st.draining) {
          self->send(sup, drain_atom::value);
          return;
        }
        self->monitor(sup);
        st.supervisors[id] = std::move(sup);
      },
      [self](stop_atom, const std::string& id) {
        auto& st = self->state;
        // The child first (its sinks get 404), then the supervisor, which then restarts nothing.
        if (auto child = st.directory->take(id)) self->send(child, deleted_atom::value);
        auto it = st.supervisors.find(id);
        if (it == st.supervisors.end()) return;
        self->send(it->second, drain_atom::value);
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        for (auto& [id, sup] : st.supervisors) self->send(sup, drain_atom::value);
        if (st.supervisors.empty()) self->quit();
      },
      [self](status_atom) {
        return std::map<std::string, std::string>{
            {"subscriptions", std::to_string(self->state.supervisors.size())}};
      },
  };
}

subscription_hub::subscription_hub(caf::actor_system& sys,
                                   std::shared_ptr<const subscription_deps> deps,
                                   restart_policy policy, health* h)
    : sys_(sys),
      deps_(std::move(deps)),
      policy_(policy),
      health_(h),
      directory_(std::make_shared<subscription_directory>()) {
  hub_ = sys_.spawn(subscription_hub_actor, directory_);
}

void subscription_hub::start(const std::string& id) {
  std::lock_guard<std::mutex> g{starting_};  // two starts of one id (a pull's and a create's)
  if (directory_->find(id)) return;
  // The first child is spawned here so that its handle is known before this returns (messages
  // wait in its mailbox while it starts); the supervisor spawns the next ones.
  auto first = std::make_shared<caf::actor>(sys_.spawn(subscription, id, deps_));
  directory_->set(id, *first);
  auto deps = deps_;
  auto dir = directory_;
  auto factory = [first, deps, dir, id](caf::actor_system& sys) {
    caf::actor a;
    if (*first) {
      a = std::move(*first);
      *first = nullptr;
    } else {
      a = sys.spawn(subscription, id, deps);
      dir->set(id, a);
    }
    return a;
  };
  auto sup = sys_.spawn(supervisor, "subscription " + id, std::move(factory), policy_, health_);
  caf::anon_send(hub_, start_atom::value, id, sup);
}

void subscription_hub::stop(const std::string& id) { caf::anon_send(hub_, stop_atom::value, id); }

void subscription_hub::pull(const std::string& id, std::shared_ptr<pull_request> req) {
  auto a = directory_->find(id);
  if (!a) return req->fail(error::not_found("subscription " + id + " not found"));
  caf::anon_send(a, pull_atom::value, std::move(req));
}

}  // namespace medflow::actors
