// The aggregating services (POST /aggregation/{service}) and the local engagement index's
// Update and FindContent endpoints.
#pragma once

#include "flows/aggregation/index.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace medflow::http {
class server;

struct aggregation_api {
  std::map<std::string, std::shared_ptr<const flows::aggregation::service_definition>> services;
  std::shared_ptr<const flows::aggregation::tak> tak;
  flows::aggregation::engagement_index* index;
  flows::aggregation::local_index* local;  // null when the index is external
  std::string own_logical_address;
  std::string vp_instance_id;
  // Starts the fan-out of one request; `reply` gets the aggregated answer.
  std::function<void(const std::shared_ptr<const flows::aggregation::service_definition>&,
                     std::vector<flows::aggregation::source_call>, std::string body,
                     std::vector<std::pair<std::string, std::string>> headers,
                     std::function<void(nlohmann::json, int64_t slowest_us)> reply)>
      fan_out;
};

void add_aggregation_routes(server& srv, aggregation_api api);

}  // namespace medflow::http
