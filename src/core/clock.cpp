#include "core/clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace medflow::clock {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

namespace {

std::tm utc(int64_t secs) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Formats the UTC calendar fields of `secs` with `format`: year, month, day, hour, minute,
// second, then `fraction` (ignored by formats without a fifth field).
std::string format_utc(const char* format, int64_t secs, int fraction) {
  auto tm = utc(secs);
  char buf[64];
  std::snprintf(buf, sizeof buf, format, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
  return buf;
}

}  // namespace

std::string iso8601(int64_t ms) {
  return format_utc("%04d-%02d-%02dT%02d:%02d:%02dZ", floor_div(ms, 1000), 0);
}

std::string iso8601_ms(int64_t ms) {
  auto secs = floor_div(ms, 1000);
  return format_utc("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", secs,
                    static_cast<int>(ms - secs * 1000));
}

std::string iso8601_us(int64_t us) {
  auto secs = floor_div(us, 1000000);
  return format_utc("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", secs,
                    static_cast<int>(us - secs * 1000000));
}

std::string compact_ts(int64_t ms) {
  return format_utc("%04d%02d%02d%02d%02d%02d", floor_div(ms, 1000), 0);
}

std::string compact_local_ts(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm tm{};
  // localtime_r reads TZ once per process (tzset); unlike localtime it needs no static buffer.
  localtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string date(int64_t ms) {
  auto tm = utc(floor_div(ms, 1000));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool valid_date(int64_t y, int64_t m, int64_t d) {
  static constexpr int64_t days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= days[m - 1] + (m == 2 && leap_year(y) ? 1 : 0);
}

int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool read_digits(std::string_view s, size_t pos, size_t n, int64_t& out) {
  if (pos > s.size() || n > s.size() - pos) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool is_rfc3339_date(std::string_view s) {
  int64_t y = 0, m = 0, d = 0;
  return s.size() == 10 && read_digits(s, 0, 4, y) && s[4] == '-' && read_digits(s, 5, 2, m) &&
         s[7] == '-' && read_digits(s, 8, 2, d) && valid_date(y, m, d);
}

bool is_rfc3339_date_time(std::string_view s) {
  if (s.size() < 20 || !is_rfc3339_date(s.substr(0, 10)) || (s[10] != 'T' && s[10] != 't'))
    return false;
  int64_t hh = 0, mm = 0, ss = 0;
  if (!read_digits(s, 11, 2, hh) || s[13] != ':' || !read_digits(s, 14, 2, mm) || s[16] != ':' ||
      !read_digits(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 59)
    return false;
  size_t pos = 19;
  if (s[pos] == '.') {
    const size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return false;
  }
  if (pos == s.size()) return false;
  if (s[pos] == 'Z' || s[pos] == 'z') return pos + 1 == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  int64_t oh = 0, om = 0;
  return pos + 6 == s.size() && read_digits(s, pos + 1, 2, oh) && s[pos + 3] == ':' &&
         read_digits(s, pos + 4, 2, om) && oh <= 23 && om <= 59;
}

std::optional<int64_t> parse_iso8601(std::string_view s) {
  int64_t y, mo, d, h = 0, mi = 0, sec = 0;
  if (s.size() < 10 || !read_digits(s, 0, 4, y) || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !read_digits(s, 8, 2, d) || !valid_date(y, mo, d))
    return std::nullopt;
  int64_t frac_ms = 0;
  int64_t offset_s = 0;
  size_t pos = 10;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    if (!read_digits(s, pos + 1, 2, h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, mi))
      return std::nullopt;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!read_digits(s, pos + 1, 2, sec)) return std::nullopt;
      pos += 3;
    }
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int64_t scale = 100;
      size_t start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        frac_ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
    if (pos == s.size()) return std::nullopt;  // a time needs a zone
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int64_t oh, om;
      if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !read_digits(s, pos + 4, 2, om))
        return std::nullopt;
      offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
      pos += 6;
    } else {
      return std::nullopt;
    }
    if (pos != s.size() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1000 + frac_ms;
}

}  // namespace medflow::clock
