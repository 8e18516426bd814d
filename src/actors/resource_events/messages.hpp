// The resource events family's messages: what the HTTP routes (and any other sink) say to a
// subscription's actor, and what its callbacks say back to it. The chain is drawn in
// actors/protocol.hpp.
//
// A *sink* is whoever wants a subscription's events: a long-poll request, or a stream that asks
// for its next batch once it has written the previous one. It attaches with
//   (pull_atom, std::shared_ptr<pull_request>)
// to the subscription's actor (found through subscription_hub's directory). The actor answers
// through pull_request::reply exactly once:
//   - at once, when events after the request's position match (up to `max`), or when `wait_ms`
//     is 0;
//   - else as soon as matching events arrive (the bus wakes the actor), or with an empty batch
//     once `wait_ms` has passed (capped by subscriptions.pull.max_wait_ms);
//   - with an error: 404 (the subscription was deleted meanwhile), 409 (it delivers to a
//     webhook), 429 (too many sinks waiting on it: subscriptions.pull.max_waiting), 503 (its
//     actor stopped or restarts: ask again).
// A batch's events are JSON texts, one per event, each on one line (an SSE data line as it is).
// A batch's `next` is the position after everything read for it: a stream asks for its next
// batch with `from = next`; a pull client acks the cursor of the last event it handled.
#pragma once

#include "actors/protocol.hpp"
#include "core/error.hpp"
#include "flows/resource_events/subscription_service.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace medflow::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

// sink (HTTP) -> subscription: (pull_atom, shared_ptr<pull_request>) the events after a
// position, now or when they come.
using pull_atom = caf::atom_constant<caf::atom("pull")>;
// subscription -> itself: (expire_atom, waiter id) a waiting sink's wait_ms has passed.
using expire_atom = caf::atom_constant<caf::atom("expire")>;
// http client callback -> subscription: (posted_atom, call id, status, why) a webhook call
// finished: status is the HTTP status, 0 when no answer came (why says what happened).
using posted_atom = caf::atom_constant<caf::atom("posted")>;
// subscription -> itself: (retry_atom, call id) a webhook call's backoff delay has passed.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
// store writer -> subscription: (stored_atom, error text; empty = success) a cursor advance
// (or a dead letter with its advance) is committed.
using stored_atom = caf::atom_constant<caf::atom("stored")>;
// hub -> subscription: (deleted_atom) the subscription is gone: answer the sinks 404, stop.
using deleted_atom = caf::atom_constant<caf::atom("deleted")>;
// HTTP -> hub: (start_atom, id) run a new subscription's actor; (stop_atom, id) stop a
// deleted one's.
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using collected_atom = caf::atom_constant<caf::atom("collected")>;
// Also: (wake_atom) bus::log::watch -> subscription: records may have arrived; (drain_atom)
// daemon -> hub -> every subscription: answer the sinks (an empty batch), then stop;
// (status_atom) -> subscription: its counters.

// -- message types --------------------------------------------------------------------------

using flows::resource_events::pull_batch;  // what a sink gets

// A sink's request. `reply` runs exactly once, on an actor thread (keep it short: hand the
// answer to the connection). Dropped unanswered (its actor died, the message was lost), the
// request answers 503 itself.
class pull_request {
 public:
  using reply_fn = std::function<void(pull_batch)>;
  pull_request(std::optional<flows::resource_events::positions> from, std::size_t max,
               int64_t wait_ms, reply_fn reply, std::function<bool()> gone = nullptr)
      : from(std::move(from)),
        max(max),
        wait_ms(wait_ms),
        reply_(std::move(reply)),
        gone_(std::move(gone)) {}
  ~pull_request();
  pull_request(const pull_request&) = delete;
  pull_request& operator=(const pull_request&) = delete;

  // Unset: from the subscription's acked positions.
  std::optional<flows::resource_events::positions> from;
  std::size_t max = 100;
  int64_t wait_ms = 0;  // 0: answer at once

  // Answers (the first call only; later ones do nothing).
  void answer(pull_batch b);
  void fail(error e);
  bool answered() const { return !reply_; }
  // Needs no answer any more: answered, or its asker got one otherwise (the HTTP server's
  // safety net answered 503). Any thread.
  bool gone() const { return !reply_ || (gone_ && gone_()); }

 private:
  reply_fn reply_;
  std::function<bool()> gone_;
};

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<medflow::actors::pull_request>)
