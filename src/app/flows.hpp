// The flows medflowd runs, in start order.
#pragma once

#include "app/flow.hpp"

#include <memory>
#include <vector>

namespace medflow::app {

std::vector<std::unique_ptr<flow>> make_flows();

}  // namespace medflow::app
