// Prometheus-style metrics. Components own small "probe" structs holding references to the
// series they update; the registry renders everything as Prometheus text at /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace medflow::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

class counter {
 public:
  void inc(uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class gauge {
 public:
  void set(int64_t x) noexcept { v_.store(x, std::memory_order_relaxed); }
  void add(int64_t x) noexcept { v_.fetch_add(x, std::memory_order_relaxed); }
  int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double x) noexcept;
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_bits_{0};
};

// Bucket sets used across the daemon.
std::vector<double> latency_buckets_seconds();  // 50us .. 10s
std::vector<double> size_buckets();             // 1 .. 10000

class registry {
 public:
  counter& get_counter(const std::string& name, const std::string& help, const labels& ls = {});
  gauge& get_gauge(const std::string& name, const std::string& help, const labels& ls = {});
  histogram& get_histogram(const std::string& name, const std::string& help,
                           std::vector<double> bounds, const labels& ls = {});
  // A gauge computed when scraped (queue depths, live actor counts...). Replaces an earlier
  // callback with the same name and labels.
  void set_gauge_fn(const std::string& name, const std::string& help, const labels& ls,
                    std::function<double()> fn);
  void remove_gauge_fn(const std::string& name, const labels& ls);
  // The same for a counter read from elsewhere (e.g. the kernel's CPU time of the process).
  void set_counter_fn(const std::string& name, const std::string& help, const labels& ls,
                      std::function<double()> fn);

  // Runs before every render(), outside the registry's lock: updates series that are measured
  // together when scraped (e.g. consumer lag, one pass over the bus). It may register, set and
  // remove series. Returns its id for remove_collector.
  uint64_t add_collector(std::function<void()> fn);
  // After it returns, the collector is not running and never runs again.
  void remove_collector(uint64_t id);

  std::string render() const;

  static registry& global();

 private:
  struct series {
    std::unique_ptr<counter> c;
    std::unique_ptr<gauge> g;
    std::unique_ptr<histogram> h;
    std::function<double()> fn;
  };
  struct family {
    std::string help;
    std::string type;
    std::map<std::string, series> by_labels;  // key: rendered label set
  };
  family& fam(const std::string& name, const std::string& help, const char* type);

  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
  // Held while collectors run, so that remove_collector waits for a render using it.
  mutable std::mutex collectors_mutex_;
  std::map<uint64_t, std::function<void()>> collectors_;
  uint64_t next_collector_ = 1;
};

std::string render_labels(const labels& ls);

// The content type of render()'s text (Prometheus' text exposition format 0.0.4).
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

// Prometheus' standard process metrics (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds),
// read from /proc when scraped, and medflow_build_info{version} 1.
void register_process_metrics(registry& r);

}  // namespace medflow::metrics
