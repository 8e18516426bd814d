// The database: one SQLite file in WAL mode, or a PostgreSQL database; a pool of read
// connections, the group-commit writer that owns the only write connection, and versioned
// migrations run at start-up.
#pragma once

#include "store/sqlite.hpp"
#include "store/writer.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace medflow::store {

// One schema change of one module (bus, medical_events, ...). Versions count per module.
struct migration {
  std::string module;
  int version;
  std::string name;
  std::string sql;
  std::string sql_postgres = {};  // PostgreSQL's, when the dialects differ ("": `sql` serves both)
};

// The database cannot be used as it is: damaged, or not the database this place held. The
// message names the file and what to do; medflowd refuses to start with it.
class unusable_database : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class database {
 public:
  // What is checked when the file is opened, before anything is written to it.
  enum class integrity_check { off, quick, full };  // PRAGMA quick_check / integrity_check
  struct options {
    store::backend kind = backend::sqlite;
    std::string path;                  // the database file (SQLite)
    connection::options conn;          // SQLite
    postgres_options pg;               // PostgreSQL: the server, its timeouts
    // SQLite: most pooled read connections. PostgreSQL: most open read connections; a reader
    // beyond them waits for one, at most pg.statement_timeout_ms.
    size_t max_readers = 32;
    size_t group_commit_max = 1000;
    // The checks below are SQLite's (a PostgreSQL server checks its own files).
    integrity_check check = integrity_check::off;
    // Keep the database's identity in a marker file beside it (<path>.identity) and refuse a
    // database that is empty or another one while the marker names the one that was there.
    bool identity_marker = false;
    full_probe probe;                  // how the writer finds space again after a full disk
  };

  explicit database(options opts);
  ~database();

  // Applies the migrations not applied yet, per module in version order, each in its own
  // transaction. Refuses a database that has a newer version than this binary knows. On
  // PostgreSQL several medflowd may start at once: each migration runs under an advisory lock.
  void migrate(const std::vector<migration>& ms);

  // A pooled read-only connection, returned to the pool when the lease ends.
  class reader_lease {
   public:
    reader_lease(database* db, std::unique_ptr<connection> c) : db_(db), c_(std::move(c)) {}
    reader_lease(reader_lease&&) = default;
    ~reader_lease();
    connection& operator*() const { return *c_; }
    connection* operator->() const { return c_.get(); }

   private:
    database* db_;
    std::unique_ptr<connection> c_;
  };
  reader_lease reader();

  writer& write() { return *writer_; }
  store::backend backend() const noexcept { return opts_.kind; }
  const std::string& path() const { return opts_.path; }
  // What the logs may say about where the data is (never a PostgreSQL URL: it may hold a
  // password).
  std::string describe() const;
  // The random id stored in the database (identity_marker only; "" otherwise).
  const std::string& identity() const { return identity_; }
  static std::string marker_path(const std::string& db_path) { return db_path + ".identity"; }
  // Quick liveness probe for /readyz.
  bool healthy();
  // "" while the store can write; else why not (e.g. the disk is full).
  std::string unwritable() const { return writer_ ? writer_->unwritable() : "store closed"; }
  // Stops the writer after committing what is queued.
  void close();

 private:
  void inspect();
  void check_integrity(connection& c);
  void check_identity(bool empty, const std::string& db_id);
  void keep_identity(connection& c);

  options opts_;
  std::string identity_;
  bool marker_present_ = false;
  std::unique_ptr<writer> writer_;
  std::unique_ptr<connection> open_reader();

  std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  size_t readers_open_ = 0;  // PostgreSQL: pooled and leased
  std::vector<std::unique_ptr<connection>> pool_;
};

}  // namespace medflow::store
