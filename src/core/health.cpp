#include "core/health.hpp"

namespace medflow {

void health::add_check(const std::string& name, std::function<std::string()> fn) {
  std::lock_guard<std::mutex> g{mutex_};
  checks_[name] = std::move(fn);
}

void health::set_problem(const std::string& name, const std::string& detail) {
  std::lock_guard<std::mutex> g{mutex_};
  problems_[name] = detail;
}

void health::clear_problem(const std::string& name) {
  std::lock_guard<std::mutex> g{mutex_};
  problems_.erase(name);
}

std::vector<health::check_result> health::evaluate() const {
  std::map<std::string, std::function<std::string()>> checks;
  std::vector<check_result> out;
  {
    std::lock_guard<std::mutex> g{mutex_};
    checks = checks_;
    for (auto& [n, d] : problems_) out.push_back({n, false, d});
  }
  for (auto& [n, fn] : checks) {
    std::string why;
    try {
      why = fn();
    } catch (const std::exception& e) {
      why = e.what();
    }
    out.push_back({n, why.empty(), why});
  }
  return out;
}

bool health::ready() const {
  for (auto& r : evaluate())
    if (!r.ok) return false;
  return true;
}

}  // namespace medflow
