// outbox_relay: forwards the outbox rows that store transactions wrote (Kafka mode) to the
// broker, oldest first, and deletes them only once the broker acked them. If medflowd dies
// between the ack and the delete, the rows are sent again on start: at least once, never
// lost, never reordered (consumers are idempotent). Run it detached: sending blocks.
//
// On a PostgreSQL store shared by several medflowd, one relay at a time forwards the outbox:
// the one whose instance holds the store lease "bus.outbox" (store/lease.hpp). The others
// stay idle and take the lease over once it expires (an instance killed mid-round: the rows it
// sent and had not deleted yet are sent again, at least once). So every row reaches Kafka once
// in the normal case, in id order, which keeps a key's records in their commit order.
#pragma once

#include "actors/protocol.hpp"
#include "bus/kafka_log.hpp"
#include "core/metrics.hpp"
#include "store/lease.hpp"

#include <chrono>
#include <memory>

namespace medflow::actors {

// What the relay needs from the Kafka backend (kafka_log implements it; tests fake it).
class outbox_port {
 public:
  virtual ~outbox_port() = default;
  virtual std::vector<bus::outbox_row> peek(size_t max) = 0;
  // Sends in order and returns once all are acked; throws on failure.
  virtual void send(const std::vector<bus::message>& msgs) = 0;
  // Forgets the rows sent (exactly these: on a store shared by several medflowd a row with a
  // smaller id may commit after a peek, and must stay for the next one).
  virtual void ack(const std::vector<int64_t>& ids) = 0;
  // Whether this instance may forward the outbox now (it holds the relay's lease). Blocks
  // for a store round trip at most every lease/3.
  virtual bool claim() { return true; }
  // Gives up the claim (the relay stops): another instance takes over at once.
  virtual void unclaim() {}
};

// The Kafka backend's outbox; with `lease` (a shared store) the relay forwards it only while
// the lease is held.
std::unique_ptr<outbox_port> make_outbox_port(bus::kafka_log& log,
                                              std::shared_ptr<store::lease> lease = nullptr);

struct relay_settings {
  size_t batch = 1000;
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{5000};
  std::chrono::milliseconds poll_interval{1000};  // safety net besides the commit wake
};

struct outbox_relay_state {
  static inline const char* name = "outbox_relay";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<outbox_port> port;
  relay_settings settings;

  // -- member variables --------------------------------------------------------------------------
  std::chrono::milliseconds retry_delay{0};  // 0 when healthy
  bool retry_scheduled = false;
  bool draining = false;
  uint64_t relayed = 0;
  uint64_t failures = 0;

  // -- probes ------------------------------------------------------------------------------------
  metrics::counter* m_relayed = nullptr;
  metrics::counter* m_failures = nullptr;
};

caf::behavior outbox_relay(caf::stateful_actor<outbox_relay_state>* self,
                           std::shared_ptr<outbox_port> port, relay_settings settings);

}  // namespace medflow::actors
