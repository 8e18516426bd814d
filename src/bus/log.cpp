#include "bus/log.hpp"

#include "core/murmur2.hpp"

namespace medflow::bus {

bool valid_topic_name(const std::string& name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

size_t record_bytes(const record& r) {
  size_t n = r.value.size() + (r.key ? r.key->size() : 0);
  for (auto& [name, value] : r.hdrs) n += name.size() + value.size();
  return n;
}

std::vector<std::optional<position>> log::append_all_in(store::tx& t,
                                                      const std::vector<message>& msgs) {
  std::vector<std::optional<position>> out;
  out.reserve(msgs.size());
  for (auto& m : msgs) out.push_back(append_in(t, m));
  return out;
}

int32_t log::choose_partition(const message& m, int32_t partitions) {
  if (m.partition) return *m.partition;
  if (m.key) return kafka_partition(*m.key, partitions);
  return static_cast<int32_t>(round_robin_++ % static_cast<uint32_t>(partitions));
}

void log::track_group(const std::string& group, const std::string& topic) {
  std::lock_guard<std::mutex> g{tracked_mutex_};
  tracked_.emplace(group, topic);
}

std::vector<std::pair<std::string, std::string>> log::tracked_groups() const {
  std::lock_guard<std::mutex> g{tracked_mutex_};
  return {tracked_.begin(), tracked_.end()};
}

std::unique_ptr<log::membership> log::join(const std::string& /*group*/,
                                           const std::string& topic, group_listener listener) {
  auto n = partitions(topic);
  if (!n) throw unknown_topic(topic);
  std::vector<int32_t> all;
  for (int32_t p = 0; p < *n; ++p) all.push_back(p);
  if (listener.assigned) listener.assigned(all);
  return std::make_unique<membership>();
}

}  // namespace medflow::bus
