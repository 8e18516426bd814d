// batch_registry: routes records and actions to the batch_state actor of their batch
// ("<tenant>/<batch id>"), spawning it on first use and reclaiming it when it reports itself
// idle and nothing was sent to it since (a handshake on message counts, so nothing is lost).
#pragma once

#include "actors/batch_state.hpp"
#include "core/metrics.hpp"

#include <map>
#include <string>
#include <unordered_map>

namespace medflow::actors {

struct batch_registry_state {
  static inline const char* name = "batch_registry";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<flows::hri::service> svc;

  // -- member variables --------------------------------------------------------------------------
  struct entry {
    caf::actor actor;
    uint64_t sent = 0;
  };
  std::unordered_map<std::string, entry> batches;
  std::map<caf::actor_addr, std::string> by_actor;
  metrics::gauge* m_live = nullptr;
  bool draining = false;  // asked to drain: quits once every batch actor has drained

  // -- helpers -----------------------------------------------------------------------------------
  static std::string key(const std::string& tenant, const std::string& id) {
    return tenant + "/" + id;
  }
};

caf::behavior batch_registry(caf::stateful_actor<batch_registry_state>* self,
                             std::shared_ptr<flows::hri::service> svc);

}  // namespace medflow::actors
