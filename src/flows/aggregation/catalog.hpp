// The aggregation flow's configuration files: one aggregating service per JSON file of a
// directory, and the TAK (permissions and routes). A file that is present but wrong stops
// start-up with an error that names it; a missing TAK or directory only warns (nothing is then
// authorized, or no service is offered).
#pragma once

#include "flows/aggregation/domain.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace medflow::flows::aggregation {

struct catalog {
  std::map<std::string, std::shared_ptr<const service_definition>> services;
  std::shared_ptr<const tak> permissions = std::make_shared<const tak>();
};

// Every *.json of `dir` but the TAK (`tak_file`, or any file named tak.json) is a service;
// unset timeouts and cache settings come from `limits` and `cache`. Throws std::runtime_error
// "<file>: <what is wrong>".
catalog load_catalog(const std::string& dir, const std::string& tak_file, const timeouts& limits,
                     const cache_settings& cache);

// A JSON file, // comments allowed. Throws std::runtime_error naming the file when it cannot be
// read, is larger than 16 MiB, or is not JSON.
json read_json_file(const std::filesystem::path& p);

}  // namespace medflow::flows::aggregation
