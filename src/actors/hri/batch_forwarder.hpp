// batch_forwarder: appends the entries of HRI's internal topic (hri.batch_records: judged
// records of the input topics, actions received over HTTP) to the bus, many per call, and runs
// each entry's completion once the bus acknowledged it (Kafka: acked by the in-sync replicas).
// An input record's offset is committed only after that (at least once). The entries keep the
// order they arrived in, so the records of one input partition reach the internal topic in
// offset order, which the batch's seen offsets rely on. Spawn it detached: append blocks.
#pragma once

#include "actors/hri/messages.hpp"
#include "bus/log.hpp"
#include "core/metrics.hpp"

#include <vector>

namespace medflow::actors {

struct batch_forwarder_state {
  static inline const char* name = "batch_forwarder";

  // -- constants -------------------------------------------------------------------------------
  bus::log* bus = nullptr;
  size_t max_per_append = 1000;

  // -- member variables --------------------------------------------------------------------------
  std::vector<batch_entry_out> waiting;  // bounded by the consumers' records in flight
  bool flush_scheduled = false;
  bool draining = false;

  // -- probes ------------------------------------------------------------------------------------
  metrics::counter* m_appended = nullptr;
};

caf::behavior batch_forwarder(caf::stateful_actor<batch_forwarder_state>* self, bus::log* bus,
                              size_t max_per_append);

}  // namespace medflow::actors
