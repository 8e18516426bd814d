// The store's connection API, the same on both backends (SQLite, PostgreSQL): a connection,
// cached prepared statements used through `query` (bind by index from 1, step, read columns
// from 0), transactions and savepoints. SQL is written once with `?` placeholders; the
// PostgreSQL connection rewrites them to $1..$n when it prepares a statement. Statements that
// differ by dialect are chosen with `sql(c, sqlite, postgres)`, in one place per flow.
// Store failures throw store::store_error (a store failure is exceptional; domain refusals are
// values, see core/error.hpp).
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace medflow::store {

enum class backend { sqlite, postgres };

// A failure of the store. SQLite: its extended result code; PostgreSQL: the SQLSTATE (code 0).
class store_error : public std::runtime_error {
 public:
  store_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  store_error(std::string sqlstate, const std::string& what)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  int code() const noexcept { return code_; }
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  // A constraint refused the write (SQLite CONSTRAINT; PostgreSQL class 23).
  bool is_constraint() const noexcept;
  // The disk is full (SQLite FULL; PostgreSQL 53100 disk_full).
  bool is_full() const noexcept;

 private:
  int code_ = 0;
  std::string sqlstate_;
};

// The store cannot write because its disk is full. It is an error value too (507
// insufficient_storage), so a route that lets it pass answers 507 in its own format.
class storage_full : public error_exception {
 public:
  explicit storage_full(std::string why)
      : error_exception(error{507, "insufficient_storage", std::move(why), {}}) {}
};

// A prepared statement of one backend, owned by its connection's cache. Use it through `query`.
class statement {
 public:
  virtual ~statement() = default;
  virtual void bind_int64(int i, int64_t v) = 0;
  virtual void bind_double(int i, double v) = 0;
  virtual void bind_text(int i, std::string_view v) = 0;
  virtual void bind_blob(int i, std::string_view v) = 0;
  // The same without a copy where the backend can: the bytes must stay as they are until the
  // statement is reset (query::bind_text_ref).
  virtual void bind_text_ref(int i, std::string_view v) { bind_text(i, v); }
  virtual void bind_blob_ref(int i, std::string_view v) { bind_blob(i, v); }
  virtual void bind_null(int i) = 0;
  // Runs the statement on the first call; true while a row is available.
  virtual bool step() = 0;
  // Rows inserted, updated or deleted by the last run.
  virtual int changes() = 0;
  // Ready to bind and run again; bindings cleared.
  virtual void reset() = 0;
  virtual bool is_null(int col) const = 0;
  virtual int64_t int64(int col) const = 0;
  virtual double real(int col) const = 0;
  // Valid until the next step.
  virtual std::string_view text_view(int col) const = 0;
};

// One use of a cached statement: bind, step, read columns; reset on destruction.
class query {
 public:
  explicit query(statement& s) : s_(&s) {}
  ~query();
  query(const query&) = delete;
  query& operator=(const query&) = delete;
  query(query&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }

  query& bind(int i, int64_t v) {
    s_->bind_int64(i, v);
    return *this;
  }
  query& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  query& bind(int i, double v) {
    s_->bind_double(i, v);
    return *this;
  }
  query& bind(int i, std::string_view v) {
    s_->bind_text(i, v);
    return *this;
  }
  query& bind(int i, const std::string& v) { return bind(i, std::string_view{v}); }
  query& bind(int i, const char* v) { return bind(i, std::string_view{v}); }
  query& bind(int i, std::nullptr_t) {
    s_->bind_null(i);
    return *this;
  }
  query& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  template <class T>
  query& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, nullptr);
  }
  query& bind_blob(int i, std::string_view bytes) {
    s_->bind_blob(i, bytes);
    return *this;
  }
  // Bound without a copy (SQLite): the bytes must stay as they are until the query is reset or
  // destroyed. For a hot loop whose values outlive each run (the bus writing records).
  query& bind_text_ref(int i, std::string_view v) {
    s_->bind_text_ref(i, v);
    return *this;
  }
  query& bind_blob_ref(int i, std::string_view bytes) {
    s_->bind_blob_ref(i, bytes);
    return *this;
  }

  // Binds all arguments from index 1.
  template <class... Ts>
  query& bind_all(const Ts&... xs) {
    int i = 1;
    (bind(i++, xs), ...);
    return *this;
  }

  // Steps once; true when a row is available.
  bool step() { return s_->step(); }
  // Runs to completion (for statements without rows); returns the rows changed.
  int exec();
  // Makes the statement ready to bind and run again.
  void reset() { s_->reset(); }

  bool is_null(int col) const { return s_->is_null(col); }
  int64_t int64(int col) const { return s_->int64(col); }
  double real(int col) const { return s_->real(col); }
  std::string text(int col) const { return std::string{text_view(col)}; }
  std::string_view text_view(int col) const { return s_->text_view(col); }  // until next step
  std::optional<std::string> opt_text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;

 private:
  statement* s_;
};

