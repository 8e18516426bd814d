// Subscriptions of the resource events flow: /subscriptions (create, list, get, delete),
// pull delivery (GET /subscriptions/{id}/events?max=&wait_ms=, a long poll answered by the
// subscription's actor), the same as server-sent events (GET /subscriptions/{id}/stream, see
// http/subscription_stream) and ack (POST /subscriptions/{id}/ack). Errors are medflow's JSON error
// body.
#pragma once

#include "flows/resource_events/subscription_service.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace medflow::http {
class server;

struct subscriptions_api {
  flows::resource_events::subscription_service& svc;
  int64_t max_events = 1000;   // subscriptions.pull.max_events: the highest ?max=
  int64_t max_wait_ms = 30000;  // subscriptions.pull.max_wait_ms: the highest ?wait_ms=
  int64_t heartbeat_ms = 15000;  // subscriptions.stream.heartbeat_s: a stream's idle comment
  // Hands a pull to the subscription's actor: the events after `from` (unset: after the acked
  // positions), at most `max`, waiting up to `wait_ms` for some. `reply` runs exactly once, on
  // any thread; `gone()` (any thread) is true once the request needs no answer any more (the
  // server answered it with its 503 safety net).
  using reply_fn = std::function<void(flows::resource_events::pull_batch)>;
  using pull_fn = std::function<void(const std::string& id,
                                     std::optional<flows::resource_events::positions> from,
                                     std::size_t max, int64_t wait_ms, reply_fn reply,
                                     std::function<bool()> gone)>;
  pull_fn pull;
  // A subscription was created (start its actor) / deleted (stop it).
  std::function<void(const std::string& id)> created;
  std::function<void(const std::string& id)> deleted;
};

void add_resource_events_routes(server& srv, subscriptions_api api);

}  // namespace medflow::http
