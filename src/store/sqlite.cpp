#include "store/sqlite.hpp"

#include "core/log.hpp"

namespace medflow::store {

void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw sqlite_error(db ? sqlite3_extended_errcode(db) : rc, msg);
}

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "prepare \"" + std::string(sql) + "\"");
}

statement::~statement() { sqlite3_finalize(stmt_); }

query::~query() {
  if (s_) {
    sqlite3_reset(s_->handle());
    sqlite3_clear_bindings(s_->handle());
  }
}

#define MF_BIND(call)                                             \
  do {                                                            \
    int rc = (call);                                              \
    if (rc != SQLITE_OK) throw_sqlite(s_->db(), rc, "bind");      \
  } while (0)

query& query::bind(int i, int64_t v) {
  MF_BIND(sqlite3_bind_int64(s_->handle(), i, v));
  return *this;
}
query& query::bind(int i, double v) {
  MF_BIND(sqlite3_bind_double(s_->handle(), i, v));
  return *this;
}
query& query::bind(int i, std::string_view v) {
  MF_BIND(sqlite3_bind_text64(s_->handle(), i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}
query& query::bind(int i, std::nullptr_t) {
  MF_BIND(sqlite3_bind_null(s_->handle(), i));
  return *this;
}
query& query::bind_blob(int i, std::string_view v) {
  MF_BIND(sqlite3_bind_blob64(s_->handle(), i, v.data(), v.size(), SQLITE_TRANSIENT));
  return *this;
}
#undef MF_BIND

bool query::step() {
  int rc = sqlite3_step(s_->handle());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(s_->db(), rc, std::string("step \"") + sqlite3_sql(s_->handle()) + "\"");
}

int query::exec() {
  while (step()) {
  }
  return sqlite3_changes(s_->db());
}

void query::reset() {
  sqlite3_reset(s_->handle());
  sqlite3_clear_bindings(s_->handle());
}

bool query::is_null(int col) const { return sqlite3_column_type(s_->handle(), col) == SQLITE_NULL; }
int64_t query::int64(int col) const { return sqlite3_column_int64(s_->handle(), col); }
double query::real(int col) const { return sqlite3_column_double(s_->handle(), col); }

std::string_view query::text_view(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_->handle(), col));
  auto n = static_cast<size_t>(sqlite3_column_bytes(s_->handle(), col));
  return p ? std::string_view{p, n} : std::string_view{};
}

std::string query::text(int col) const { return std::string{text_view(col)}; }

std::optional<std::string> query::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

std::optional<int64_t> query::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

namespace {
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
}  // namespace

connection::connection(const std::string& path, mode m, const options& opts) {
  configure_sqlite_once();
  int flags = SQLITE_OPEN_NOMUTEX |
              (m == mode::read_only ? SQLITE_OPEN_READONLY
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
  // A constructor that throws runs no destructor: close the handle here (a file that is not a
  // database fails only at the first statement), or it leaks.
  try {
    if (m == mode::read_write) {
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

connection::~connection() {
  cache_.clear();
  if (db_) sqlite3_close_v2(db_);
}

void connection::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw sqlite_error(sqlite3_extended_errcode(db_), "exec \"" + s + "\": " + msg);
  }
}

query connection::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end())
    it = cache_.emplace(std::string(sql), std::make_unique<statement>(db_, sql)).first;
  return query{*it->second};
}

int64_t connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int connection::changes() const { return sqlite3_changes(db_); }
bool connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

transaction::transaction(connection& c, bool immediate) : c_(c) {
  c_.prepare(immediate ? "BEGIN IMMEDIATE" : "BEGIN").exec();
}

transaction::~transaction() {
  if (!done_) {
    try {
      c_.prepare("ROLLBACK").exec();
    } catch (...) {
      // The transaction may already be gone (e.g. after an I/O error); nothing to undo.
    }
  }
}

void transaction::commit() {
  c_.prepare("COMMIT").exec();
  done_ = true;
}

savepoint::savepoint(connection& c, std::string name) : c_(c), name_(std::move(name)) {
  c_.prepare("SAVEPOINT " + name_).exec();
}

savepoint::~savepoint() {
  if (!done_) {
    try {
      rollback();
    } catch (...) {
    }
  }
}

void savepoint::release() {
  c_.prepare("RELEASE " + name_).exec();
  done_ = true;
}

void savepoint::rollback() {
  c_.prepare("ROLLBACK TO " + name_).exec();
  c_.prepare("RELEASE " + name_).exec();
  done_ = true;
}

}  // namespace medflow::store
