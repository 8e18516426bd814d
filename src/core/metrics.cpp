#include "core/metrics.hpp"

#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace medflow::metrics {

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void histogram::observe(double x) noexcept {
  size_t i = 0;
  while (i < bounds_.size() && x > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t old_bits = sum_bits_.load(std::memory_order_relaxed);
  for (;;) {
    double old_v;
    std::memcpy(&old_v, &old_bits, sizeof old_v);
    double new_v = old_v + x;
    uint64_t new_bits;
    std::memcpy(&new_bits, &new_v, sizeof new_bits);
    if (sum_bits_.compare_exchange_weak(old_bits, new_bits, std::memory_order_relaxed)) break;
  }
}

double histogram::sum() const {
  uint64_t bits = sum_bits_.load(std::memory_order_relaxed);
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::vector<double> latency_buckets_seconds() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
}

std::vector<double> size_buckets() { return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}; }

namespace {
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string fmt(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream os;
  os.precision(12);
  os << v;
  return os.str();
}

// Adds one label to an already rendered label set.
std::string with_label(const std::string& rendered, const std::string& k, const std::string& v) {
  std::string extra = k + "=\"" + escape(v) + "\"";
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}
}  // namespace

std::string render_labels(const labels& ls) {
  if (ls.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < ls.size(); ++i) {
    if (i) s += ',';
    s += ls[i].first + "=\"" + escape(ls[i].second) + "\"";
  }
  return s + "}";
}

registry::family& registry::fam(const std::string& name, const std::string& help,
                                const char* type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.type = type;
    f.help = help;
  } else if (f.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return f;
}

counter& registry::get_counter(const std::string& name, const std::string& help, const labels& ls) {
  std::lock_guard<std::mutex> g{mutex_};
  auto& s = fam(name, help, "counter").by_labels[render_labels(ls)];
  if (!s.c) s.c = std::make_unique<counter>();
  return *s.c;
}

gauge& registry::get_gauge(const std::string& name, const std::string& help, const labels& ls) {
  std::lock_guard<std::mutex> g{mutex_};
  auto& s = fam(name, help, "gauge").by_labels[render_labels(ls)];
  if (!s.g) s.g = std::make_unique<gauge>();
  return *s.g;
}

histogram& registry::get_histogram(const std::string& name, const std::string& help,
                                   std::vector<double> bounds, const labels& ls) {
  std::lock_guard<std::mutex> g{mutex_};
  auto& s = fam(name, help, "histogram").by_labels[render_labels(ls)];
  if (!s.h) s.h = std::make_unique<histogram>(std::move(bounds));
  return *s.h;
}

void registry::set_gauge_fn(const std::string& name, const std::string& help, const labels& ls,
                            std::function<double()> fn) {
  std::lock_guard<std::mutex> g{mutex_};
  fam(name, help, "gauge").by_labels[render_labels(ls)].fn = std::move(fn);
}

void registry::remove_gauge_fn(const std::string& name, const labels& ls) {
  std::lock_guard<std::mutex> g{mutex_};
  auto f = families_.find(name);
  if (f == families_.end()) return;
  f->second.by_labels.erase(render_labels(ls));
}

std::string registry::render() const {
  std::lock_guard<std::mutex> g{mutex_};
  std::ostringstream os;
  for (auto& [name, f] : families_) {
    if (f.by_labels.empty()) continue;
    os << "# HELP " << name << ' ' << f.help << '\n';
    os << "# TYPE " << name << ' ' << f.type << '\n';
    for (auto& [ls, s] : f.by_labels) {
      if (s.c) os << name << ls << ' ' << s.c->value() << '\n';
      if (s.g) os << name << ls << ' ' << s.g->value() << '\n';
      if (s.fn) os << name << ls << ' ' << fmt(s.fn()) << '\n';
      if (s.h) {
        uint64_t cum = 0;
        const auto& b = s.h->bounds();
        for (size_t i = 0; i <= b.size(); ++i) {
          cum += s.h->bucket(i);
          double le = i < b.size() ? b[i] : INFINITY;
          os << name << "_bucket" << with_label(ls, "le", fmt(le)) << ' ' << cum << '\n';
        }
        os << name << "_sum" << ls << ' ' << fmt(s.h->sum()) << '\n';
        os << name << "_count" << ls << ' ' << s.h->count() << '\n';
      }
    }
  }
  return os.str();
}

registry& registry::global() {
  static registry r;
  return r;
}

}  // namespace medflow::metrics
