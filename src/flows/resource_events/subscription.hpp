// Subscriptions of the resource events flow, the pure part (no CAF, no HTTP, no store):
// ActiveMQ topic wildcards and the validation of a subscription request.
//
//   auto p = topic_pattern::compile("ehealth-episodeofcare.*");
//   p->matches("ehealth-episodeofcare.status");   // true
//   p->matches("ehealth-episodeofcare");          // false
//
// Topic patterns (ActiveMQ "wildcards"): '.' separates segments, a segment "*" matches exactly
// one segment, a last segment ">" matches one or more remaining segments. Any other segment is
// a literal of the bus's topic characters [A-Za-z0-9_-]; "*" or ">" inside a literal, an empty
// segment or ">" before the last segment is an error naming the column and what was expected.
// Without wildcards a pattern matches only the topic of exactly that name:
// "ehealth-careplan" does not match "ehealth-careplan.subject".
#pragma once

#include "core/error.hpp"
#include "flows/resource_events/selector.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::flows::resource_events {

// Longest topic pattern (the bus's longest topic name).
inline constexpr std::size_t max_topic_pattern_bytes = 249;

class topic_pattern {
 public:
  // The pattern, or 400 "topic: expected ... at column C".
  static result<topic_pattern> compile(std::string_view text);

  bool matches(std::string_view topic) const noexcept;
  // True when the pattern has no wildcard (it names one topic).
  bool is_literal() const noexcept { return literal_; }
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;  // "*" and ">" are the wildcards
  bool literal_ = true;
};

enum class delivery_mode { pull, webhook, stream };
const char* to_string(delivery_mode m) noexcept;
// A pull or a stream asked of a webhook subscription: 409.
error webhook_has_no_pull(const std::string& id);

struct delivery {
  delivery_mode mode = delivery_mode::pull;
  std::string url;  // webhook only: http:// or https:// URL
};

// Longest webhook URL accepted.
inline constexpr std::size_t max_webhook_url_bytes = 2048;

// A validated subscription request: the pattern and the selector compiled once.
struct subscription_spec {
  topic_pattern topic;
  std::string selector_text;
  selector compiled;  // empty: every event
  struct delivery delivery;
};

// The limits of a request (the selector's from config: subscriptions.max_selector_bytes).
struct spec_limits {
  std::size_t max_selector_bytes = 64 * 1024;
};

// POST /subscriptions's body: {"topic": "...", "selector": "...", "delivery": {...}}.
// "selector" may be absent or empty (every event); "delivery" absent is {"mode":"pull"}.
// Unknown fields are refused. Every refusal is a 400 whose message names the field, and for
// the topic and the selector the position and what was expected.
result<subscription_spec> parse_subscription(const nlohmann::json& body,
                                             const spec_limits& limits = {});

// The delivery's JSON form: {"mode":"pull"} or {"mode":"webhook","url":...}.
nlohmann::json to_json(const delivery& d);

}  // namespace medflow::flows::resource_events
