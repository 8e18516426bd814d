#include "store/connection.hpp"

#include <sqlite3.h>

namespace medflow::store {

bool store_error::is_constraint() const noexcept {
  return (code_ & 0xff) == SQLITE_CONSTRAINT || sqlstate_.compare(0, 2, "23") == 0;
}

bool store_error::is_full() const noexcept {
  return (code_ & 0xff) == SQLITE_FULL || sqlstate_ == "53100";
}

query::~query() {
  if (s_) s_->reset();
}

int query::exec() {
  while (step()) {
  }
  return s_->changes();
}

std::optional<std::string> query::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

std::optional<int64_t> query::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

connection::~connection() {
  cache_.clear();  // statements before the connection they belong to
  impl_.reset();
}

query connection::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto c = std::make_unique<cached>(cached{std::string(sql), impl_->prepare(sql)});
    std::string_view key = c->sql;
    it = cache_.emplace(key, std::move(c)).first;
  }
  return query{*it->second->st};
}

transaction::transaction(connection& c, bool immediate) : c_(c) {
  if (c_.backend() == backend::postgres) {
    c_.impl().before_begin();
    c_.prepare("BEGIN").exec();
  } else {
    c_.prepare(immediate ? "BEGIN IMMEDIATE" : "BEGIN").exec();
  }
}

transaction::~transaction() {
  if (!done_) {
    c_.note_rollback();
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
  c_.impl().after_commit();
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
  c_.note_rollback();
  c_.prepare("ROLLBACK TO " + name_).exec();
  c_.prepare("RELEASE " + name_).exec();
  done_ = true;
}

std::string number_placeholders(std::string_view sql, int& count) {
  std::string out;
  out.reserve(sql.size() + 16);
  count = 0;
  size_t i = 0;
  auto copy_until = [&](std::string_view end) {
    auto e = sql.find(end, i);
    e = e == std::string_view::npos ? sql.size() : e + end.size();
    out.append(sql.substr(i, e - i));
    i = e;
  };
  while (i < sql.size()) {
    char ch = sql[i];
    if (ch == '\'' || ch == '"') {
      // A doubled quote inside is the quote itself: scanning to the next one twice is the same.
      out += ch;
      ++i;
      copy_until(std::string_view(&ch, 1));
    } else if (ch == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      copy_until("\n");
    } else if (ch == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      out += "/*";
      i += 2;
      copy_until("*/");
    } else if (ch == '?') {
      out += '$';
      out += std::to_string(++count);
      ++i;
    } else {
      out += ch;
      ++i;
    }
  }
  return out;
}

}  // namespace medflow::store
