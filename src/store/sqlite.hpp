// A small RAII layer over SQLite: connection, cached prepared statements, transactions and
// savepoints. Errors throw store::sqlite_error (a store failure is exceptional; domain
// refusals are values, see core/error.hpp).
#pragma once

#include "core/error.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace medflow::store {

class sqlite_error : public std::runtime_error {
 public:
  sqlite_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }
  bool is_constraint() const noexcept { return (code_ & 0xff) == SQLITE_CONSTRAINT; }

 private:
  int code_;
};

// The store cannot write because its disk is full (SQLite's SQLITE_FULL). It is an error value
// too (507 insufficient_storage), so a route that lets it pass answers 507 in its own format.
class storage_full : public error_exception {
 public:
  explicit storage_full(std::string why)
      : error_exception(error{507, "insufficient_storage", std::move(why), {}}) {}
};

// True for SQLITE_FULL (ENOSPC on a write, or max_page_count reached).
inline bool is_full(int code) noexcept { return (code & 0xff) == SQLITE_FULL; }

// The file is not a database or a page of it is damaged (SQLITE_CORRUPT, SQLITE_NOTADB).
inline bool is_corrupt(int code) noexcept {
  return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

class connection;

// A prepared statement owned by its connection's cache. Use it through `query`.
class statement {
 public:
  statement(sqlite3* db, std::string_view sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  sqlite3_stmt* handle() const noexcept { return stmt_; }
  sqlite3* db() const noexcept { return db_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One use of a cached statement: bind, step, read columns; reset on destruction.
class query {
 public:
  explicit query(statement& s) : s_(&s) {}
  ~query();
  query(const query&) = delete;
  query& operator=(const query&) = delete;
  query(query&& o) noexcept : s_(o.s_), next_(o.next_) { o.s_ = nullptr; }

  query& bind(int i, int64_t v);
  query& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  query& bind(int i, double v);
  query& bind(int i, std::string_view v);
  query& bind(int i, const std::string& v) { return bind(i, std::string_view{v}); }
  query& bind(int i, const char* v) { return bind(i, std::string_view{v}); }
  query& bind(int i, std::nullptr_t);
  query& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  template <class T>
  query& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, nullptr);
  }
  query& bind_blob(int i, std::string_view bytes);

  // Binds all arguments from index 1.
  template <class... Ts>
  query& bind_all(const Ts&... xs) {
    int i = 1;
    (bind(i++, xs), ...);
    return *this;
  }

  // Steps once; true when a row is available.
  bool step();
  // Runs to completion (for statements without rows); returns sqlite3_changes.
  int exec();
  // Makes the statement ready to bind and run again.
  void reset();

  bool is_null(int col) const;
  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::string_view text_view(int col) const;  // valid until the next step
  std::optional<std::string> opt_text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;

 private:
  statement* s_;
  bool next_ = false;
};

class connection {
 public:
  enum class mode { read_write, read_only };
  struct options {
    std::string synchronous = "FULL";  // OFF, NORMAL, FULL
    int busy_timeout_ms = 5000;
  };

  connection(const std::string& path, mode m, const options& opts);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs one or more statements without results.
  void exec(std::string_view sql);
  // A cached prepared statement ready to bind.
  query prepare(std::string_view sql);
  int64_t last_insert_rowid() const;
  int changes() const;
  bool in_transaction() const;
  sqlite3* handle() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<statement>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed.
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

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what);

}  // namespace medflow::store
