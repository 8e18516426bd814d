// A test's SQLite database: a file (in the test's temp_dir), synchronous=NORMAL (a test does
// not need to survive a power loss), and the modules' migrations applied in the order given.
#pragma once

#include "store/database.hpp"

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace medflow::test {

inline std::unique_ptr<store::database> open_database(
    const std::string& path, std::initializer_list<std::vector<store::migration>> modules) {
  store::database::options o;
  o.path = path;
  o.conn.synchronous = "NORMAL";
  auto db = std::make_unique<store::database>(o);
  for (auto& m : modules) db->migrate(m);
  return db;
}

}  // namespace medflow::test
