#include "flows/resource_events/store.hpp"

#include "core/clock.hpp"

namespace medflow::flows::resource_events {

std::vector<store::migration> migrations() {
  return {
      {"resource_events", 1, "subscriptions and their cursors",
       "CREATE TABLE re_subscriptions ("
       "  id TEXT PRIMARY KEY, topic TEXT NOT NULL, selector TEXT NOT NULL,"
       "  delivery TEXT NOT NULL, created_ms INTEGER NOT NULL);"
       "CREATE TABLE re_cursors ("
       "  subscription TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
       "  next_offset INTEGER NOT NULL, PRIMARY KEY (subscription, topic, partition))"
       "  WITHOUT ROWID;",
       "CREATE TABLE re_subscriptions ("
       "  id TEXT PRIMARY KEY, topic TEXT NOT NULL, selector TEXT NOT NULL,"
       "  delivery TEXT NOT NULL, created_ms BIGINT NOT NULL);"
       "CREATE TABLE re_cursors ("
       "  subscription TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
       "  next_offset BIGINT NOT NULL, PRIMARY KEY (subscription, topic, partition));"},
  };
}

nlohmann::json to_json(const subscription_row& s) {
  return {{"id", s.id},
          {"topic", s.topic},
          {"selector", s.selector},
          {"delivery", s.delivery},
          {"created", clock::iso8601_ms(s.created_ms)}};
}

std::int64_t count_subscriptions(store::connection& c) {
  auto q = c.prepare("SELECT count(*) FROM re_subscriptions");
  q.step();
  return q.int64(0);
}

void insert_subscription(store::connection& c, const subscription_row& s) {
  c.prepare(
       "INSERT INTO re_subscriptions(id, topic, selector, delivery, created_ms)"
       " VALUES (?, ?, ?, ?, ?)")
      .bind_all(s.id, s.topic, s.selector, s.delivery.dump(), s.created_ms)
      .exec();
}

namespace {

subscription_row read_row(store::query& q) {
  return {q.text(0), q.text(1), q.text(2), nlohmann::json::parse(q.text_view(3)), q.int64(4)};
}

}  // namespace

std::optional<subscription_row> load_subscription(store::connection& c, const std::string& id) {
  auto q = c.prepare(
      "SELECT id, topic, selector, delivery, created_ms FROM re_subscriptions WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return read_row(q);
}

std::vector<subscription_row> list_subscriptions(store::connection& c) {
  std::vector<subscription_row> out;
  auto q = c.prepare(
      "SELECT id, topic, selector, delivery, created_ms FROM re_subscriptions"
      " ORDER BY created_ms, id");
  while (q.step()) out.push_back(read_row(q));
  return out;
}

bool delete_subscription(store::connection& c, const std::string& id) {
  c.prepare("DELETE FROM re_cursors WHERE subscription=?").bind_all(id).exec();
  return c.prepare("DELETE FROM re_subscriptions WHERE id=?").bind_all(id).exec() > 0;
}

positions load_cursor(store::connection& c, const std::string& id) {
  positions out;
  auto q = c.prepare(
      "SELECT topic, partition, next_offset FROM re_cursors WHERE subscription=?");
  q.bind_all(id);
  while (q.step())
    out.emplace(partition_key{q.text(0), static_cast<std::int32_t>(q.int64(1))}, q.int64(2));
  return out;
}

bool commit_cursor(store::connection& c, const std::string& id, const positions& p) {
  {
    auto q = c.prepare("SELECT 1 FROM re_subscriptions WHERE id=?");
    q.bind_all(id);
    if (!q.step()) return false;
  }
  for (const auto& [key, offset] : p)
    c.prepare(store::sql(
         c,
         "INSERT INTO re_cursors(subscription, topic, partition, next_offset) VALUES (?, ?, ?, ?)"
         " ON CONFLICT(subscription, topic, partition)"
         " DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)",
         "INSERT INTO re_cursors(subscription, topic, partition, next_offset) VALUES (?, ?, ?, ?)"
         " ON CONFLICT(subscription, topic, partition)"
         " DO UPDATE SET next_offset = greatest(re_cursors.next_offset, excluded.next_offset)"))
        .bind_all(id, key.first, static_cast<std::int64_t>(key.second), offset)
        .exec();
  return true;
}

}  // namespace medflow::flows::resource_events
