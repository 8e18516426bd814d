#include "flows/resource_events/subscription.hpp"

namespace medflow::flows::resource_events {

namespace {

bool topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

error pattern_error(std::string what, std::size_t offset) {
  return error::bad_request("topic: " + what + " at column " + std::to_string(offset + 1));
}

}  // namespace

const char* to_string(delivery_mode m) noexcept {
  switch (m) {
    case delivery_mode::pull: return "pull";
    case delivery_mode::webhook: return "webhook";
    case delivery_mode::stream: return "stream";
  }
  return "pull";
}

result<topic_pattern> topic_pattern::compile(std::string_view text) {
  if (text.empty()) return error::bad_request("topic: expected a topic name or pattern, found empty text");
  if (text.size() > max_topic_pattern_bytes)
    return error::bad_request("topic: longer than " + std::to_string(max_topic_pattern_bytes) +
                              " bytes");
  topic_pattern p;
  p.text_ = std::string(text);
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('.', start);
    bool last = end == std::string_view::npos;
    if (last) end = text.size();
    std::string_view seg = text.substr(start, end - start);
    if (seg.empty())
      return pattern_error("expected a segment (a name, '*' or '>')" +
                               std::string(start == text.size() ? ", found end of text"
                                                                : ", found '.'"),
                           start);
    if (seg == "*" || seg == ">") {
      if (seg == ">" && !last)
        return pattern_error("expected end of text after '>', found '.'", end);
      p.literal_ = false;
    } else {
      for (std::size_t i = 0; i < seg.size(); ++i) {
        char c = seg[i];
        if (topic_char(c)) continue;
        std::string found = (c == '*' || c == '>')
                                ? std::string("'") + c + "' inside a name (a wildcard is a whole segment)"
                                : (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f)
                                      ? std::string("'") + c + "'"
                                      : "byte 0x" + [&] {
                                          static const char* hex = "0123456789abcdef";
                                          auto u = static_cast<unsigned char>(c);
                                          return std::string{hex[u >> 4], hex[u & 15]};
                                        }();
        return pattern_error("expected a letter, digit, '_', '-' or '.', found " + found,
                             start + i);
      }
    }
    p.segments_.emplace_back(seg);
    if (last) break;
    start = end + 1;
  }
  return p;
}

bool topic_pattern::matches(std::string_view topic) const noexcept {
  std::size_t start = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (start > topic.size()) return false;  // the topic has fewer segments
    const std::string& seg = segments_[i];
    if (seg == ">") return start < topic.size();  // one or more remaining segments
    std::size_t end = topic.find('.', start);
    if (end == std::string_view::npos) end = topic.size();
    std::string_view tseg = topic.substr(start, end - start);
    if (tseg.empty()) return false;
    if (seg != "*" && tseg != seg) return false;
    start = end + 1;  // past the '.', or size()+1 at the end of the topic
  }
  return start == topic.size() + 1;  // every topic segment consumed
}

nlohmann::json to_json(const delivery& d) {
  nlohmann::json j = {{"mode", to_string(d.mode)}};
  if (d.mode == delivery_mode::webhook) j["url"] = d.url;
  return j;
}

namespace {

result<delivery> parse_delivery(const nlohmann::json& j) {
  if (!j.is_object()) return error::bad_request("delivery: expected an object");
  delivery d;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "mode" && it.key() != "url")
      return error::bad_request("delivery: unknown field '" + it.key() + "'");
  auto mode = j.find("mode");
  if (mode == j.end() || !mode->is_string())
    return error::bad_request("delivery.mode: expected \"pull\", \"webhook\" or \"stream\"");
  const auto& m = mode->get_ref<const std::string&>();
  if (m == "pull") d.mode = delivery_mode::pull;
  else if (m == "webhook") d.mode = delivery_mode::webhook;
  else if (m == "stream") d.mode = delivery_mode::stream;
  else return error::bad_request("delivery.mode: expected \"pull\", \"webhook\" or \"stream\"");
  auto url = j.find("url");
  if (d.mode != delivery_mode::webhook) {
    if (url != j.end()) return error::bad_request("delivery.url: only for mode \"webhook\"");
    return d;
  }
  if (url == j.end() || !url->is_string())
    return error::bad_request("delivery.url: expected an http:// or https:// URL");
  const auto& u = url->get_ref<const std::string&>();
  if (u.size() > max_webhook_url_bytes)
    return error::bad_request("delivery.url: longer than " +
                              std::to_string(max_webhook_url_bytes) + " bytes");
  std::size_t host = u.rfind("http://", 0) == 0 ? 7 : u.rfind("https://", 0) == 0 ? 8 : 0;
  if (host == 0 || host >= u.size() || u[host] == '/' || u[host] == ':')
    return error::bad_request("delivery.url: expected an http:// or https:// URL with a host");
  for (char c : u)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return error::bad_request("delivery.url: expected an http:// or https:// URL, found a space, control or non-ASCII byte");
  d.url = u;
  return d;
}

}  // namespace

result<subscription_spec> parse_subscription(const nlohmann::json& body,
                                             const spec_limits& limits) {
  if (!body.is_object()) return error::bad_request("expected a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it)
    if (it.key() != "topic" && it.key() != "selector" && it.key() != "delivery")
      return error::bad_request("unknown field '" + it.key() + "'");
  auto topic = body.find("topic");
  if (topic == body.end() || !topic->is_string())
    return error::bad_request("topic: expected a string");
  auto pattern = topic_pattern::compile(topic->get_ref<const std::string&>());
  if (!pattern) return pattern.err();

  subscription_spec spec{std::move(pattern.value()), {}, {}, {}};
  auto sel = body.find("selector");
  if (sel != body.end() && !sel->is_null()) {
    if (!sel->is_string()) return error::bad_request("selector: expected a string");
    spec.selector_text = sel->get<std::string>();
    compile_limits cl;
    cl.max_text_bytes = limits.max_selector_bytes;
    auto compiled = compile(spec.selector_text, cl);
    if (!compiled) {
      error e = error::bad_request("selector: " + compiled.err().message);
      e.detail = {{"offset", compiled.err().offset},
                  {"line", compiled.err().line},
                  {"column", compiled.err().column}};
      return e;
    }
    spec.compiled = std::move(compiled).value();
  }
  auto del = body.find("delivery");
  if (del != body.end()) {
    auto d = parse_delivery(*del);
    if (!d) return d.err();
    spec.delivery = std::move(d.value());
  }
  return spec;
}

error webhook_has_no_pull(const std::string& id) {
  return error::conflict("subscription " + id +
                         " delivers to its webhook; pull and stream are for the modes \"pull\" "
                         "and \"stream\"");
}

}  // namespace medflow::flows::resource_events
