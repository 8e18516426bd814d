// Operations endpoints: /healthz (alive), /readyz (store, bus, supervisors), /metrics
// (Prometheus text), /openapi.json (every registered route).
#pragma once

namespace medflow {
class health;
}

namespace medflow::http {
class server;

void add_ops_routes(server& srv, health& h);

}  // namespace medflow::http
