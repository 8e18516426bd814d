#include "core/metrics.hpp"

#include "core/version.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <sstream>

using namespace medflow;

namespace {

// The value of the sample line that starts with `series` + ' ', or NaN.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::strtod(line.c_str() + series.size() + 1, nullptr);
  return NAN;
}

}  // namespace

TEST_CASE("metrics: HELP escapes backslash and newline; label values also the quote") {
  metrics::registry r;
  r.get_counter("t_total", "a \\ back\nslash \"q\"", {{"v", "a\\b\"c\nd"}}).inc(2);
  auto text = r.render();
  CHECK(text.find("# HELP t_total a \\\\ back\\nslash \"q\"\n") != std::string::npos);
  CHECK(text.find("# TYPE t_total counter\n") != std::string::npos);
  CHECK(text.find("t_total{v=\"a\\\\b\\\"c\\nd\"} 2\n") != std::string::npos);
}

TEST_CASE("metrics: counter functions, collectors and their removal") {
  metrics::registry r;
  double v = 1.5;
  r.set_counter_fn("c_total", "c", {}, [&] { return v; });
  int runs = 0;
  auto id = r.add_collector([&] {
    ++runs;
    r.get_gauge("g", "g", {{"k", "x"}}).set(runs);
  });
  auto text = r.render();
  CHECK(text.find("# TYPE c_total counter\nc_total 1.5\n") != std::string::npos);
  CHECK(sample(text, "g{k=\"x\"}") == 1);
  CHECK(sample(r.render(), "g{k=\"x\"}") == 2);
  r.remove_collector(id);
  CHECK(sample(r.render(), "g{k=\"x\"}") == 2);
  CHECK(runs == 2);
}

TEST_CASE("metrics: the process metrics and build info") {
  metrics::registry r;
  metrics::register_process_metrics(r);
  auto text = r.render();
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  CHECK(sample(text, "process_cpu_seconds_total") >= 0);
  auto rss = sample(text, "process_resident_memory_bytes");
  CHECK(rss > 1e5);
  CHECK(sample(text, "process_virtual_memory_bytes") >= rss);
  CHECK(sample(text, "process_open_fds") >= 3);  // stdin, stdout, stderr at least
  CHECK(sample(text, "process_max_fds") >= sample(text, "process_open_fds"));
  // Started within the last day, and not in the future.
  auto start = sample(text, "process_start_time_seconds");
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(start <= now + 1);
  CHECK(start > now - 86400);
  CHECK(sample(text, "medflow_build_info{version=\"" + std::string(version()) + "\"}") == 1);
  CHECK(std::string(metrics::content_type) == "text/plain; version=0.0.4; charset=utf-8");
}
