#include "store/database.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <map>

namespace medflow::store {

database::database(options opts) : opts_(std::move(opts)) {
  auto conn = std::make_unique<connection>(opts_.path, connection::mode::read_write, opts_.conn);
  conn->exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
      " applied_at INTEGER NOT NULL, PRIMARY KEY (module, version))");
  writer_ = std::make_unique<writer>(std::move(conn), opts_.group_commit_max);
}

database::~database() { close(); }

void database::close() {
  if (writer_) writer_->stop();
}

void database::migrate(const std::vector<migration>& ms) {
  std::map<std::string, std::vector<const migration*>> by_module;
  for (auto& m : ms) by_module[m.module].push_back(&m);
  for (auto& [module, list] : by_module) {
    std::sort(list.begin(), list.end(),
              [](auto* a, auto* b) { return a->version < b->version; });
    for (size_t i = 0; i < list.size(); ++i)
      if (list[i]->version != static_cast<int>(i) + 1)
        throw std::logic_error("migrations of " + module + " must be numbered 1, 2, 3...");
    int64_t current = 0;
    {
      auto r = reader();
      auto q = r->prepare("SELECT coalesce(max(version), 0) FROM schema_migrations WHERE module=?");
      q.bind_all(module);
      if (q.step()) current = q.int64(0);
    }
    if (current > static_cast<int64_t>(list.size()))
      throw std::runtime_error("database schema of " + module + " is at version " +
                               std::to_string(current) + ", newer than this medflowd (" +
                               std::to_string(list.size()) + ")");
    for (auto* m : list) {
      if (m->version <= current) continue;
      writer_->run([&](tx& t) {
        t.conn.exec(m->sql);
        t.conn.prepare("INSERT INTO schema_migrations(module, version, name, applied_at) "
                       "VALUES (?, ?, ?, ?)")
            .bind_all(m->module, m->version, m->name, clock::now_ms())
            .exec();
      });
      log::info("store", "applied migration ", m->module, " ", m->version, " (", m->name, ")");
    }
  }
}

database::reader_lease::~reader_lease() {
  if (!c_ || !db_) return;
  // A connection still inside a transaction (its ROLLBACK failed) would pin an old snapshot
  // for every later borrower: close it instead of pooling it.
  if (c_->in_transaction()) return;
  std::lock_guard<std::mutex> g{db_->pool_mutex_};
  if (db_->pool_.size() < db_->opts_.max_readers) db_->pool_.push_back(std::move(c_));
}

database::reader_lease database::reader() {
  {
    std::lock_guard<std::mutex> g{pool_mutex_};
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return reader_lease{this, std::move(c)};
    }
  }
  return reader_lease{this, std::make_unique<connection>(opts_.path, connection::mode::read_only,
                                                         opts_.conn)};
}

bool database::healthy() {
  try {
    auto r = reader();
    auto q = r->prepare("SELECT 1");
    return q.step() && q.int64(0) == 1;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace medflow::store
