#include "app/flows.hpp"

namespace medflow::app {

std::vector<std::unique_ptr<flow>> make_flows() {
  std::vector<std::unique_ptr<flow>> flows;
  return flows;
}

}  // namespace medflow::app
