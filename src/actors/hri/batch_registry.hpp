// batch_registry: routes records and actions to the batch_state actor of their batch
// ("<tenant>/<batch id>"), spawning it on first use and reclaiming it when it reports itself
// idle and nothing was sent to it since (a handshake on message counts, so nothing is lost).
//
// It is HRI's only keyed layer: the partition consumers of the input topics hand their records
// straight to it (record_handlers::order::in_log_order), with no keyed sequencer (key =
// batchId) in between, and every guarantee the two layers gave holds with this one:
// - per-batch order: a consumer sends its partition's records in offset order, and CAF keeps
//   the order of messages from one sender to one receiver (consumer -> registry -> batch);
// - at least once, committed after the outcome: a record's completion runs after its batch
//   actor's store commit, and the consumer commits an offset only when every record before it
//   is complete; a redelivery (restart, crash) is recognised by the batch's seen offsets;
// - idle reclamation without loss: the handshake below, per batch instead of per partition;
// - draining: the consumers are drained first (they wait for their records' completions and
//   commit), then the registry, whose batch actors commit what they still hold and stop.
// What the sequencer added on top (a record of a key waits for the previous one's commit) is
// what batch_state's group commit must not have: it pipelines a batch's records.
#pragma once

#include "actors/hri/batch_state.hpp"
#include "core/metrics.hpp"

#include <map>
#include <string>
#include <unordered_map>

namespace medflow::actors {

struct batch_registry_state {
  static inline const char* name = "batch_registry";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<flows::hri::service> svc;
  now_fn now;

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
                             std::shared_ptr<flows::hri::service> svc, now_fn now);

}  // namespace medflow::actors
