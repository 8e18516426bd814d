// The medical events API under /api (compatible with eHealth's: EView envelope, consumer
// headers, job routes and statuses) and the registries' admin API under /admin.
#pragma once

namespace medflow::flows::medical_events {
class service;
}

namespace medflow::http {
class server;

void add_medical_events_routes(server& srv, flows::medical_events::service& svc);

}  // namespace medflow::http
