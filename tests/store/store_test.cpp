#include "store/database.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
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

// -- storage honesty: damage, identity, a full disk ---------------------------------------------

namespace {
void fill_items(database& db, int n) {
  db.migrate(migs);
  db.write().run([&](tx& t) {
    for (int i = 0; i < n; ++i)
      t.conn.prepare("INSERT INTO items(name, size) VALUES (?, ?)")
          .bind_all("item " + std::to_string(i) + std::string(200, 'x'), i)
          .exec();
  });
}

// Overwrites `bytes` in the middle of the file with a pattern that is no valid page.
void damage_middle(const std::string& path, size_t bytes) {
  auto size = std::filesystem::file_size(path);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
  std::string garbage(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) garbage[i] = static_cast<char>((i * 7919 + 13) & 0xff);
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

std::string refusal(const database::options& o) {
  try {
    database db{o};
  } catch (const unusable_database& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a damaged file is refused at open when the check is on, naming the file") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  {
    database db{o};
    fill_items(db, 20000);
  }
  REQUIRE(std::filesystem::file_size(o.path) > 1 << 20);
  damage_middle(o.path, 64 * 1024);
  o.check = database::integrity_check::quick;
  auto why = refusal(o);
  CHECK(why.find("database " + o.path + " is damaged") != std::string::npos);
  CHECK(why.find("quick_check") != std::string::npos);
  CHECK(why.find("restore " + o.path + " from a backup") != std::string::npos);
  o.check = database::integrity_check::full;
  CHECK(refusal(o).find("integrity_check") != std::string::npos);
}

TEST_CASE("a sound file passes the start-up check and keeps its data") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  {
    database db{o};
    fill_items(db, 1000);
  }
  o.check = database::integrity_check::quick;
  database db{o};
  CHECK(count(db, "items") == 1000);
}

TEST_CASE("a file that is not a database is refused as damaged") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  {
    std::ofstream f(o.path, std::ios::binary);
    f << std::string(8192, 'z');
  }
  o.check = database::integrity_check::quick;
  CHECK(refusal(o).find("database " + o.path + " is damaged") != std::string::npos);
}

TEST_CASE("the identity marker: written once, and an empty or another database is refused") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  o.identity_marker = true;
  auto marker = database::marker_path(o.path);
  std::string id;
  {
    database db{o};
    id = db.identity();
    CHECK(id.size() == 36);
    fill_items(db, 10);
  }
  REQUIRE(std::filesystem::exists(marker));
  {
    std::ifstream in(marker);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find(id) != std::string::npos);
  }
  {
    database db{o};  // the same database: fine
    CHECK(db.identity() == id);
    CHECK(count(db, "items") == 10);
  }
  std::filesystem::copy_file(o.path, d.file("backup.db"));

  SUBCASE("truncated to zero") {
    std::filesystem::resize_file(o.path, 0);
    auto why = refusal(o);
    CHECK(why.find("database " + o.path + " is empty, but " + marker + " says it held database " +
                   id) != std::string::npos);
    CHECK(std::filesystem::file_size(o.path) == 0);  // nothing written to it
    // The documented recovery: restore the backup.
    std::filesystem::copy_file(d.file("backup.db"), o.path,
                               std::filesystem::copy_options::overwrite_existing);
    database db{o};
    CHECK(count(db, "items") == 10);
  }
  SUBCASE("deleted") {
    std::filesystem::remove(o.path);
    CHECK(refusal(o).find("is empty") != std::string::npos);
  }
  SUBCASE("another database") {
    medflow::test::temp_dir other;
    auto oo = opts(other);
    oo.identity_marker = true;
    std::string other_id;
    {
      database db{oo};
      other_id = db.identity();
    }
    std::filesystem::copy_file(oo.path, o.path, std::filesystem::copy_options::overwrite_existing);
    auto why = refusal(o);
    CHECK(why.find("is database " + other_id + ", but " + marker) != std::string::npos);
    CHECK(why.find("delete " + marker) != std::string::npos);
    // Deleting the marker on purpose adopts the database that is there.
    std::filesystem::remove(marker);
    database db{o};
    CHECK(db.identity() == other_id);
  }
  SUBCASE("a database without identity (an older one put in place)") {
    medflow::test::temp_dir other;
    {
      database db{opts(other)};
      fill_items(db, 1);
    }
    std::filesystem::copy_file(opts(other).path, o.path,
                               std::filesystem::copy_options::overwrite_existing);
    CHECK(refusal(o).find("has no identity") != std::string::npos);
  }
}

TEST_CASE("a full disk: units fail with storage_full (507), unwritable until space returns") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  // A transaction-only probe (no space file), late enough to see the state before it runs.
  o.probe.interval = std::chrono::milliseconds(500);
  database db{o};
  db.migrate(migs);
  CHECK(db.unwritable().empty());
  // max_page_count makes SQLite answer SQLITE_FULL as a full disk does.
  int64_t pages = 0;
  db.write().run([&](tx& t) {
    auto q = t.conn.prepare("PRAGMA page_count");
    REQUIRE(q.step());
    pages = q.int64(0);
  });
  db.write().run([&](tx& t) { t.conn.exec("PRAGMA max_page_count=" + std::to_string(pages + 8)); });
  int status = 0;
  std::string message;
  for (int i = 0; i < 100 && status == 0; ++i) {
    try {
      db.write().run([&](tx& t) {
        t.conn.prepare("INSERT INTO items(name) VALUES (?)")
            .bind_all(std::to_string(i) + std::string(4000, 'y'))
            .exec();
      });
    } catch (const storage_full& e) {
      status = e.err().status;
      message = e.err().message;
    }
  }
  CHECK(status == 507);
  CHECK(message.find("disk of the database is full") != std::string::npos);
  CHECK(db.unwritable().find("full") != std::string::npos);
  auto before = count(db, "items");
  CHECK(before > 0);  // what was acknowledged is there
  // Space returns: the writer finds out by itself.
  db.write().run([&](tx& t) { t.conn.exec("PRAGMA max_page_count=1000000"); });
  for (int i = 0; i < 300 && !db.unwritable().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(db.unwritable().empty());
  db.write().run([&](tx& t) {
    t.conn.prepare("INSERT INTO items(name) VALUES ('after')").exec();
  });
  CHECK(count(db, "items") == before + 1);
}

TEST_CASE("a full disk: the probe needs the configured space beside the database") {
  medflow::test::temp_dir d;
  auto o = opts(d);
  o.probe.interval = std::chrono::milliseconds(20);
  // A space file in a directory that does not exist cannot be allocated: the store stays
  // unwritable although SQLite could write again.
  o.probe.space_file = d.file("missing/probe");
  database db{o};
  db.migrate(migs);
  db.write().run([&](tx& t) { t.conn.exec("PRAGMA max_page_count=1"); });
  CHECK_THROWS_AS(db.write().run([&](tx& t) {
    t.conn.prepare("INSERT INTO items(name) VALUES (?)").bind_all(std::string(8000, 'z')).exec();
  }),
                  storage_full);
  db.write().run([&](tx& t) { t.conn.exec("PRAGMA max_page_count=1000000"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  // Several probes ran and failed: still unwritable, with the reason of the failure.
  CHECK(db.unwritable().find("disk of the database is full") != std::string::npos);
}
