// The PostgreSQL backend of the store, on libpq: statements prepared once per connection
// (PQprepare, `?` numbered to $n) and run with PQexecPrepared, parameters and results as text
// (blobs: binary parameters, bytea results decoded). Every wait is bounded: connect_timeout
// when connecting, the session's statement_timeout for every statement, and tcp_user_timeout
// for a server that stops answering.
#include "store/connection.hpp"

#include "core/log.hpp"

#include <libpq-fe.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

namespace medflow::store {

namespace {

constexpr Oid bytea_oid = 17;

// libpq's messages end in a newline and may span lines: one line for the log.
std::string first_line(const char* msg) {
  std::string s;
  for (const char* p = msg ? msg : ""; *p; ++p) {
    if (*p == '\n' || *p == '\t') {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += *p;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

[[noreturn]] void throw_result(PGconn* conn, PGresult* res, std::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = std::string(what) + ": " +
                    first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (res && msg.size() == what.size() + 2) msg += first_line(PQerrorMessage(conn));
  std::string sqlstate = state ? state : "";
  if (res) PQclear(res);
  // A lost connection has no SQLSTATE: the class of connection exceptions says what it is.
  if (sqlstate.empty() && PQstatus(conn) == CONNECTION_BAD) sqlstate = "08006";
  throw store_error(sqlstate, msg);
}

class pg_connection;

class pg_statement final : public statement {
 public:
  pg_statement(pg_connection& c, std::string_view sql);
  ~pg_statement() override { clear(); }

  void bind_int64(int i, int64_t v) override {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    set(i, std::string(buf, r.ptr), 0);
  }
  void bind_double(int i, double v) override {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.17g", v);
    set(i, std::string(buf, static_cast<size_t>(n)), 0);
  }
  void bind_text(int i, std::string_view v) override { set(i, std::string(v), 0); }
  void bind_blob(int i, std::string_view v) override { set(i, std::string(v), 1); }
  void bind_null(int i) override {
    slot(i);
    null_[static_cast<size_t>(i - 1)] = true;
  }

  bool step() override;
  int changes() override { return changes_; }
  void reset() override {
    clear();
    std::fill(null_.begin(), null_.end(), true);
  }

  bool is_null(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  int64_t int64(int col) const override {
    const char* v = PQgetvalue(res_, row_, col);
    if (v[0] == 't' && v[1] == 0) return 1;  // boolean
    if (v[0] == 'f' && v[1] == 0) return 0;
    int64_t out = 0;
    std::from_chars(v, v + PQgetlength(res_, row_, col), out);
    return out;
  }
  double real(int col) const override { return std::strtod(PQgetvalue(res_, row_, col), nullptr); }
  std::string_view text_view(int col) const override;

 private:
  void slot(int i) {
    if (i < 1 || i > params_)
      throw store_error("42P02", "bind: parameter " + std::to_string(i) + " out of range (" +
                                     std::to_string(params_) + ") in \"" + sql_ + "\"");
  }
  void set(int i, std::string v, int format) {
    slot(i);
    auto k = static_cast<size_t>(i - 1);
    values_[k] = std::move(v);
    null_[k] = false;
    formats_[k] = format;
  }
  void clear() {
    if (res_) PQclear(res_);
    res_ = nullptr;
    ran_ = false;
    row_ = -1;
    rows_ = 0;
    changes_ = 0;
  }

  pg_connection& c_;
  std::string sql_;   // numbered
  std::string name_;  // of the prepared statement on the server
  uint64_t prepared_in_ = 0;  // the connection's session it was prepared in (0: not yet)
  int params_ = 0;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> formats_;
  PGresult* res_ = nullptr;
  bool ran_ = false;
  int row_ = -1;
  int rows_ = 0;
  int changes_ = 0;
  mutable std::deque<std::string> decoded_;  // bytea columns of the current row (stable)
};

class pg_connection final : public connection_impl {
 public:
  explicit pg_connection(const postgres_options& o) : opts_(o) { connect(); }
  ~pg_connection() override {
    if (conn_) PQfinish(conn_);
  }

  store::backend kind() const noexcept override { return backend::postgres; }

  void exec(std::string_view sql) override {
    PGresult* res = PQexec(conn_, std::string(sql).c_str());
    auto st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw_result(conn_, res, "exec");
    PQclear(res);
  }
  std::unique_ptr<statement> prepare(std::string_view sql) override {
    return std::make_unique<pg_statement>(*this, sql);
  }
  int changes() const override { return 0; }  // per statement: query::exec's answer
  bool in_transaction() const override {
    // A failed statement leaves the transaction unable to commit (INERROR): for the writer that
    // is a transaction rolled back under it, as SQLite's are on I/O errors.
    return PQtransactionStatus(conn_) == PQTRANS_INTRANS;
  }
  bool usable() const override {
    auto t = PQtransactionStatus(conn_);
    return PQstatus(conn_) == CONNECTION_OK && t == PQTRANS_IDLE;
  }
  void before_begin() override {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    log::warn("store", "the connection to PostgreSQL was lost; connecting again");
    PQfinish(conn_);
    conn_ = nullptr;
    connect();
  }
  void after_commit() override {
    // COMMIT of a transaction that failed answers ROLLBACK, not an error.
    if (last_status_ == "ROLLBACK")
      throw store_error("40000", "commit: the server rolled the transaction back");
  }

  PGconn* handle() const noexcept { return conn_; }
  uint64_t session() const noexcept { return session_; }
  std::string next_name() { return "s" + std::to_string(++statements_); }
  void note_status(PGresult* res) { last_status_ = PQcmdStatus(res); }

 private:
  void connect() {
    auto connect_timeout = std::to_string(opts_.connect_timeout_s);
    // The server must answer within the statement timeout plus a margin, or the socket fails.
    auto tcp_timeout = std::to_string(opts_.statement_timeout_ms + 10000);
    const char* keys[] = {"dbname", "connect_timeout", "tcp_user_timeout", "keepalives",
                          "keepalives_idle", "application_name", nullptr};
    const char* values[] = {opts_.url.c_str(), connect_timeout.c_str(), tcp_timeout.c_str(), "1",
                            "30", "medflowd", nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      // libpq's message names the host and port, never the password.
      std::string why = conn_ ? first_line(PQerrorMessage(conn_)) : "out of memory";
      if (conn_) PQfinish(conn_);
      conn_ = nullptr;
      throw store_error("08001", "cannot connect to PostgreSQL: " + why);
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char* m) { log::debug("store", "postgres: ", first_line(m)); },
        nullptr);
    std::string setup = "SET statement_timeout = " + std::to_string(opts_.statement_timeout_ms) +
                        "; SET client_min_messages = warning";
    if (opts_.read_only) setup += "; SET default_transaction_read_only = on";
    exec(setup);
    ++session_;
  }

  postgres_options opts_;
  PGconn* conn_ = nullptr;
  uint64_t session_ = 0;
  uint64_t statements_ = 0;
  std::string last_status_;
};

pg_statement::pg_statement(pg_connection& c, std::string_view sql) : c_(c) {
  sql_ = number_placeholders(sql, params_);
  values_.resize(static_cast<size_t>(params_));
  null_.assign(static_cast<size_t>(params_), true);
  formats_.assign(static_cast<size_t>(params_), 0);
}

bool pg_statement::step() {
  if (!ran_) {
    PGconn* conn = c_.handle();
    if (prepared_in_ != c_.session()) {
      auto name = c_.next_name();
      PGresult* p = PQprepare(conn, name.c_str(), sql_.c_str(), params_, nullptr);
      if (PQresultStatus(p) != PGRES_COMMAND_OK) throw_result(conn, p, "prepare \"" + sql_ + "\"");
      PQclear(p);
      name_ = std::move(name);
      prepared_in_ = c_.session();
    }
    std::vector<const char*> values(static_cast<size_t>(params_));
    std::vector<int> lengths(static_cast<size_t>(params_));
    for (size_t k = 0; k < values.size(); ++k) {
      values[k] = null_[k] ? nullptr : values_[k].c_str();
      lengths[k] = static_cast<int>(values_[k].size());
    }
    res_ = PQexecPrepared(conn, name_.c_str(), params_, values.data(), lengths.data(),
                          formats_.data(), 0);
    auto st = PQresultStatus(res_);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      PGresult* r = res_;
      res_ = nullptr;
      throw_result(conn, r, "step \"" + sql_ + "\"");
    }
    c_.note_status(res_);
    ran_ = true;
    rows_ = PQntuples(res_);
    const char* n = PQcmdTuples(res_);
    changes_ = n && *n ? std::atoi(n) : 0;
    row_ = -1;
  }
  decoded_.clear();
  if (row_ + 1 >= rows_) {
    row_ = rows_;
    return false;
  }
  ++row_;
  return true;
}

std::string_view pg_statement::text_view(int col) const {
  const char* v = PQgetvalue(res_, row_, col);
  if (PQftype(res_, col) != bytea_oid || PQgetisnull(res_, row_, col))
    return {v, static_cast<size_t>(PQgetlength(res_, row_, col))};
  size_t n = 0;
  unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
  if (!bytes) throw store_error("22000", "cannot decode a bytea column");
  decoded_.emplace_back(reinterpret_cast<const char*>(bytes), n);
  PQfreemem(bytes);
  return decoded_.back();
}

}  // namespace

connection::connection(const postgres_options& opts)
    : impl_(std::make_unique<pg_connection>(opts)), kind_(backend::postgres) {}

}  // namespace medflow::store
