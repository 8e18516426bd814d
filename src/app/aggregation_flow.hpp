// Wires the aggregation flow: service definitions and the TAK from configuration, the
// engagement index (local or external), the asynchronous HTTP client, answer caches with their
// sweeper, the splitter / source_worker / aggregator actors, and /aggregation.
#pragma once

#include "app/flow.hpp"

#include <memory>

namespace medflow::app {

std::unique_ptr<flow> make_aggregation_flow();

}  // namespace medflow::app
