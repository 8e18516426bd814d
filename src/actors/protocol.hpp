// The map of who says what to whom between medflow's actors. The generic families' atoms and
// messages are declared here, each with a one-line comment; a flow's own family declares its
// messages beside its actors (listed at the end of the diagram), so generic actors never see a
// flow's types.
//
// Generic families (src/actors/):
//   supervisor ──spawns/monitors──▶ child (partition_consumer, outbox_relay's supervisor, ...)
//        ▲ restart with backoff         │
//        └──────── down_msg ────────────┘
//   bus::log::watch ──(wake)──▶ partition_consumer        kafka_log outbox ──(wake)──▶ outbox_relay
//   timer ──(tick, commit)──▶ partition_consumer           periodic ──▶ its task, every interval
//   http_client I/O thread ──(run: a round of completions)──▶ completion_runner ──▶ callbacks
//   bus::log::join (group membership) ──(assign / revoke)──▶ partition_owner ──spawns, drains──▶
//        one supervisor (partition_consumer) per owned partition; (revoke) ends in `released`
//
// Medical events: records are ordered by key (the patient id):
//   partition_consumer ──(dispatch)──▶ keyed_sequencer ──(dispatch)──▶ key_worker (one per key)
//        ▲ (rec_done / rec_failed)          ▲ (handled)          │ handler: service.process
//        └──────────────────────────────────┴────────────────────┘ ──▶ store writer
//   store writer thread ──(completed, after the commit)──▶ key_worker
//
// HRI (batches): records go straight from the consumer, in log order, to the batch's actor:
//   partition_consumer ──handler: judge + (b_record)──▶ batch_registry ──▶ batch_state (per batch)
//   HTTP ──(b_action)──▶ batch_registry ──▶ batch_state ──▶ store writer ──(flush)──▶ batch_state
//   batch_state ──done (after its commit)──▶ partition_consumer (rec_done / rec_failed)
//   batch_state ──(idle)──▶ batch_registry: reclaim handshake on message counts
// HRI shared by instances (Kafka + PostgreSQL; README "HRI batches across instances"):
//   .in partition_consumer ──handler: judge + (b_forward)──▶ batch_forwarder ──append──▶
//     hri.batch_records ──▶ partition_consumer (group hri-batches) ──(b_record)──▶ batch_registry
//   HTTP ──(b_relay)──▶ action_waiter ──(b_forward)──▶ batch_forwarder; action_waiter ──(poll)──▶
//     itself: the outcome the owner's batch_state wrote (hri_action_outcomes), or 504
//   group revocation ──(revoke, partitions, release)──▶ batch_registry: drain those batches' actors
//   messages: actors/hri/messages.hpp
//
// Aggregation (queries): one short-lived group of actors per request:
//   HTTP ──run_lookup callback──▶ lookup (index lookup, request list) ──fan-out callback──▶
//   splitter ──spawns──▶ aggregator + one source_worker per source
//   source_worker ──http_client──▶ (call_done, via completion_runner) ──▶ source_worker
//   source_worker ──(src_done)──▶ aggregator ──reply──▶ HTTP responder
//   messages: actors/aggregation/messages.hpp
//
// Resource events (subscriptions): one supervised actor per subscription:
//   HTTP create/delete ──start/stop──▶ subscription_hub ──spawns──▶ supervisor ──▶ subscription
//   HTTP long poll / stream ──(pull_atom, pull_request)──▶ subscription ──reply──▶ HTTP responder
//   bus::log::watch ──(wake)──▶ subscription ──webhook──▶ http_client ──(posted)──▶ subscription
//   subscription ──advance / dead letter──▶ store writer ──(stored)──▶ subscription
//   messages: actors/resource_events/messages.hpp
#pragma once

#include "bus/log.hpp"
#include "core/error.hpp"

#include <caf/all.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace medflow::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

