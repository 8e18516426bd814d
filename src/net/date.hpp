// The Date header's text (RFC 9110 6.6.1), in IMF-fixdate (5.6.7).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace medflow::net {

// "Sun, 06 Nov 1994 08:49:37 GMT" for 784111777.
std::string imf_fixdate(int64_t unix_seconds);

// The text for the current second, formatted once per second it is asked in, not per answer.
class date_cache {
 public:
  std::string_view at(int64_t unix_seconds);
  uint64_t formats() const { return formats_; }  // how often it formatted

 private:
  int64_t second_ = INT64_MIN;
  std::string text_;
  uint64_t formats_ = 0;
};

// Now, from this thread's date_cache: an answer written on a loop thread formats the date at
// most once per second on that thread.
std::string_view current_date();

}  // namespace medflow::net
