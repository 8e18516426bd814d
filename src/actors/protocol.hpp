// The map of who says what to whom between medflow's actors. Every atom and message type
// used between actors is declared here with a one-line comment.
//
//   supervisor ──spawns/monitors──▶ partition_consumer ──links──▶ keyed_sequencer
//        ▲ restart with backoff          │ (dispatch)               │ spawns/monitors
//        └──────── down_msg ─────────────┘ ◀─(record_done/failed)── ▼
//                                                              key_worker (one per key)
//   bus::log::watch ──(wake)──▶ partition_consumer
//   store writer thread ──(completed)──▶ key_worker
//   kafka_log outbox ──(wake)──▶ outbox_relay
#pragma once

#include "bus/log.hpp"
#include "core/error.hpp"
#include "flows/aggregation/domain.hpp"
#include "flows/hri/domain.hpp"
#include "net/http_client.hpp"

#include <caf/all.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <string>

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
// sequencer -> consumer: (record_done_atom, offset) one record of the batch is done.
using record_done_atom = caf::atom_constant<caf::atom("rec_done")>;
// sequencer -> consumer: (record_failed_atom, offset, reason) a record's handler failed.
using record_failed_atom = caf::atom_constant<caf::atom("rec_failed")>;
// commit callback -> consumer: (committed_atom, next offset, error text; empty = success).
using committed_atom = caf::atom_constant<caf::atom("committed")>;
// sequencer -> itself: (reclaim_atom) reclaim the key workers idle for long enough.
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
// supervisor -> itself: restart the child after the backoff delay; relay -> itself: retry.
using restart_atom = caf::atom_constant<caf::atom("restart")>;
// anyone -> consumer / supervisor / relay: finish what is in flight, commit, then stop.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
// timers -> consumer / relay: periodic safety-net poll.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
// timer -> consumer: commit the done prefix now (commits are spaced by commit_interval).
using commit_atom = caf::atom_constant<caf::atom("commit")>;
// anyone -> batch_registry -> batch_state: one record of an input topic (batch_record).
using batch_record_atom = caf::atom_constant<caf::atom("b_record")>;
// HTTP -> batch_registry -> batch_state: an action on a batch (batch_action).
using batch_action_atom = caf::atom_constant<caf::atom("b_action")>;
// batch_state -> itself: write what was decided since the last flush.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
// batch_state -> itself: a completion delay or a stuck timeout is due (generation).
using check_atom = caf::atom_constant<caf::atom("check")>;
// batch_state -> batch_registry: (idle_atom, key, messages handled) nothing to do any more.
using idle_atom = caf::atom_constant<caf::atom("idle")>;
// HTTP -> batch_registry: (forget_atom, tenant) stop the actors of a deleted tenant.
using forget_atom = caf::atom_constant<caf::atom("forget")>;
// http client -> source_worker: (call_done_atom, response) the source's call finished.
using call_done_atom = caf::atom_constant<caf::atom("call_done")>;
// source_worker -> aggregator: (source_done_atom, index, source_result) one source's outcome.
using source_done_atom = caf::atom_constant<caf::atom("src_done")>;
// aggregator -> itself: the aggregate timeout fired.
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
// query -> sequencer / consumer / supervisor: report counters (returns a string map).
using status_atom = caf::atom_constant<caf::atom("status")>;
// completion_runner: run these finished HTTP calls' callbacks
using run_atom = caf::atom_constant<caf::atom("run")>;

// -- message types --------------------------------------------------------------------------

// What to do with a record: process it, or (after too many failed attempts, or when it
// cannot be decoded) dead-letter it with a reason.
struct work_item {
  bus::record rec;
  bool dead_letter = false;
  std::string reason;  // why it is dead-lettered
};

// Called with nullptr on success or the failure, from any thread, exactly once.
using done_fn = std::function<void(std::exception_ptr)>;

// The flow's side of a partition consumer. Handlers run on actor threads and must not block
// for long: they hand durable work to the store writer and call `done` when it committed.
struct record_handlers {
  // Which sequencer key (e.g. patient id, batch id) a record belongs to.
  std::function<std::string(const bus::record&)> key_of;
  // Handle one record. Throwing (or calling done with an error) fails the record: the
  // consumer restarts from its committed offset and the record is delivered again.
  std::function<void(const bus::record&, done_fn)> process;
  // Give up on a record: make the failure visible (e.g. job failed_with_error, dead-letter
  // topic). Must not fail for the record's content.
  std::function<void(const bus::record&, const std::string& reason, done_fn)> dead_letter;
  // false: a key's next record starts only when the previous one is done (its effects are
  // committed). true: records of a key are handed over one after another without waiting, for
  // handlers whose own receiver keeps the order and commits (HRI's batch actors).
  bool pipelined = false;
};

// One record of an HRI input topic for its batch, already judged by the stream's validator.
struct batch_record {
  std::string tenant;
  std::optional<std::string> batch_id;       // the record's batchId header, if any
  bus::record rec;
  std::optional<std::string> validator_failure;
  done_fn done;                              // after the record's outcome is committed
};

// An HRI batch action from the HTTP API; `reply` gets the HTTP status and the error text
// (empty on success) once the new state is committed.
struct batch_action {
  std::string tenant;
  std::string batch_id;
  flows::hri::action_request request;
  flows::hri::principal who;
  std::function<void(int status, std::string error)> reply;
};

// One aggregated request's fan-out: what the splitter, its source workers and the aggregator
// share (read-only). The reply runs once, with the aggregated answer.
struct fan_out {
  std::shared_ptr<const flows::aggregation::service_definition> service;
  std::vector<flows::aggregation::source_call> calls;
  std::string request_body;
  std::vector<std::pair<std::string, std::string>> headers;  // propagated to every source
  net::http_client::client* http = nullptr;
  flows::aggregation::answer_cache* cache = nullptr;  // null: no cache for this service
  // The aggregated answer, and how long the slowest source call took (µs; 0 when none ran).
  std::function<void(nlohmann::json, int64_t)> reply;
};

// Renders a CAF error with its context (what() of the exception that killed an actor).
std::string describe(const caf::error& e);

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::work_item)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::bus::record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_action)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::net::http_client::response)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::flows::aggregation::source_result)
