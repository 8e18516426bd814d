// The process's time zone (TZ) set for the scope of a test and restored after, for code that
// formats local time. POSIX zone strings (e.g. "CET-1CEST,M3.5.0,M10.5.0/3") need no tzdata.
#pragma once

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

namespace medflow::test {

class time_zone {
 public:
  explicit time_zone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~time_zone() {
    if (old_)
      ::setenv("TZ", old_->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  time_zone(const time_zone&) = delete;
  time_zone& operator=(const time_zone&) = delete;

 private:
  std::optional<std::string> old_;
};

// Central European Time with its daylight saving rules (Sweden's zone, AgP's home).
inline constexpr const char* stockholm = "CET-1CEST,M3.5.0,M10.5.0/3";

}  // namespace medflow::test
