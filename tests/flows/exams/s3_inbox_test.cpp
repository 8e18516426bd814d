// The S3 results inbox against s3rver on loopback: the month walk and its pages, reads, moves
// (copy then delete), an interrupted move finished by repeating it, and polling.
#include "flows/exams/s3_inbox.hpp"

#include "support/s3rver.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace medflow;
using namespace medflow::exams;
using namespace std::chrono_literals;
using medflow::test::s3rver;

s3_inbox_options opts_for(const s3rver& server) {
  s3_inbox_options o;
  o.s3.endpoint = server.endpoint();
  o.s3.bucket = server.bucket();
  o.s3.access_key = s3rver::access_key;
  o.s3.secret_key = s3rver::secret_key;
  o.poll_interval_ms = 60000;
  return o;
}

s3::client raw(const s3rver& server) {
  return s3::client(opts_for(server).s3);
}

std::vector<std::string> walk(inbox& box, size_t per_page, int* pages = nullptr) {
  std::vector<std::string> seen;
  std::string cursor;
  int n = 0;
  do {
    auto page = box.list_completed(cursor, per_page);
    REQUIRE_MESSAGE(page.ok(), page.err().code, ": ", page.err().message);
    CHECK(page->files.size() <= per_page);
    for (auto& f : page->files) seen.push_back(f.month + "/" + f.name);
    cursor = page->next;
    ++n;
  } while (!cursor.empty() && n < 1000);
  if (pages) *pages = n;
  return seen;
}

}  // namespace

TEST_SUITE("s3_inbox") {
  TEST_CASE("lists completed/ of every month, in pages, and nothing else") {
    s3rver server;
    auto c = raw(server);
    std::vector<std::string> expected;
    for (std::string month : {"2025_11", "2025_12", "2026_01"}) {
      for (int i = 0; i < 7; ++i) {
        std::string name = "result " + std::to_string(i) + "+é.pdf";
        REQUIRE(c.put_object(month + "/completed/" + name, "r").ok());
        expected.push_back(month + "/" + name);
      }
      for (std::string other : {"processed", "stuck", "denied", "deleted", "attic"})
        REQUIRE(c.put_object(month + "/" + other + "/old.pdf", "o").ok());
    }
    // Outside the layout: ignored.
    REQUIRE(c.put_object("README.txt", "x").ok());
    REQUIRE(c.put_object("2026_August/completed/x.pdf", "x").ok());
    REQUIRE(c.put_object("2026_01/completed/sub/deeper.pdf", "x").ok());
    REQUIRE(c.put_object("completed/eyJhbGciOiJIUzI1NiJ9.x.y", "x").ok());  // the reference's keys

    s3_inbox box(opts_for(server));
    int pages = 0;
    CHECK(walk(box, 1000, &pages) == expected);
    CHECK(pages == 1);
    CHECK(walk(box, 5, &pages) == expected);
    CHECK(pages == 5);  // 21 files by 5
    CHECK(walk(box, 1) == expected);

    auto first = box.list_completed("", 1);
    REQUIRE(first.ok());
    CHECK(first->files[0].size == 1);
    CHECK(first->files[0].in == folder::completed);
    CHECK(*box.read(first->files[0], 10) == "r");
  }

  TEST_CASE("a small request budget ends pages early without losing files") {
    s3rver server;
    auto c = raw(server);
    std::vector<std::string> expected;
    for (int m = 1; m <= 9; ++m) {
      std::string month = "2024_0" + std::to_string(m);
      REQUIRE(c.put_object(month + "/processed/p.pdf", "x").ok());
      if (m % 3 == 0) {
        REQUIRE(c.put_object(month + "/completed/c.pdf", "x").ok());
        expected.push_back(month + "/c.pdf");
      }
    }
    auto o = opts_for(server);
    o.max_requests_per_page = 3;
    s3_inbox box(o);
    int pages = 0;
    CHECK(walk(box, 100, &pages) == expected);
    CHECK(pages > 3);
  }

  TEST_CASE("moves: copy then delete, repeated, interrupted, conflicting") {
    s3rver server;
    auto c = raw(server);
    auto o = opts_for(server);
    o.folders.processed = "done";
    s3_inbox box(o);
    REQUIRE(c.put_object("2026_02/completed/exam 1.pdf", "one").ok());
    auto page = box.list_completed("", 10);
    REQUIRE(page->files.size() == 1);
    auto f = page->files[0];

    REQUIRE(box.move(f, folder::processed).ok());
    CHECK(*c.get_object("2026_02/done/exam 1.pdf", 100) == "one");
    CHECK(c.head_object("2026_02/completed/exam 1.pdf").err().status == 404);
    CHECK(box.list_completed("", 10)->files.empty());
    CHECK(box.move(f, folder::processed).ok());  // repeated: nothing to do

    // A move interrupted after its copy (the delete failed): repeating it finishes it.
    REQUIRE(c.put_object("2026_02/completed/exam 2.pdf", "two").ok());
    REQUIRE(c.copy_object("2026_02/completed/exam 2.pdf", "2026_02/stuck/exam 2.pdf").ok());
    auto f2 = f;
    f2.name = "exam 2.pdf";
    REQUIRE(box.move(f2, folder::stuck).ok());
    CHECK(c.head_object("2026_02/completed/exam 2.pdf").err().status == 404);
    CHECK(*c.get_object("2026_02/stuck/exam 2.pdf", 100) == "two");

    // Another file of a name already processed is not overwritten.
    REQUIRE(c.put_object("2026_02/completed/exam 1.pdf", "another one").ok());
    auto conflict = box.move(f, folder::processed);
    REQUIRE_FALSE(conflict.ok());
    CHECK(conflict.err().code == "destination_exists");
    CHECK(*c.get_object("2026_02/done/exam 1.pdf", 100) == "one");
    CHECK(*c.get_object("2026_02/completed/exam 1.pdf", 100) == "another one");

    auto gone = f;
    gone.name = "never.pdf";
    CHECK(box.move(gone, folder::denied).err().code == "not_found");
    CHECK(box.read(gone, 10).err().code == "not_found");
    auto big = box.read(f, 5);
    REQUIRE_FALSE(big.ok());
    CHECK(big.err().code == "too_large");
    auto evil = f;
    evil.name = "../x";
    CHECK(box.move(evil, folder::denied).err().code == "bad_request");
  }

  TEST_CASE("polling: rescan_due every interval; wake() interrupts") {
    s3rver server;
    auto o = opts_for(server);
    o.poll_interval_ms = 200;
    s3_inbox box(o);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(box.wait_for_files(5s) == wake_reason::rescan_due);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 150ms);
    CHECK(took < 2s);
    CHECK(box.wait_for_files(10ms) == wake_reason::timed_out);
    std::thread waker([&] {
      std::this_thread::sleep_for(50ms);
      box.wake();
    });
    CHECK(box.wait_for_files(5s) == wake_reason::woken);
    waker.join();
    // An error of the bucket reaches the caller as a value.
    auto nb = o;
    nb.s3.bucket = "no-such-bucket";
    s3_inbox missing(nb);
    auto r = missing.list_completed("", 10);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "NoSuchBucket");
  }
}
