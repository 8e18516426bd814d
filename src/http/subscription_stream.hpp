// GET /subscriptions/{id}/stream: a subscription's events as server-sent events. The stream is
// a sink of the subscription's actor, like a long poll: it asks for a batch (waiting up to the
// heartbeat interval), writes it, and asks for the next from where the batch ended; an empty
// batch becomes a heartbeat comment. A full send buffer holds the next request until the client
// has read (net::answer_stream's backpressure); the client leaving ends it. Delivery is at
// least once: the stream never acks; the client acks the id of what it handled.
#pragma once

#include "http/resource_events_routes.hpp"

#include <memory>
#include <optional>
#include <string>

namespace medflow::http {

class responder;

// Starts the stream for a validated request: `from` unset is the subscription's acked
// position; `wait_ms` how long the actor may hold a request for events (the heartbeat
// interval, within subscriptions.pull.max_wait_ms). The first batch comes before the head: an
// error there (404, 409, 429, 503) is answered as JSON with its status instead of a stream.
void start_subscription_stream(subscriptions_api::pull_fn pull, int64_t wait_ms, std::string id,
                               std::optional<flows::resource_events::positions> from,
                               responder respond);

}  // namespace medflow::http
