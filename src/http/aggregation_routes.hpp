// The aggregating services (POST /aggregation/{service}) and the local engagement index's
// Update and FindContent endpoints.
#pragma once

#include "flows/aggregation/service.hpp"

namespace medflow::http {
class server;

// The routes call `svc`, which outlives the server's routes.
void add_aggregation_routes(server& srv, flows::aggregation::service& svc);

}  // namespace medflow::http
