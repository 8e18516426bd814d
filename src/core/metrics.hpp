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
};

std::string render_labels(const labels& ls);

}  // namespace medflow::metrics
