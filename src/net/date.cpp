#include "net/date.hpp"

#include <cstdio>
#include <ctime>

namespace medflow::net {

std::string imf_fixdate(int64_t unix_seconds) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  // Names from the tables, not strftime: the C locale's names are the only right ones.
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string_view date_cache::at(int64_t unix_seconds) {
  if (unix_seconds != second_) {
    second_ = unix_seconds;
    text_ = imf_fixdate(unix_seconds);
    ++formats_;
  }
  return text_;
}

std::string_view current_date() {
  thread_local date_cache cache;
  return cache.at(static_cast<int64_t>(std::time(nullptr)));
}

}  // namespace medflow::net
