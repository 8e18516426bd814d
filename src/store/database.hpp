// The database: one SQLite file in WAL mode, a pool of read connections, the group-commit
// writer that owns the only write connection, and versioned migrations run at start-up.
#pragma once

#include "store/sqlite.hpp"
#include "store/writer.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace medflow::store {

// One schema change of one module (bus, medical_events, ...). Versions count per module.
struct migration {
  std::string module;
  int version;
  std::string name;
  std::string sql;
};

class database {
 public:
  struct options {
    std::string path;                  // the database file
    connection::options conn;
    size_t max_readers = 32;
    size_t group_commit_max = 1000;
  };

  explicit database(options opts);
  ~database();

  // Applies the migrations not applied yet, per module in version order, each in its own
  // transaction. Refuses a database that has a newer version than this binary knows.
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
  const std::string& path() const { return opts_.path; }
  // Quick liveness probe for /readyz.
  bool healthy();
  // Stops the writer after committing what is queued.
  void close();

 private:
  options opts_;
  std::unique_ptr<writer> writer_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<connection>> pool_;
};

}  // namespace medflow::store
