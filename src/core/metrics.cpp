#include "core/metrics.hpp"

#include "core/version.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
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

// HELP text escapes only backslash and newline (label values also the double quote).
std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string fmt(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
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

void registry::set_counter_fn(const std::string& name, const std::string& help, const labels& ls,
                              std::function<double()> fn) {
  std::lock_guard<std::mutex> g{mutex_};
  fam(name, help, "counter").by_labels[render_labels(ls)].fn = std::move(fn);
}

void registry::remove_gauge_fn(const std::string& name, const labels& ls) {
  std::lock_guard<std::mutex> g{mutex_};
  auto f = families_.find(name);
  if (f == families_.end()) return;
  f->second.by_labels.erase(render_labels(ls));
}

uint64_t registry::add_collector(std::function<void()> fn) {
  std::lock_guard<std::mutex> g{collectors_mutex_};
  collectors_.emplace(next_collector_, std::move(fn));
  return next_collector_++;
}

void registry::remove_collector(uint64_t id) {
  std::lock_guard<std::mutex> g{collectors_mutex_};
  collectors_.erase(id);
}

std::string registry::render() const {
  {
    // One render's collectors at a time: they run outside mutex_ (they register series).
    std::lock_guard<std::mutex> g{collectors_mutex_};
    for (auto& [id, c] : collectors_) c();
  }
  std::lock_guard<std::mutex> g{mutex_};
  std::ostringstream os;
  for (auto& [name, f] : families_) {
    if (f.by_labels.empty()) continue;
    os << "# HELP " << name << ' ' << escape_help(f.help) << '\n';
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

namespace {

// /proc/self/stat's fields after the command (which may hold spaces and parentheses): field
// 3 (state) is [0]; utime, stime are fields 14, 15; starttime 22; vsize 23; rss 24 (pages).
std::vector<std::string> proc_stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> out;
  auto close = line.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream rest(line.substr(close + 1));
  for (std::string f; rest >> f;) out.push_back(f);
  return out;
}

double stat_field(size_t field_no) {
  auto fs = proc_stat_fields();
  size_t i = field_no - 3;
  return i < fs.size() ? std::strtod(fs[i].c_str(), nullptr) : NAN;
}

// The boot time (seconds since the epoch), from /proc/stat's btime.
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = NAN;
      in >> v;
      return v;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return NAN;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? NAN : n - 1;  // less the descriptor of the listing itself
}

}  // namespace

void register_process_metrics(registry& r) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // The start time does not change: computed once.
  static const double start = boot_time() + stat_field(22) / ticks;
  r.set_counter_fn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   {}, [] { return (stat_field(14) + stat_field(15)) / ticks; });
  r.set_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                 [] { return stat_field(24) * page; });
  r.set_gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
                 [] { return stat_field(23); });
  r.set_gauge_fn("process_open_fds", "Number of open file descriptors.", {}, open_fds);
  r.set_gauge_fn("process_max_fds", "Maximum number of open file descriptors.", {}, [] {
    rlimit l{};
    if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return static_cast<double>(NAN);
    return l.rlim_cur == RLIM_INFINITY ? static_cast<double>(INFINITY)
                                       : static_cast<double>(l.rlim_cur);
  });
  r.set_gauge_fn("process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.", {},
                 [] { return start; });
  r.set_gauge_fn("medflow_build_info", "medflowd's build: its version (the value is always 1)",
                 {{"version", std::string(version())}}, [] { return 1.0; });
}

registry& registry::global() {
  static registry r;
  return r;
}

}  // namespace medflow::metrics
