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
//
// Several instances (README "HRI batches across instances"): the records and actions come
// from the consumers of the internal topic (hri.batch_records), whose partition owns the
// batch. When a partition is revoked, (revoke_atom, partitions, release) drains the batch
// actors of those partitions (they commit what they hold and stop) before the release: the
// batch is then decided by the next owner only, from the committed state. A message for a
// batch whose actor is still draining waits in the registry until it is down.
#pragma once

#include "actors/hri/batch_state.hpp"
#include "actors/partition_owner.hpp"
#include "core/metrics.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace medflow::actors {

// The internal topic's partition of a batch key ("<tenant>/<batch id>"); empty on one
// instance (nothing is ever revoked there).
using batch_partition_fn = std::function<int32_t(const std::string& key)>;

struct batch_registry_state {
  static inline const char* name = "batch_registry";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<flows::hri::service> svc;
  now_fn now;
  batch_partition_fn partition_of;
  // A batch actor that does not drain for a revocation within this time is stopped.
  std::chrono::milliseconds release_timeout{20000};

  // -- member variables --------------------------------------------------------------------------
  struct entry {
    caf::actor actor;
    uint64_t sent = 0;
  };
  std::unordered_map<std::string, entry> batches;
  std::map<caf::actor_addr, std::string> by_actor;
  metrics::gauge* m_live = nullptr;
  bool draining = false;  // asked to drain: quits once every batch actor has drained

  // Revocations: the actors of revoked partitions draining, and what arrived for them since.
  struct held_message {
    enum class kind { record, action, wake } k;
    batch_record record;
    batch_action action;
  };
  std::map<std::string, caf::actor> releasing;               // key -> its draining actor
  std::map<std::string, std::vector<held_message>> held;    // key -> messages waiting for it
  struct pending_release {
    std::set<std::string> keys;  // releasing, not down yet
    partition_release token;
  };
  std::map<uint64_t, pending_release> releases;
  uint64_t next_release = 0;

  // -- helpers -----------------------------------------------------------------------------------
  static std::string key(const std::string& tenant, const std::string& id) {
    return tenant + "/" + id;
  }
};

caf::behavior batch_registry(caf::stateful_actor<batch_registry_state>* self,
                             std::shared_ptr<flows::hri::service> svc, now_fn now,
                             batch_partition_fn partition_of,
                             std::chrono::milliseconds release_timeout);

}  // namespace medflow::actors
