#include "flows/aggregation/catalog.hpp"

#include "core/json.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace medflow::flows::aggregation {

namespace {

// Configuration files are small; anything this large is a mistake (a data file in the wrong
// directory), refused before it is read into memory.
constexpr std::uintmax_t max_file_bytes = 16u << 20;

}  // namespace

json read_json_file(const std::filesystem::path& p) {
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  if (!ec && size > max_file_bytes)
    throw std::runtime_error(p.string() + " is larger than " + std::to_string(max_file_bytes) +
                             " bytes");
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse_json_limited(ss.str(), max_json_depth(), /*ignore_comments=*/true);
  if (!parsed) throw std::runtime_error(p.string() + " is not valid JSON: " + parsed.err().message);
  return std::move(*parsed);
}

catalog load_catalog(const std::string& dir, const std::string& tak_file, const timeouts& limits,
                     const cache_settings& cache) {
  namespace fs = std::filesystem;
  catalog c;
  if (fs::exists(tak_file)) {
    auto t = parse_tak(read_json_file(tak_file));
    if (!t) throw std::runtime_error(tak_file + ": " + t.err().message);
    c.permissions = std::make_shared<const tak>(std::move(*t));
  } else {
    log::warn("aggregation", "no TAK file at ", tak_file, ": no source is authorized");
  }
  if (!fs::is_directory(dir)) {
    log::warn("aggregation", "no service directory at ", dir, ": no aggregating services");
    return c;
  }
  std::vector<fs::path> files;
  for (auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    if (fs::absolute(entry.path()) == fs::absolute(fs::path(tak_file))) continue;
    // The shipped directory holds the shipped TAK: with aggregation.tak_file pointed at
    // another one, it is still a TAK, not a service to refuse to start over.
    if (entry.path().filename() == "tak.json") {
      log::info("aggregation", "skipped ", entry.path().string(),
                ": a TAK file (the one in use is ", tak_file, ")");
      continue;
    }
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    auto s = parse_service(read_json_file(f), limits, cache);
    if (!s) throw std::runtime_error(f.string() + ": " + s.err().message);
    if (s->limits.aggregate_ms <= s->limits.service_ms)
      log::warn("aggregation", "service ", s->name, ": AGGREGATE_TIMEOUT_MS (",
                s->limits.aggregate_ms, ") <= SERVICE_TIMEOUT_MS (", s->limits.service_ms,
                "): sources slower than the aggregate timeout are reported as Unknown error");
    auto name = s->name;  // C++17 evaluates the right side of = first: it moves the name away
    c.services[name] = std::make_shared<const service_definition>(std::move(*s));
  }
  return c;
}

}  // namespace medflow::flows::aggregation
