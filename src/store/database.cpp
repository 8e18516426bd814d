#include "store/database.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace medflow::store {

namespace {

std::string restore_advice(const std::string& path) {
  return "Stop medflowd, restore " + path + " from a backup (remove " + path + "-wal and " +
         path + "-shm unless the backup has them), then start again";
}

// Writes `text` to `path` so that a crash leaves either the old file or the new one: a
// temporary file, synced, renamed over it, and the directory synced.
void write_file_atomically(const std::string& path, const std::string& text) {
  auto fail = [&](const std::string& what) {
    throw std::runtime_error("cannot write " + path + ": " + what + ": " + std::strerror(errno));
  };
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename " + tmp);
  auto dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

database::database(options opts) : opts_(std::move(opts)) {
  std::unique_ptr<connection> conn;
  if (opts_.kind == backend::postgres) {
    auto o = opts_.pg;
    o.read_only = false;
    conn = std::make_unique<connection>(o);
    conn->exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " applied_at BIGINT NOT NULL, PRIMARY KEY (module, version));"
        // What the writer writes to find out that a full disk has space again.
        "CREATE TABLE IF NOT EXISTS store_space_probe (id INTEGER PRIMARY KEY, at BIGINT)");
    // The identity marker, the integrity check and the scratch file are SQLite's.
    opts_.probe.space_file.clear();
  } else {
    inspect();
    conn = std::make_unique<connection>(opts_.path, connection::mode::read_write, opts_.conn);
    if (opts_.identity_marker) keep_identity(*conn);
    conn->exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL, PRIMARY KEY (module, version))");
  }
  writer_ = std::make_unique<writer>(std::move(conn), opts_.group_commit_max, "main", opts_.probe);
}

std::string database::describe() const {
  if (opts_.kind == backend::sqlite) return opts_.path;
  return "PostgreSQL (" + std::to_string(opts_.max_readers) + " readers)";
}

// On a read-only connection, before the file is opened for writing (which would turn a new or
// empty file into a WAL database): the integrity check, and the identity check.
void database::inspect() {
  if (opts_.check == integrity_check::off && !opts_.identity_marker) return;
  std::error_code ec;
  auto size = std::filesystem::file_size(opts_.path, ec);
  bool empty = true;
  std::string db_id;
  if (!ec && size > 0) {
    try {
      connection c{opts_.path, connection::mode::read_only, opts_.conn};
      if (opts_.check != integrity_check::off) check_integrity(c);
      if (opts_.identity_marker) {
        auto q = c.prepare("SELECT count(*) FROM sqlite_master");
        empty = !q.step() || q.int64(0) == 0;
        auto t = c.prepare(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='store_identity'");
        if (t.step() && t.int64(0) > 0) {
          auto id = c.prepare("SELECT id FROM store_identity LIMIT 1");
          if (id.step()) db_id = id.text(0);
        }
      }
    } catch (const sqlite_error& e) {
      if (!is_corrupt(e.code())) throw;
      throw unusable_database("database " + opts_.path + " is damaged (" + e.what() +
                              "); medflowd does not start on a damaged database. " +
                              restore_advice(opts_.path) + ".");
    }
  }
  if (opts_.identity_marker) check_identity(empty, db_id);
}

void database::check_integrity(connection& c) {
  const char* pragma = opts_.check == integrity_check::full ? "integrity_check" : "quick_check";
  auto start = clock::steady_us();
  std::vector<std::string> found;
  {
    auto q = c.prepare(std::string("PRAGMA ") + pragma + "(10)");
    while (q.step()) found.push_back(q.text(0));
  }
  auto ms = (clock::steady_us() - start) / 1000;
  if (found.size() == 1 && found[0] == "ok") {
    log::info("store", "PRAGMA ", pragma, " of ", opts_.path, ": ok (", ms, " ms)");
    return;
  }
  std::string list;
  for (auto& f : found) list += (list.empty() ? "" : "; ") + f;
  throw unusable_database("database " + opts_.path + " is damaged (PRAGMA " + pragma + ": " +
                          list + "); medflowd does not start on a damaged database. " +
                          restore_advice(opts_.path) + ".");
}

// The database holds a random id (table store_identity) and the marker file beside it holds
// the same id. A database that is empty, has no id or another id while the marker names one
// was truncated, deleted or replaced: starting on it would silently serve an empty store.
void database::check_identity(bool empty, const std::string& db_id) {
  auto marker = marker_path(opts_.path);
  std::string marked_id;
  int64_t marked_at = 0;
  {
    std::ifstream in(marker);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      try {
        auto j = nlohmann::json::parse(text.str());
        marked_id = j.at("id").get<std::string>();
        marked_at = j.value("created_at", int64_t{0});
      } catch (const std::exception& e) {
        throw unusable_database("identity marker " + marker + " is unreadable (" + e.what() +
                                "); it should name the database " + opts_.path +
                                " holds. Delete it to accept the database as it is.");
      }
    }
  }
  marker_present_ = !marked_id.empty();
  identity_ = db_id;
  if (marked_id.empty() || db_id == marked_id) return;
  std::string held = "but " + marker + " says it held database " + marked_id + " (created " +
                     clock::iso8601(marked_at) + ")";
  std::string what;
  if (empty)
    what = "database " + opts_.path + " is empty, " + held +
           ": its data is gone (the file was truncated, deleted or replaced)";
  else if (db_id.empty())
    what = "database " + opts_.path + " has no identity, " + held + ": it is another database";
  else
    what = "database " + opts_.path + " is database " + db_id + ", " + held +
           ": it is another database";
  throw unusable_database(what + "; medflowd does not start on it. " +
                          restore_advice(opts_.path) + "; or, to start on this database on " +
                          "purpose (an empty one: with no data), delete " + marker + ".");
}

