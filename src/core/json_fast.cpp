#include "core/json_fast.hpp"

#include "core/json.hpp"

#include <atomic>

namespace medflow::json_fast {

namespace {
std::atomic<bool> on{true};
}

void set_enabled(bool enable) { on.store(enable); }
bool enabled() { return on.load(std::memory_order_relaxed); }

std::optional<simdjson::dom::element> parse(std::string_view text, std::size_t max_bytes) {
  if (!enabled() || text.size() > max_bytes) return std::nullopt;
  thread_local simdjson::dom::parser parser;
  // The limit is read on every call: json.max_depth is set at start-up, after a thread may
  // have parsed with the default.
  std::size_t depth = max_json_depth();
  if (parser.max_depth() != depth || parser.capacity() < text.size()) {
    // Capacity grows to the longest text parsed here (at least 4 KiB, at most max_bytes).
    std::size_t capacity = std::max<std::size_t>({text.size(), parser.capacity(), 4096});
    if (parser.allocate(capacity, depth) != simdjson::SUCCESS) return std::nullopt;
  }
  // realloc_if_needed: simdjson reads past the end of what it is given, so it works on its own
  // padded copy of the text.
  auto doc = parser.parse(text.data(), text.size(), true);
  if (doc.error()) return std::nullopt;
  return doc.value_unsafe();
}

}  // namespace medflow::json_fast
