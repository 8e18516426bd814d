// subscription_hub: runs one supervised `subscription` actor per stored subscription and finds
// it by id. The HTTP routes (and the SSE stream) reach a subscription's actor through
// subscription_hub::pull; create and delete start and stop it. The hub's own actor holds the
// supervisors so that the daemon drains them all at shutdown through one handle.
//
//   HTTP ──start(id) / stop(id)──▶ subscription_hub ──spawns──▶ supervisor ──▶ subscription
//   HTTP ──pull(id, pull_request)──▶ subscription (directly: the hub's directory has its handle)
#pragma once

#include "actors/resource_events/subscription.hpp"
#include "actors/supervisor.hpp"

#include <caf/all.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace medflow::actors {

// Thread-safe: id -> the subscription's current actor (replaced when its supervisor restarts
// it).
class subscription_directory {
 public:
  caf::actor find(const std::string& id) const;
  void set(const std::string& id, caf::actor a);
  caf::actor take(const std::string& id);
  std::size_t size() const;
  std::vector<std::string> ids() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, caf::actor> actors_;
};

struct subscription_hub_state {
  static inline const char* name = "subscription_hub";
  std::unordered_map<std::string, caf::actor> supervisors;  // by subscription id
  std::shared_ptr<subscription_directory> directory;
  bool draining = false;
};

// The hub's actor: (start_atom, id, supervisor) tracks a started subscription; (stop_atom, id)
// stops a deleted one (its sinks get 404); (drain_atom) drains every subscription, then stops.
caf::behavior subscription_hub_actor(caf::stateful_actor<subscription_hub_state>* self,
                                     std::shared_ptr<subscription_directory> directory);

class subscription_hub {
 public:
  subscription_hub(caf::actor_system& sys, std::shared_ptr<const subscription_deps> deps,
                   restart_policy policy, health* h);
  // The actor to drain at shutdown.
  caf::actor actor() const { return hub_; }
  // Runs the subscription's actor (nothing when it runs already). Any thread: the actor can be
  // pulled from as soon as this returns.
  void start(const std::string& id);
  // Stops a deleted subscription's actor: its waiting sinks get 404.
  void stop(const std::string& id);
  // Hands a sink to the subscription's actor; 404 when there is none.
  void pull(const std::string& id, std::shared_ptr<pull_request> req);
  // The subscription's current actor, or null.
  caf::actor find(const std::string& id) const { return directory_->find(id); }
  // The ids of the subscriptions whose actors run here.
  std::vector<std::string> ids() const { return directory_->ids(); }

 private:
  caf::actor_system& sys_;
  std::shared_ptr<const subscription_deps> deps_;
  restart_policy policy_;
  health* health_;
  std::shared_ptr<subscription_directory> directory_;
  std::mutex starting_;
  caf::actor hub_;
};

}  // namespace medflow::actors