// Gives a database without an id one, and writes the marker when there is none. The id is
// committed first: a crash before the marker is written leaves a database whose id the next
// start writes to the marker.
void database::keep_identity(connection& c) {
  if (identity_.empty()) {
    identity_ = ids::uuid4();
    transaction t{c};
    c.exec("CREATE TABLE IF NOT EXISTS store_identity (id TEXT NOT NULL, created_at INTEGER NOT NULL)");
    c.exec("DELETE FROM store_identity");
    c.prepare("INSERT INTO store_identity(id, created_at) VALUES (?, ?)")
        .bind_all(identity_, clock::now_ms())
        .exec();
    t.commit();
    log::info("store", "database ", opts_.path, " is database ", identity_);
  }
  if (!marker_present_) {
    auto marker = marker_path(opts_.path);
    nlohmann::json j = {{"id", identity_},
                        {"database", std::filesystem::path(opts_.path).filename().string()},
                        {"created_at", clock::now_ms()}};
    write_file_atomically(marker, j.dump() + "\n");
    log::info("store", "identity marker ", marker, " written");
  }
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
      bool pg = opts_.kind == backend::postgres;
      bool applied = writer_->run([&](tx& t) {
        if (pg) {
          // Another medflowd starting beside this one waits here, then finds it applied.
          t.conn.prepare("SELECT pg_advisory_xact_lock(4242001)").exec();
          auto q = t.conn.prepare(
              "SELECT count(*) FROM schema_migrations WHERE module=? AND version=?");
          q.bind_all(m->module, m->version);
          if (q.step() && q.int64(0) > 0) return false;
        }
        t.conn.exec(pg && !m->sql_postgres.empty() ? m->sql_postgres : m->sql);
        t.conn.prepare("INSERT INTO schema_migrations(module, version, name, applied_at) "
                       "VALUES (?, ?, ?, ?)")
            .bind_all(m->module, m->version, m->name, clock::now_ms())
            .exec();
        return true;
      });
      if (applied)
        log::info("store", "applied migration ", m->module, " ", m->version, " (", m->name, ")");
    }
  }
}

database::reader_lease::~reader_lease() {
  if (!c_ || !db_) return;
  std::lock_guard<std::mutex> g{db_->pool_mutex_};
  // A connection still inside a transaction (its ROLLBACK failed) would pin an old snapshot
  // for every later borrower, and a lost one serves nobody: close it instead of pooling it.
  if (!c_->in_transaction() && c_->usable() && db_->pool_.size() < db_->opts_.max_readers) {
    db_->pool_.push_back(std::move(c_));
  } else {
    c_.reset();
    if (db_->readers_open_ > 0) --db_->readers_open_;
  }
  db_->pool_cv_.notify_one();
}

std::unique_ptr<connection> database::open_reader() {
  if (opts_.kind == backend::sqlite)
    return std::make_unique<connection>(opts_.path, connection::mode::read_only, opts_.conn);
  auto o = opts_.pg;
  o.read_only = true;
  return std::make_unique<connection>(o);
}

database::reader_lease database::reader() {
  if (opts_.kind == backend::sqlite) {
    {
      std::lock_guard<std::mutex> g{pool_mutex_};
      if (!pool_.empty()) {
        auto c = std::move(pool_.back());
        pool_.pop_back();
        return reader_lease{this, std::move(c)};
      }
    }
    return reader_lease{this, open_reader()};
  }
  // PostgreSQL: at most max_readers connections (the server's connection slots are shared by
  // every medflowd), so a reader beyond them waits for one to come back.
  {
    std::unique_lock<std::mutex> lk{pool_mutex_};
    auto limit = std::chrono::milliseconds(opts_.pg.statement_timeout_ms);
    if (!pool_cv_.wait_for(lk, limit, [&] {
          return !pool_.empty() || readers_open_ < opts_.max_readers;
        }))
      throw store_error("53300", "no PostgreSQL read connection free within " +
                                     std::to_string(limit.count()) + " ms (store.postgres.pool_size " +
                                     std::to_string(opts_.max_readers) + ")");
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return reader_lease{this, std::move(c)};
    }
    ++readers_open_;
  }
  try {
    return reader_lease{this, open_reader()};
  } catch (...) {
    std::lock_guard<std::mutex> g{pool_mutex_};
    --readers_open_;
    pool_cv_.notify_one();
    throw;
  }
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
