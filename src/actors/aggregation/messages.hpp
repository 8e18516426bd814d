// The aggregation family's messages: one aggregated request's fan-out as its splitter, source
// workers and aggregator share it, and what they send one another. The chain is drawn in
// actors/protocol.hpp.
#pragma once

#include "actors/protocol.hpp"
#include "net/http_client.hpp"
#include "flows/aggregation/service.hpp"

#include <caf/all.hpp>

namespace medflow::actors {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------------------------

// http client (through completion_runner) -> source_worker: (call_done_atom, response) the
// source's call finished.
using call_done_atom = caf::atom_constant<caf::atom("call_done")>;
// source_worker -> aggregator: (source_done_atom, index, source_result) one source's outcome.
using source_done_atom = caf::atom_constant<caf::atom("src_done")>;
// aggregator -> itself: the aggregate timeout fired.
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;

// -- message types --------------------------------------------------------------------------

// One aggregated request's fan-out as the flow's service hands it over (the calls, the body
// and headers every source gets, the cache, the reply), plus the HTTP client the workers call
// through. Shared read-only by the splitter, its workers and the aggregator.
struct fan_out : flows::aggregation::fan_out_request {
  net::http_client::client* http = nullptr;
};

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::net::http_client::response)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(medflow::flows::aggregation::source_result)
