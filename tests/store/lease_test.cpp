// Named leases (store/lease.hpp): one holder at a time, renewal, takeover after the expiry, a
// clean give-up; on PostgreSQL two instances (two databases, two writers) racing for the same
// leases never both get one. On SQLite the lease class is always held and writes nothing.
#include "store/lease.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <thread>
#include <vector>

using namespace medflow;
using namespace medflow::store;

namespace {

bool take(database& db, const std::string& name, const std::string& holder, int64_t now,
          int64_t ttl) {
  return db.write().run([&](tx& t) { return take_lease(t, name, holder, now, ttl); });
}

int64_t rows(database& db) {
  auto r = db.reader();
  auto q = r->prepare("SELECT count(*) FROM store_leases");
  REQUIRE(q.step());
  return q.int64(0);
}

}  // namespace

TEST_CASE("lease: one holder at a time, renewed by it, taken over once expired") {
  test::temp_dir dir;
  auto db = test::open_database(dir.file("t.db"), {lease_migrations()});
  CHECK(take(*db, "relay", "a", 1000, 500));   // free: a until 1500
  CHECK_FALSE(take(*db, "relay", "b", 1200, 500));
  CHECK(take(*db, "relay", "a", 1300, 500));   // renewed: a until 1800
  CHECK_FALSE(take(*db, "relay", "b", 1700, 500));  // past a's first expiry, not its renewal
  CHECK_FALSE(take(*db, "relay", "b", 1800, 500));  // until_ms itself still counts
  CHECK(take(*db, "relay", "b", 1801, 500));   // a died: b takes over
  CHECK_FALSE(take(*db, "relay", "a", 1900, 500));  // and a, back, does not get it
  CHECK(take(*db, "inbox", "a", 1900, 500));   // another lease is another row
  db->write().run([&](tx& t) { drop_lease(t, "relay", "a"); });  // not a's: nothing
  CHECK_FALSE(take(*db, "relay", "a", 1901, 500));
  db->write().run([&](tx& t) { drop_lease(t, "relay", "b"); });  // b stops cleanly
  CHECK(take(*db, "relay", "a", 1902, 500));   // at once, not after the expiry
}

TEST_CASE("lease: two instances racing for the same leases never both get one" *
          doctest::skip(!test::on_postgres())) {
  test::temp_dir dir;
  // Two instances: two databases on the same store, each its own writer connection.
  auto a = test::open_database(dir.file("t.db"), {lease_migrations()});
  auto b = test::open_database(dir.file("t.db"), {lease_migrations()});
  const int n = 200;
  std::vector<int> got_a(n), got_b(n);
  std::atomic<int> ready{0};
  auto racer = [&](database& db, const std::string& holder, std::vector<int>& got) {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    for (int i = 0; i < n; ++i) got[i] = take(db, "l" + std::to_string(i), holder, 1000, 60000);
  };
  std::thread ta(racer, std::ref(*a), "a", std::ref(got_a));
  std::thread tb(racer, std::ref(*b), "b", std::ref(got_b));
  ta.join();
  tb.join();
  int a_won = 0;
  for (int i = 0; i < n; ++i) {
    CHECK(got_a[i] + got_b[i] == 1);  // exactly one of them
    a_won += got_a[i];
  }
  CHECK(rows(*a) == n);
  MESSAGE("a won ", a_won, " of ", n);
}

TEST_CASE("lease: the lease class asks the store every third of its length") {
  test::temp_dir dir;
  auto db = test::open_database(dir.file("t.db"), {lease_migrations()});
  int64_t now = 10000;
  lease a{*db, "relay", 900, [&] { return now; }, "a"};
  lease b{*db, "relay", 900, [&] { return now; }, "b"};
  if (!test::on_postgres()) {
    // One instance: always held, and the store is never touched.
    CHECK(a.held());
    CHECK(b.held());
    CHECK(a.held_until() == std::numeric_limits<int64_t>::max());
    a.release();
    CHECK(rows(*db) == 0);
    return;
  }
  CHECK(a.held_until() == 0);  // not asked yet
  CHECK(a.held());        // taken until 10900
  CHECK(a.held_until() == 10900);
  CHECK_FALSE(b.held());  // b asks again at 10300
  CHECK(b.held_until() == 0);
  now = 10200;
  db->write().run([&](tx& t) { drop_lease(t, "relay", "a"); });  // behind a's back
  CHECK_FALSE(b.held());  // b's last answer holds until 10300
  CHECK(a.held());        // a's too, until 10300
  now = 10300;
  CHECK(b.held());        // the row was free: b takes it
  CHECK_FALSE(a.held());  // a learns it lost it at its next try
  // b dies (stops renewing): a takes over once b's 10300 + 900 passed.
  now = 10600;
  CHECK_FALSE(a.held());
  now = 11201;
  CHECK(a.held());
  CHECK(a.held_until() == 12101);
  a.release();            // a stops cleanly: b gets it at its next try
  CHECK(a.held_until() == 0);
  now = 11301;
  CHECK(b.held());
}
