// The aggregating services (POST /aggregation/{service}) and the local engagement index's
// Update, ProcessNotification and FindContent endpoints.
#pragma once

#include "flows/aggregation/service.hpp"

namespace medflow::jwt {
class verifier;
}

namespace medflow::http {
class server;

// The bearer scope that writes to the engagement index (Update, ProcessNotification) need.
inline constexpr const char* index_writer_scope = "agp_admin";

// The routes call `svc`, which outlives the server's routes. `index_writers` verifies the
// bearer tokens of index writes (it outlives the routes too); null accepts them without a
// token (aggregation.auth.disabled, development only).
void add_aggregation_routes(server& srv, flows::aggregation::service& svc,
                            const jwt::verifier* index_writers);

}  // namespace medflow::http
