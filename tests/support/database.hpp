// A test's database. By default SQLite: a file (in the test's temp_dir), synchronous=NORMAL (a
// test does not need to survive a power loss). When MEDFLOW_TEST_STORE=postgres (ctest's
// *_postgres entries, see tests/CMakeLists.txt) the same tests run on the PostgreSQL server of
// MEDFLOW_TEST_PG_URL, each path its own fresh schema (t_<hash of the path>, the connections'
// search_path: a test that opens its path again finds its data; a schema costs far less than a
// database, whose copy of the template a checkpoint has to sync). Migrations are applied in
// the order given.
#pragma once

#include "store/database.hpp"

#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace medflow::test {

inline bool on_postgres() {
  const char* s = std::getenv("MEDFLOW_TEST_STORE");
  return s && std::string(s) == "postgres";
}

// The server's URL (MEDFLOW_TEST_PG_URL, a URI without parameters) with `schema` first in the
// search_path.
inline std::string postgres_url(const std::string& schema = "") {
  const char* url = std::getenv("MEDFLOW_TEST_PG_URL");
  if (!url || !*url)
    throw std::runtime_error("MEDFLOW_TEST_STORE=postgres needs MEDFLOW_TEST_PG_URL");
  std::string u = url;
  if (!schema.empty()) u += "?options=-csearch_path%3D" + schema;
  return u;
}

// The options of the database for `path`: SQLite there, or its own PostgreSQL schema.
inline store::database::options database_options(const std::string& path) {
  store::database::options o;
  o.path = path;
  o.conn.synchronous = "NORMAL";
  if (!on_postgres()) return o;
  auto schema = "t_" + std::to_string(std::hash<std::string>{}(path));
  store::postgres_options admin;
  admin.url = postgres_url();
  store::connection c{admin};
  c.exec("CREATE SCHEMA IF NOT EXISTS " + schema);
  o.kind = store::backend::postgres;
  o.pg.url = postgres_url(schema);
  o.pg.statement_timeout_ms = 60000;
  o.max_readers = 16;
  return o;
}

inline std::unique_ptr<store::database> open_database(
    const std::string& path, std::initializer_list<std::vector<store::migration>> modules) {
  auto db = std::make_unique<store::database>(database_options(path));
  for (auto& m : modules) db->migrate(m);
  return db;
}

// A connection of the test's own to the database of `path` (outside the writer).
inline std::unique_ptr<store::connection> open_connection(const std::string& path) {
  auto o = database_options(path);
  if (o.kind == store::backend::postgres) return std::make_unique<store::connection>(o.pg);
  return std::make_unique<store::connection>(path, store::connection::mode::read_write, o.conn);
}

}  // namespace medflow::test
