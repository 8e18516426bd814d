// Subscriptions of the resource events flow: /subscriptions (create, list, get, delete),
// pull delivery (GET /subscriptions/{id}/events, answered at once with what is there) and
// ack (POST /subscriptions/{id}/ack). Errors are medflow's JSON error body.
#pragma once

#include "flows/resource_events/subscription_service.hpp"

#include <cstdint>

namespace medflow::http {
class server;

struct subscriptions_api {
  flows::resource_events::subscription_service& svc;
  int64_t max_events = 1000;  // subscriptions.pull.max_events: the highest ?max=
};

void add_resource_events_routes(server& srv, subscriptions_api api);

}  // namespace medflow::http