// What a connection of one backend does; `connection` adds the statement cache.
class connection_impl {
 public:
  virtual ~connection_impl() = default;
  virtual store::backend kind() const noexcept = 0;
  virtual void exec(std::string_view sql) = 0;
  virtual std::unique_ptr<statement> prepare(std::string_view sql) = 0;
  virtual int changes() const = 0;
  // Inside a transaction that can still commit.
  virtual bool in_transaction() const = 0;
  // False when the connection is lost and a new transaction cannot reopen it.
  virtual bool usable() const { return true; }
  // Before BEGIN: a connection lost between transactions connects again.
  virtual void before_begin() {}
  // After COMMIT ran: throws when the server rolled the transaction back instead.
  virtual void after_commit() {}
};

// How to reach a PostgreSQL server, and the bounds of every wait on it.
struct postgres_options {
  std::string url;                  // a libpq connection URI or key=value string
  int connect_timeout_s = 10;       // libpq connect_timeout
  int statement_timeout_ms = 30000; // the session's statement_timeout (and TCP user timeout)
  bool read_only = false;           // default_transaction_read_only
};

class connection {
 public:
  enum class mode { read_write, read_only };
  // SQLite settings.
  struct options {
    std::string synchronous = "FULL";  // OFF, NORMAL, FULL
    int busy_timeout_ms = 5000;
  };

  // A SQLite connection to the file at `path`.
  connection(const std::string& path, mode m, const options& opts);
  // A PostgreSQL connection (throws store_error when the server cannot be reached in time).
  explicit connection(const postgres_options& opts);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  store::backend backend() const noexcept { return kind_; }
  // Runs one or more statements without results.
  void exec(std::string_view sql) { impl_->exec(sql); }
  // A cached prepared statement ready to bind.
  query prepare(std::string_view sql);
  int changes() const { return impl_->changes(); }
  bool in_transaction() const { return impl_->in_transaction(); }
  bool usable() const { return impl_->usable(); }
  connection_impl& impl() { return *impl_; }
  // How many rollbacks (of a savepoint or a transaction) this connection has begun: a cache of
  // what was written through it is valid only while this number stays the same.
  uint64_t rollbacks() const noexcept { return rollbacks_; }
  void note_rollback() noexcept { ++rollbacks_; }

 private:
  std::unique_ptr<connection_impl> impl_;
  store::backend kind_;
  uint64_t rollbacks_ = 0;
  // Keyed by a view of the entry's own copy of the SQL, so a lookup by the caller's string_view
  // builds no std::string (one prepare per statement run: an allocation each was a measurable
  // share of the writer's time).
  struct cached {
    std::string sql;
    std::unique_ptr<statement> st;
  };
  std::unordered_map<std::string_view, std::unique_ptr<cached>> cache_;
};

// The statement of this connection's dialect: the one place a flow says where they differ.
inline const char* sql(const connection& c, const char* sqlite, const char* postgres) {
  return c.backend() == backend::postgres ? postgres : sqlite;
}

// BEGIN (SQLite: IMMEDIATE) ... COMMIT; rolls back unless committed.
class transaction {
 public:
  explicit transaction(connection& c, bool immediate = true);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit();

 private:
  connection& c_;
  bool done_ = false;
};

// SAVEPOINT name ... RELEASE; rolls back to the savepoint (and releases it) unless released.
class savepoint {
 public:
  savepoint(connection& c, std::string name);
  ~savepoint();
  savepoint(const savepoint&) = delete;
  savepoint& operator=(const savepoint&) = delete;
  void release();
  void rollback();

 private:
  connection& c_;
  std::string name_;
  bool done_ = false;
};

// Rewrites `?` placeholders to $1..$n outside quoted literals, identifiers and comments;
// `count` receives n.
std::string number_placeholders(std::string_view sql, int& count);

}  // namespace medflow::store
