#include "store/sqlite.hpp"

#include "core/log.hpp"

namespace medflow::store {

void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw sqlite_error(db ? sqlite3_extended_errcode(db) : rc, msg);
}

namespace {

class sqlite_statement final : public statement {
 public:
  sqlite_statement(sqlite3* db, std::string_view sql) : db_(db) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db, rc, "prepare \"" + std::string(sql) + "\"");
  }
  ~sqlite_statement() override { sqlite3_finalize(stmt_); }

  void bind_int64(int i, int64_t v) override { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind_double(int i, double v) override { check(sqlite3_bind_double(stmt_, i, v)); }
  void bind_text(int i, std::string_view v) override {
    check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void bind_blob(int i, std::string_view v) override {
    check(sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  void bind_text_ref(int i, std::string_view v) override {
    check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bind_blob_ref(int i, std::string_view v) override {
    check(sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_STATIC));
  }
  void bind_null(int i) override { check(sqlite3_bind_null(stmt_, i)); }

  bool step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, std::string("step \"") + sqlite3_sql(stmt_) + "\"");
  }
  int changes() override { return sqlite3_changes(db_); }
  void reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool is_null(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t int64(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string_view text_view(int col) const override {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_, col));
    auto n = static_cast<size_t>(sqlite3_column_bytes(stmt_, col));
    return p ? std::string_view{p, n} : std::string_view{};
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Process-wide settings that must precede SQLite's initialisation (the first open). Every
// connection is used by one thread at a time (the writer's, or a leased reader), so SQLite's
// own mutexes are not needed (NOMUTEX below); without memory statistics sqlite3_malloc takes no
// global mutex either, which the HTTP threads' read connections otherwise contend on.
void configure_sqlite_once() {
  static const bool configured = [] {
    // Fails (SQLITE_MISUSE) only if something initialised SQLite before us: then the default
    // stays, which is correct, just slower.
    if (int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); rc != SQLITE_OK)
      log::warn("store", "sqlite3_config(MEMSTATUS, 0): ", sqlite3_errstr(rc));
    return true;
  }();
  (void)configured;
}

class sqlite_connection final : public connection_impl {
 public:
  sqlite_connection(const std::string& path, connection::mode m,
                    const connection::options& opts) {
    configure_sqlite_once();
    int flags = SQLITE_OPEN_NOMUTEX |
                (m == connection::mode::read_only ? SQLITE_OPEN_READONLY
                                                  : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = "open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
      sqlite3_close(db_);
      db_ = nullptr;
      throw sqlite_error(rc, msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, opts.busy_timeout_ms);
    // A constructor that throws runs no destructor: close the handle here (a file that is not
    // a database fails only at the first statement), or it leaks.
    try {
      if (m == connection::mode::read_write) {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=" + opts.synchronous);
        exec("PRAGMA foreign_keys=ON");
        exec("PRAGMA wal_autocheckpoint=4000");
      } else {
        exec("PRAGMA query_only=ON");
      }
      exec("PRAGMA temp_store=MEMORY");
      exec("PRAGMA cache_size=-16000");
    } catch (...) {
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~sqlite_connection() override {
    if (db_) sqlite3_close_v2(db_);
  }

  store::backend kind() const noexcept override { return backend::sqlite; }
  void exec(std::string_view sql) override {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw sqlite_error(sqlite3_extended_errcode(db_), "exec \"" + s + "\": " + msg);
    }
  }
  std::unique_ptr<statement> prepare(std::string_view sql) override {
    return std::make_unique<sqlite_statement>(db_, sql);
  }
  int changes() const override { return sqlite3_changes(db_); }
  bool in_transaction() const override { return sqlite3_get_autocommit(db_) == 0; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

connection::connection(const std::string& path, mode m, const options& opts)
    : impl_(std::make_unique<sqlite_connection>(path, m, opts)), kind_(backend::sqlite) {}

}  // namespace medflow::store
