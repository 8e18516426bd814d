// Readiness: components register named checks; /readyz is ready when all of them pass.
// Escalated supervisors mark themselves here, so a crash loop makes the daemon not ready.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace medflow {

class health {
 public:
  struct check_result {
    std::string name;
    bool ok;
    std::string detail;
  };

  // A check that is evaluated on every /readyz call. It returns "" when fine, else a reason.
  void add_check(const std::string& name, std::function<std::string()> fn);
  // A condition set and cleared by its owner (e.g. "supervisor medical_events.p3 escalated").
  void set_problem(const std::string& name, const std::string& detail);
  void clear_problem(const std::string& name);

  std::vector<check_result> evaluate() const;
  bool ready() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::function<std::string()>> checks_;
  std::map<std::string, std::string> problems_;
};

}  // namespace medflow
