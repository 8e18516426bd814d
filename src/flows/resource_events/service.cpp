#include "flows/resource_events/service.hpp"

#include "store/writer.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace medflow::flows::resource_events {

mapping parse_mapping_text(std::string_view text, const std::string& name,
                           const std::vector<std::string>& known_kinds, const file_limits& limits) {
  if (text.size() > limits.max_bytes)
    throw std::runtime_error(name + " is larger than events.config_max_bytes (" +
                             std::to_string(limits.max_bytes) + " bytes)");
  // Values deeper than the limit are discarded while parsing (memory stays bounded by the
  // size limit) and the text is refused.
  bool too_deep = false;
  json::parser_callback_t deep = [&](int depth, json::parse_event_t, json&) {
    if (depth > limits.max_depth) too_deep = true;
    return !too_deep;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), deep, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    throw std::runtime_error(name + " is not valid JSON: " + json_error_text(e));
  }
  if (too_deep)
    throw std::runtime_error(name + " is nested deeper than events.config_max_depth (" +
                             std::to_string(limits.max_depth) + ")");
  auto m = parse_mapping(doc, known_kinds, limits.mapping);
  if (!m) throw std::runtime_error(name + ": " + m.err().message);
  return std::move(*m);
}

mapping load_mapping(const std::string& path, const std::vector<std::string>& known_kinds,
                     const file_limits& limits) {
  if (path.empty())
    return parse_mapping_text(shipped_mapping(), "the built-in config/events.json", known_kinds,
                              limits);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read the events mapping " + path + ": " + ec.message());
  // Checked before reading, so a huge file is never read into memory.
  if (size > limits.max_bytes)
    throw std::runtime_error(path + " is larger than events.config_max_bytes (" +
                             std::to_string(limits.max_bytes) + " bytes)");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the events mapping " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_mapping_text(ss.str(), path, known_kinds, limits);
}

service::service(bus::log& bus, mapping m, settings s)
    : bus_(bus), m_(std::move(m)), s_(std::move(s)) {
  published_ = &metrics::registry::global().get_counter(
      "medflow_events_published_total", "resource events written with their change");
}

void service::create_topics(int32_t partitions) {
  for (auto& t : topics(m_)) bus_.create_topic(t, partitions);
}

size_t service::publish_in(store::tx& t, const change& c) {
  auto msgs = build_events(m_, s_, c);
  bus_.append_all_in(t, msgs);
  auto n = msgs.size();
  auto* counter = published_;
  t.after_commit([counter, n] { counter->inc(n); });
  return n;
}

}  // namespace medflow::flows::resource_events
