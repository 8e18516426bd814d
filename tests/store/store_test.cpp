#include "store/database.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace medflow::store;

namespace {
database::options opts(const medflow::test::temp_dir& d, size_t max_batch = 1000) {
  database::options o;
  o.path = d.file("t.db");
  o.conn.synchronous = "NORMAL";
  o.group_commit_max = max_batch;
  return o;
}

int64_t count(database& db, const std::string& table) {
  auto r = db.reader();
  auto q = r->prepare("SELECT count(*) FROM " + table);
  REQUIRE(q.step());
  return q.int64(0);
}

const std::vector<migration> migs = {
    {"demo", 1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"},
    {"demo", 2, "items.size", "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0"},
};
}  // namespace

TEST_CASE("migrations apply once, in order, and are recorded") {
  medflow::test::temp_dir d;
  {
    database db{opts(d)};
    db.migrate(migs);
    db.write().run([](tx& t) {
      t.conn.prepare("INSERT INTO items(name, size) VALUES ('a', 3)").exec();
    });
    CHECK(count(db, "schema_migrations") == 2);
  }
  {
    database db{opts(d)};
    db.migrate(migs);  // nothing new: no error, no duplicate
    CHECK(count(db, "schema_migrations") == 2);
    CHECK(count(db, "items") == 1);
    std::vector<migration> older = {migs[0]};
    CHECK_THROWS_WITH(db.migrate(older),
                      "database schema of demo is at version 2, newer than this medflowd (1)");
  }
}

TEST_CASE("the database is in WAL mode with the configured synchronous setting") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  auto mode = db.write().run([](tx& t) {
    auto q = t.conn.prepare("PRAGMA journal_mode");
    q.step();
    return q.text(0);
  });
  CHECK(mode == "wal");
  auto sync = db.write().run([](tx& t) {
    auto q = t.conn.prepare("PRAGMA synchronous");
    q.step();
    return q.int64(0);
  });
  CHECK(sync == 1);  // NORMAL
}

TEST_CASE("a failing unit rolls back alone; the others of its group commit") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  // Hold the writer busy so the next units queue up and land in one group.
  std::promise<void> gate;
  auto gate_f = gate.get_future().share();
  std::atomic<int> ok{0}, failed{0};
  auto commits_before = db.write().commits();
  db.write().submit([gate_f](tx&) { gate_f.wait(); }, nullptr);
  for (int i = 0; i < 10; ++i) {
    db.write().submit(
        [i](tx& t) {
          t.conn.prepare("INSERT INTO items(name) VALUES (?)").bind_all("n" + std::to_string(i)).exec();
          if (i == 4) throw std::runtime_error("unit 4 fails after writing");
        },
        [&](std::exception_ptr e) { (e ? failed : ok)++; });
  }
  gate.set_value();
  db.write().run([](tx&) {});
  CHECK(ok == 9);
  CHECK(failed == 1);
  CHECK(count(db, "items") == 9);
  // The gate, the ten units queued behind it, and the closing probe: three commits at most,
  // where one commit per unit would have taken twelve.
  CHECK(db.write().commits() - commits_before <= 3);
}

TEST_CASE("a constraint violation fails only its unit and reports the SQLite error") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  db.write().run([](tx& t) { t.conn.prepare("INSERT INTO items(name) VALUES ('dup')").exec(); });
  CHECK_THROWS_AS(db.write().run([](tx& t) {
    t.conn.prepare("INSERT INTO items(name) VALUES ('dup')").exec();
  }),
                  sqlite_error);
  CHECK(count(db, "items") == 1);
}

TEST_CASE("after_commit hooks run only for committed units") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  std::atomic<int> hooks{0};
  db.write().run([&](tx& t) { t.after_commit([&] { hooks++; }); });
  CHECK(hooks == 1);
  CHECK_THROWS(db.write().run([&](tx& t) {
    t.after_commit([&] { hooks++; });
    throw std::runtime_error("no");
  }));
  CHECK(hooks == 1);
}

TEST_CASE("group commit: many threads' units are batched and all become visible") {
  medflow::test::temp_dir d;
  database db{opts(d, 64)};
  db.migrate(migs);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        db.write().run([&](tx& x) {
          x.conn.prepare("INSERT INTO items(name) VALUES (?)")
              .bind_all(std::to_string(t) + "-" + std::to_string(i))
              .exec();
        });
    });
  for (auto& th : threads) th.join();
  CHECK(count(db, "items") == 1600);
  CHECK(db.write().commits() < 1600);
}

TEST_CASE("readers see committed data and are pooled") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  db.write().run([](tx& t) { t.conn.prepare("INSERT INTO items(name) VALUES ('x')").exec(); });
  {
    auto r1 = db.reader();
    auto r2 = db.reader();
    CHECK(&*r1 != &*r2);
    CHECK_THROWS_AS(r1->exec("INSERT INTO items(name) VALUES ('y')"), sqlite_error);
  }
  CHECK(count(db, "items") == 1);
  CHECK(db.healthy());
}

TEST_CASE("a reader left inside a transaction is closed, not pooled") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  {
    auto r = db.reader();
    r->exec("BEGIN");
    CHECK(count(db, "items") == 0);  // another reader: the stuck one is still leased
  }
  db.write().run([](tx& t) { t.conn.prepare("INSERT INTO items(name) VALUES ('x')").exec(); });
  auto again = db.reader();
  CHECK_FALSE(again->in_transaction());  // the pooled one (last returned) would be
  CHECK(count(db, "items") == 1);  // no reader sees an old snapshot
}

TEST_CASE("after stop, submissions fail with writer_stopped and queued work was committed") {
  medflow::test::temp_dir d;
  database db{opts(d)};
  db.migrate(migs);
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i)
    db.write().submit(
        [i](tx& t) {
          t.conn.prepare("INSERT INTO items(name) VALUES (?)").bind_all(std::to_string(i)).exec();
        },
        [&](std::exception_ptr e) {
          if (!e) done++;
        });
  db.close();
  CHECK(done == 50);
  CHECK(count(db, "items") == 50);
  CHECK_THROWS_AS(db.write().run([](tx&) {}), writer_stopped);
}
