#include "core/log.hpp"

#include "core/clock.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>

namespace medflow::log {
namespace {
std::atomic<int> g_level{static_cast<int>(level::info)};
std::atomic<int> g_format{static_cast<int>(format::text)};
std::mutex g_mutex;
const char* names[] = {"debug", "info", "warn", "error", "off"};
const char* format_names[] = {"text", "json", "journal"};
// syslog priorities (sd-daemon.h's SD_DEBUG, SD_INFO, SD_WARNING, SD_ERR).
const char* journal_prefix[] = {"<7>", "<6>", "<4>", "<3>", "<6>"};

void append_fields_text(std::string& out, const fields& fs) {
  for (auto& f : fs) {
    out += ' ';
    out += f.key;
    out += '=';
    bool quote = f.value.empty() || f.value.find_first_of(" \"=\n") != std::string::npos;
    if (!quote) {
      out += f.value;
      continue;
    }
    out += '"';
    for (char c : f.value) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
}

// The enumerator whose name (its index in `table`) is `text`.
template <class E, size_t N>
bool parse_name(const char* const (&table)[N], std::string_view text, E& out) {
  for (size_t i = 0; i < N; ++i)
    if (text == table[i]) {
      out = static_cast<E>(i);
      return true;
    }
  return false;
}

// A message is one line whatever it holds: a newline would start a line of its own.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}
}  // namespace

void set_level(level l) { g_level = static_cast<int>(l); }
level current_level() { return static_cast<level>(g_level.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view text, level& out) { return parse_name(names, text, out); }

void set_format(format f) { g_format = static_cast<int>(f); }
format current_format() { return static_cast<format>(g_format.load(std::memory_order_relaxed)); }

bool parse_format(std::string_view text, format& out) {
  return parse_name(format_names, text, out);
}

std::string render(format f, level l, int64_t time_ms, std::string_view component,
                   std::string_view message, const fields& fs) {
  const char* lname = names[static_cast<int>(l)];
  if (f == format::json) {
    nlohmann::ordered_json j;
    j["time"] = clock::iso8601_ms(time_ms);
    j["level"] = lname;
    j["component"] = std::string(component);
    j["message"] = std::string(message);
    for (auto& fd : fs)
      if (!j.contains(fd.key)) j[fd.key] = fd.value;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out;
  if (f == format::journal) {
    out = journal_prefix[static_cast<int>(l)];
  } else {
    out = clock::iso8601_ms(time_ms);
    out += ' ';
    out += lname;
    out.append(5 - std::min<size_t>(5, std::char_traits<char>::length(lname)) + 1, ' ');
  }
  out += '[';
  out += component;
  out += "] ";
  out += one_line(message);
  append_fields_text(out, fs);
  return out;
}

void write(level l, std::string_view component, std::string_view message, const fields& fs) {
  auto line = render(current_format(), l, clock::now_ms(), component, message, fs);
  line += '\n';
  std::lock_guard<std::mutex> guard{g_mutex};
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace medflow::log
