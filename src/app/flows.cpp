#include "app/flows.hpp"

#include "app/aggregation_flow.hpp"
#include "app/exams_flow.hpp"
#include "app/hri_flow.hpp"
#include "app/medical_events_flow.hpp"
#include "app/resource_events_flow.hpp"

namespace medflow::app {

std::vector<std::unique_ptr<flow>> make_flows() {
  std::vector<std::unique_ptr<flow>> flows;
  flows.push_back(make_medical_events_flow());
  flows.push_back(make_hri_flow());
  flows.push_back(make_aggregation_flow());
  flows.push_back(make_resource_events_flow());
  flows.push_back(make_exams_flow());
  return flows;
}

}  // namespace medflow::app
