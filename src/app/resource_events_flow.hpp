// Wires the subscriptions half of the resource events flow: its tables and /subscriptions.
#pragma once

#include "app/flow.hpp"

#include <memory>

namespace medflow::app {

std::unique_ptr<flow> make_resource_events_flow();

}  // namespace medflow::app