// bus -> consumer / relay: new records may be available.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
// consumer -> sequencer: (dispatch_atom, key, work_item) handle one record in key order.
using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
// completion callback -> key_worker: (completed_atom, offset, error text; empty = success).
using completed_atom = caf::atom_constant<caf::atom("completed")>;
// key_worker -> sequencer: (handled_atom, key, offset) the record is fully handled.
using handled_atom = caf::atom_constant<caf::atom("handled")>;
// sequencer (or an in-order handler's completion) -> consumer: (record_done_atom, offset) one
// record of the batch is done.
using record_done_atom = caf::atom_constant<caf::atom("rec_done")>;
// in-order handlers' completions -> consumer: (records_done_atom) offsets are waiting in its
// done_box (one message for all the records a group commit finished, not one each).
using records_done_atom = caf::atom_constant<caf::atom("recs_done")>;
// sequencer (or an in-order handler's completion) -> consumer: (record_failed_atom, offset,
// reason) a record's handler failed.
using record_failed_atom = caf::atom_constant<caf::atom("rec_failed")>;
// commit callback -> consumer: (committed_atom, next offset, error text; empty = success).
using committed_atom = caf::atom_constant<caf::atom("committed")>;
// sequencer -> itself: (reclaim_atom) reclaim the key workers idle for long enough.
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
// supervisor -> itself: restart the child after the backoff delay; relay -> itself: retry.
using restart_atom = caf::atom_constant<caf::atom("restart")>;
// anyone -> consumer / supervisor / relay / a flow's top actor: finish what is in flight,
// commit, then stop.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
// timers -> consumer / relay: periodic safety-net poll.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
// timer -> consumer: commit the done prefix now (commits are spaced by commit_interval).
using commit_atom = caf::atom_constant<caf::atom("commit")>;
// query -> sequencer / consumer / supervisor: report counters (returns a string map).
using status_atom = caf::atom_constant<caf::atom("status")>;
// group membership -> partition_owner: (assign_atom, partitions) consume these partitions now.
using assign_atom = caf::atom_constant<caf::atom("assign")>;
// group membership -> partition_owner: (revoke_atom, partitions, partition_release) drain and
// stop them, then release them; timer -> partition_owner: (revoke_atom, release id) too late.
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
// http client -> completion_runner: (run_atom, round) run these finished calls' callbacks.
using run_atom = caf::atom_constant<caf::atom("run")>;
// daemon's watchdog -> its heartbeat actor: (ping_atom) answered with ping_atom; the actor
// system still schedules messages.
using ping_atom = caf::atom_constant<caf::atom("ping")>;

// -- message types --------------------------------------------------------------------------

// What to do with a record: process it, or (after too many failed attempts, or when it
// cannot be decoded) dead-letter it with a reason.
struct work_item {
  bus::record rec;
  bool dead_letter = false;
  std::string reason;  // why it is dead-lettered
};

// The flow's side of a partition consumer. Handlers run on actor threads and must not block
// for long: they hand durable work to the store writer and call `done` when it committed.
struct record_handlers {
  // How records reach the handlers.
  enum class order {
    // Through the keyed sequencer: a key's next record starts only when the previous one is
    // done (its effects are committed); different keys run in parallel (medical events).
    by_key,
    // Straight from the consumer, in log order, without waiting for one another: for handlers
    // that pass records on to a receiver which keeps their order and commits them (HRI's batch
    // actors). `key_of` is not used.
    in_log_order,
  };
  order mode = order::by_key;
  // Which sequencer key (e.g. patient id) a record belongs to (order::by_key).
  std::function<std::string(const bus::record&)> key_of;
  // Handle one record. Throwing (or calling done with an error) fails the record: the
  // consumer restarts from its committed offset and the record is delivered again.
  std::function<void(const bus::record&, done_fn)> process;
  // order::in_log_order, optional, in place of `process`: the records of a fetch at once, in
  // log order, each with its completion (one call for a run of records between dead-lettered
  // ones; those go to dead_letter in their place). For a receiver that takes them as one
  // message instead of one message each. It must not throw for a record's content: a throw
  // fails the first record of the call.
  std::function<void(std::vector<std::pair<bus::record, done_fn>>)> process_all;
  // Give up on a record: make the failure visible (e.g. job failed_with_error, dead-letter
  // topic). Must not fail for the record's content.
  std::function<void(const bus::record&, const std::string& reason, done_fn)> dead_letter;
};

// Renders a CAF error with its context (what() of the exception that killed an actor).
std::string describe(const caf::error& e);

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::work_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::bus::record)
