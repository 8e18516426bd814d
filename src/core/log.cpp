#include "core/log.hpp"

#include "core/clock.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace medflow::log {
namespace {
std::atomic<int> g_level{static_cast<int>(level::info)};
std::mutex g_mutex;
const char* names[] = {"debug", "info", "warn", "error", "off"};
}  // namespace

void set_level(level l) { g_level = static_cast<int>(l); }
level current_level() { return static_cast<level>(g_level.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view text, level& out) {
  for (int i = 0; i <= static_cast<int>(level::off); ++i)
    if (text == names[i]) {
      out = static_cast<level>(i);
      return true;
    }
  return false;
}

void write(level l, std::string_view component, std::string_view message) {
  auto ts = clock::iso8601_ms(clock::now_ms());
  std::lock_guard<std::mutex> guard{g_mutex};
  std::fprintf(stderr, "%s %-5s [%.*s] %.*s\n", ts.c_str(), names[static_cast<int>(l)],
               static_cast<int>(component.size()), component.data(),
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace medflow::log
