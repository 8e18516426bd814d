// A small leveled logger to stderr: one line per event, UTC timestamp, component name, and
// structured fields (request_id, job_id, batch_id, correlation_id...) that the JSON format
// writes as keys of their own and the text format as key=value after the message.
//
// Personal data (patient ids, documents, tokens, e-mail addresses, phone numbers) is never
// written at info or above: log the job, batch or request id instead.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace medflow::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// text: `<time> <level> [component] message key=value...`; json: one object a line (time,
// level, component, message, then the fields); journal: `<N>` syslog priority prefixes for
// systemd's journal, which keeps its own timestamps.
enum class format { text, json, journal };

void set_level(level l);
level current_level();
bool parse_level(std::string_view text, level& out);
void set_format(format f);
format current_format();
bool parse_format(std::string_view text, format& out);

// A structured field of a line: log::field{"job_id", id}.
struct field {
  std::string key;
  std::string value;
};
using fields = std::vector<field>;

void write(level l, std::string_view component, std::string_view message,
           const fields& fs = {});
// One line as `f` formats it (without the newline); what write() prints, for tests.
std::string render(format f, level l, int64_t time_ms, std::string_view component,
                   std::string_view message, const fields& fs);

namespace detail {
inline void append(std::ostringstream&, fields&) {}
template <class T, class... Ts>
void append(std::ostringstream& os, fields& fs, const T& x, const Ts&... xs) {
  if constexpr (std::is_same_v<T, field>) fs.push_back(x);
  else os << x;
  append(os, fs, xs...);
}
}  // namespace detail

// The arguments that are fields become fields; the others are streamed into the message.
template <class... Ts>
void emit(level l, std::string_view component, const Ts&... xs) {
  if (l < current_level()) return;
  std::ostringstream os;
  fields fs;
  detail::append(os, fs, xs...);
  write(l, component, os.str(), fs);
}

template <class... Ts> void debug(std::string_view c, const Ts&... xs) { emit(level::debug, c, xs...); }
template <class... Ts> void info(std::string_view c, const Ts&... xs) { emit(level::info, c, xs...); }
template <class... Ts> void warn(std::string_view c, const Ts&... xs) { emit(level::warn, c, xs...); }
template <class... Ts> void error(std::string_view c, const Ts&... xs) { emit(level::error, c, xs...); }

}  // namespace medflow::log
