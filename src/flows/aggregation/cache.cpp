// The per-source answer cache: a mutex-guarded LRU list plus an index. An entry younger than
// ttl_ms is served instead of calling the source; one younger than stale_ms may stand in for a
// failed call (DataFromCacheSynchFailed); older ones are dropped.
#include "flows/aggregation/domain.hpp"

#include "core/crypto.hpp"

namespace medflow::flows::aggregation {

answer_cache::answer_cache(cache_settings s) : s_(s) {}

// The body is hashed: requests can be large and only their identity matters. The separator
// cannot occur in a service name, and the hash has a fixed length, so keys cannot collide by
// concatenation.
std::string answer_cache::key(const std::string& service, const std::string& logical_address,
                              const std::string& request_body) {
  return service + "|" + crypto::sha256_hex(request_body) + "|" + logical_address;
}

std::optional<answer_cache::entry> answer_cache::get(const std::string& key, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  if (now_ms - it->second.e.stored_ms >= s_.stale_ms) {
    lru_.erase(it->second.pos);
    map_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second.pos);
  return it->second.e;
}

void answer_cache::put(const std::string& key, json items, int64_t now_ms) {
  if (s_.max_entries < 1) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second.e = {std::move(items), now_ms};
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    return;
  }
  lru_.push_front(key);
  map_.emplace(key, slot{{std::move(items), now_ms}, lru_.begin()});
  while (static_cast<int64_t>(map_.size()) > s_.max_entries) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
}

size_t answer_cache::sweep(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t removed = 0;
  for (auto it = map_.begin(); it != map_.end();) {
    if (now_ms - it->second.e.stored_ms >= s_.stale_ms) {
      lru_.erase(it->second.pos);
      it = map_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

size_t answer_cache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return map_.size();
}

}  // namespace medflow::flows::aggregation
