// The SQLite backend of the store (see connection.hpp for the API both backends share), and
// SQLite's own result-code helpers.
#pragma once

#include "store/connection.hpp"

#include <sqlite3.h>

namespace medflow::store {

// The name existing code knows; a store_error of either backend.
using sqlite_error = store_error;

// True for SQLITE_FULL (ENOSPC on a write, or max_page_count reached).
inline bool is_full(int code) noexcept { return (code & 0xff) == SQLITE_FULL; }

// The file is not a database or a page of it is damaged (SQLITE_CORRUPT, SQLITE_NOTADB).
inline bool is_corrupt(int code) noexcept {
  return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what);

}  // namespace medflow::store
