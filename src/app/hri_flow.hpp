// Wires the batches flow (HRI): the batch registry, one supervised consumer per partition of
// every validated stream's .in topic (started and stopped with the streams), and /hri.
#pragma once

#include "app/flow.hpp"

#include <memory>

namespace medflow::app {

std::unique_ptr<flow> make_hri_flow();

}  // namespace medflow::app
