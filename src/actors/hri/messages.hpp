// The HRI (batches) family's messages: what the consumers' handler and the HTTP routes send to
// the batch registry, and what its batch actors say to it and to themselves. The chain is
// drawn in actors/protocol.hpp.
#pragma once

#include "actors/protocol.hpp"
#include "flows/hri/records.hpp"

#include <caf/all.hpp>

#include <functional>
#include <string>

namespace medflow::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

// consumer's handler -> batch_registry -> batch_state: one record of an input topic
// (batch_record).
using batch_record_atom = caf::atom_constant<caf::atom("b_record")>;
// consumer's handler -> batch_registry -> batch_state: records of an input topic in log order
// (batch_records; to a batch_state, records of its batch only).
using batch_records_atom = caf::atom_constant<caf::atom("b_records")>;
// HTTP -> batch_registry -> batch_state: an action on a batch (batch_action).
using batch_action_atom = caf::atom_constant<caf::atom("b_action")>;
// batch_state -> itself: (flush_atom) write what was decided since the last flush;
// store writer -> batch_state: (flush_atom, ok) a flush committed (or failed).
using flush_atom = caf::atom_constant<caf::atom("flush")>;
// batch_state -> itself: a completion delay or a stuck timeout is due (generation).
using check_atom = caf::atom_constant<caf::atom("check")>;
// batch_state -> itself: (idle_atom, handled then) idle since; batch_state -> batch_registry:
// (idle_atom, key, messages handled) nothing to do any more.
using idle_atom = caf::atom_constant<caf::atom("idle")>;
// HTTP -> batch_registry: (forget_atom, tenant) stop the actors of a deleted tenant.
using forget_atom = caf::atom_constant<caf::atom("forget")>;
// Also: (wake_atom, tenant, id) start-up -> batch_registry: start the batch's actor, which
// resumes a pending completion delay or stuck timeout; (drain_atom) daemon -> batch_registry
// -> every batch_state: commit what is held, then stop.

// consumer's handler / action_waiter -> batch_forwarder: (b_forward, batch_entry_out) append
// an entry to the internal topic (several instances).
using batch_forward_atom = caf::atom_constant<caf::atom("b_forward")>;
// HTTP -> action_waiter: (b_relay, batch_action) append the action for the batch's owner and
// answer once its outcome is in the store; action_waiter -> itself: (b_relay, request id, ok)
// the append was acknowledged (or failed).
using batch_relay_atom = caf::atom_constant<caf::atom("b_relay")>;
// action_waiter -> itself: look for the outcomes waited for.
using poll_atom = caf::atom_constant<caf::atom("poll")>;

// -- message types --------------------------------------------------------------------------

// One record of an HRI input topic for its batch, judged on the consumer's side.
struct batch_record {
  flows::hri::judged_record judged;
  done_fn done;  // after the record's outcome is committed
};

// Records of one fetch, in log order: one message for what would be a message each.
struct batch_records {
  std::vector<batch_record> items;
};

// An HRI batch action from the HTTP API; `reply` gets the HTTP status and the error text
// (empty on success) once the new state is committed.
//
// Relayed through the internal topic (several instances, README "HRI batches across
// instances"): `request_id` is set, `reply` is empty, and the outcome is written under the
// request id in the transaction that applies the action; `done` runs after that commit (the
// internal topic's record is then handled).
struct batch_action {
  std::string tenant;
  std::string batch_id;
  flows::hri::action_request request;
  flows::hri::principal who;
  std::function<void(int status, std::string error)> reply;
  std::string request_id = {};
  done_fn done = {};
};

// An entry of the internal topic hri.batch_records; `done` runs once the bus acknowledged it.
struct batch_entry_out {
  bus::message msg;
  done_fn done;
};

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_entry_out)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_records)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::actors::batch_action)
