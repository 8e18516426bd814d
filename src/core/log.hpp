// A small leveled logger to stderr: one line per event, UTC timestamp, component name.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace medflow::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(level l);
level current_level();
bool parse_level(std::string_view text, level& out);
void write(level l, std::string_view component, std::string_view message);

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Ts>
void append(std::ostringstream& os, const T& x, const Ts&... xs) {
  os << x;
  append(os, xs...);
}
}  // namespace detail

template <class... Ts>
void emit(level l, std::string_view component, const Ts&... xs) {
  if (l < current_level()) return;
  std::ostringstream os;
  detail::append(os, xs...);
  write(l, component, os.str());
}

template <class... Ts> void debug(std::string_view c, const Ts&... xs) { emit(level::debug, c, xs...); }
template <class... Ts> void info(std::string_view c, const Ts&... xs) { emit(level::info, c, xs...); }
template <class... Ts> void warn(std::string_view c, const Ts&... xs) { emit(level::warn, c, xs...); }
template <class... Ts> void error(std::string_view c, const Ts&... xs) { emit(level::error, c, xs...); }

}  // namespace medflow::log
