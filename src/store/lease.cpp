#include "store/lease.hpp"

#include "core/ids.hpp"

#include <algorithm>
#include <limits>

#include <unistd.h>

namespace medflow::store {

std::vector<migration> lease_migrations() {
  return {
      {"leases", 1, "named leases: work that runs on one instance at a time",
       "CREATE TABLE store_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,"
       "  until_ms BIGINT NOT NULL)"},
  };
}

bool take_lease(tx& t, const std::string& name, const std::string& holder, int64_t now_ms,
                int64_t ttl_ms) {
  // The same upsert on both dialects. On PostgreSQL a concurrent taker waits on the row (or
  // the key) and then judges the WHERE against the committed row: at most one gets it.
  return t.conn
             .prepare("INSERT INTO store_leases (name, holder, until_ms) VALUES (?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                      "until_ms = excluded.until_ms "
                      "WHERE store_leases.holder = excluded.holder OR store_leases.until_ms < ?")
             .bind_all(name, holder, now_ms + ttl_ms, now_ms)
             .exec() > 0;
}

void drop_lease(tx& t, const std::string& name, const std::string& holder) {
  t.conn.prepare("DELETE FROM store_leases WHERE name = ? AND holder = ?")
      .bind_all(name, holder)
      .exec();
}

namespace {

std::string& instance_id_slot() {
  static std::string id = [] {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return std::string(host) + ":" + std::to_string(getpid()) + ":" + ids::random_hex(6);
  }();
  return id;
}

}  // namespace

const std::string& instance_id() { return instance_id_slot(); }

void set_instance_id(std::string id) { instance_id_slot() = std::move(id); }

lease::lease(database& db, std::string name, int64_t ttl_ms, std::function<int64_t()> now,
             std::string holder)
    : db_(db),
      name_(std::move(name)),
      holder_(std::move(holder)),
      ttl_ms_(ttl_ms),
      now_(std::move(now)) {}

bool lease::held() {
  if (db_.backend() == backend::sqlite) return true;
  std::lock_guard<std::mutex> g{mutex_};
  int64_t now = now_();
  if (now < next_try_) return held_ && now < held_until_;
  bool got = false;
  try {
    got = db_.write().run(
        [&](tx& t) { return take_lease(t, name_, holder_, now, ttl_ms_); });
  } catch (const std::exception&) {
    got = false;  // the store is unreachable: not ours to act on (it is retried next time)
  }
  held_ = got;
  held_until_ = got ? now + ttl_ms_ : 0;
  next_try_ = now + std::max<int64_t>(1, ttl_ms_ / 3);
  return held_;
}

int64_t lease::held_until() {
  if (db_.backend() == backend::sqlite) return std::numeric_limits<int64_t>::max();
  std::lock_guard<std::mutex> g{mutex_};
  return held_ ? held_until_ : 0;
}

void lease::release() {
  if (db_.backend() == backend::sqlite) return;
  std::lock_guard<std::mutex> g{mutex_};
  if (!held_) return;
  held_ = false;
  next_try_ = 0;
  try {
    db_.write().run([&](tx& t) { drop_lease(t, name_, holder_); });
  } catch (const std::exception&) {
    // It expires on its own.
  }
}

}  // namespace medflow::store
