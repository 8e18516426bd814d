// Wires the medical events flow: its topics, one supervised partition consumer per partition
// of medical_events and person_events, scheduled maintenance, and the /api routes.
#pragma once

#include "app/flow.hpp"

#include <memory>

namespace medflow::app {

std::unique_ptr<flow> make_medical_events_flow();

}  // namespace medflow::app
