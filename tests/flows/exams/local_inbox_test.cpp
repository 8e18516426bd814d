// The local results inbox on a temporary directory: files appearing (renamed in, closed after
// writing, still being written), months appearing, pages, reads, moves and repeated moves.
#include "flows/exams/local_inbox.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace medflow;
using namespace medflow::exams;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

// The atomic way a producer should deliver: write a dot file, rename it into place.
void deliver(const fs::path& dir, const std::string& name, const std::string& data) {
  fs::create_directories(dir);
  write_file(dir / ("." + name + ".part"), data);
  fs::rename(dir / ("." + name + ".part"), dir / name);
}

std::vector<std::string> names_of(const inbox_page& p) {
  std::vector<std::string> v;
  for (auto& f : p.files) v.push_back(f.month + "/" + f.name);
  return v;
}

local_inbox_options opts_for(const test::temp_dir& dir, int64_t settle_ms = 60000) {
  local_inbox_options o;
  o.root = dir.file("inbox");
  o.settle_ms = settle_ms;
  o.rescan_interval_ms = 60000;
  return o;
}

// Waits for files_arrived (or fails after 5 s).
bool arrives(inbox& box) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until)
    if (box.wait_for_files(200ms) == wake_reason::files_arrived) return true;
  return false;
}

}  // namespace

TEST_SUITE("local_inbox") {
  TEST_CASE("names and folders") {
    CHECK(is_month("2026_01"));
    CHECK(is_month("1999_12"));
    CHECK_FALSE(is_month("2026_13"));
    CHECK_FALSE(is_month("2026_00"));
    CHECK_FALSE(is_month("2026-01"));
    CHECK_FALSE(is_month("2026_August"));
    CHECK(is_file_name("result 1+2 é.pdf"));
    CHECK_FALSE(is_file_name("../etc/passwd"));
    CHECK_FALSE(is_file_name(".."));
    CHECK_FALSE(is_file_name(""));
    folder_names same;
    same.stuck = "completed";
    CHECK_FALSE(same.validate().ok());
    folder_names slash;
    slash.denied = "a/b";
    CHECK_FALSE(slash.validate().ok());
    CHECK(folder_names{}.validate().ok());
  }

  TEST_CASE("files renamed in or closed after writing arrive; a file being written does not") {
    test::temp_dir dir;
    local_inbox box(opts_for(dir));
    fs::path completed = fs::path(dir.file("inbox")) / "2026_01" / "completed";
    fs::create_directories(completed);
    CHECK(arrives(box));  // the new month and its completed/ folder
    CHECK(box.list_completed("", 100)->files.empty());

    deliver(completed, "a.pdf", "result a");
    CHECK(arrives(box));
    auto page = box.list_completed("", 100);
    REQUIRE(page.ok());
    CHECK(names_of(*page) == std::vector<std::string>{"2026_01/a.pdf"});
    CHECK(page->files[0].size == 8);
    CHECK(page->next.empty());

    // Open for writing and not closed: not listed (settle_ms is a minute).
    int fd = open((completed / "b.pdf").c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "part", 4) == 4);
    CHECK(names_of(*box.list_completed("", 100)) == std::vector<std::string>{"2026_01/a.pdf"});
    REQUIRE(write(fd, "-rest", 5) == 5);
    close(fd);  // IN_CLOSE_WRITE
    CHECK(arrives(box));
    page = box.list_completed("", 100);
    CHECK(names_of(*page) == std::vector<std::string>{"2026_01/a.pdf", "2026_01/b.pdf"});
    CHECK(page->files[1].size == 9);
    CHECK(*box.read(page->files[1], 100) == "part-rest");
  }

  TEST_CASE("months appearing after start, and files put in before the watch") {
    test::temp_dir dir;
    local_inbox box(opts_for(dir));
    fs::path root = dir.file("inbox");
    // A whole month moved in at once: its files were never seen by a watch, so they count
    // when settled (here: an old mtime), like files from before start-up.
    fs::path staging = dir.file("staging");
    write_file(staging / "2026_03" / "completed" / "old.pdf", "x");
    fs::last_write_time(staging / "2026_03" / "completed" / "old.pdf",
                        fs::file_time_type::clock::now() - std::chrono::hours(1));
    fs::rename(staging / "2026_03", root / "2026_03");
    CHECK(arrives(box));
    CHECK(names_of(*box.list_completed("", 10)) == std::vector<std::string>{"2026_03/old.pdf"});

    // A new month, then its completed/ folder, then a file: each step is watched.
    fs::create_directory(root / "2026_02");
    CHECK(arrives(box));
    fs::create_directory(root / "2026_02" / "completed");
    CHECK(arrives(box));
    deliver(root / "2026_02" / "completed", "feb.pdf", "f");
    CHECK(arrives(box));
    CHECK(names_of(*box.list_completed("", 10)) ==
          std::vector<std::string>{"2026_02/feb.pdf", "2026_03/old.pdf"});
    // Not the layout: ignored.
    write_file(root / "2026_August" / "completed" / "x.pdf", "x");
    write_file(root / "2026_02" / "completed" / ".hidden", "x");
    fs::create_directory(root / "2026_02" / "completed" / "subdir");
    CHECK(box.list_completed("", 10)->files.size() == 2);
  }

  TEST_CASE("settled files are found by a rescan without any event") {
    test::temp_dir dir;
    auto o = opts_for(dir, 50);
    o.rescan_interval_ms = 200;
    fs::path completed = fs::path(o.root) / "2026_05" / "completed";
    fs::create_directories(completed);
    local_inbox box(o);
    // A hard link makes IN_CREATE only: no event says the file is complete.
    write_file(dir.file("elsewhere.pdf"), "linked");
    REQUIRE(link(dir.file("elsewhere.pdf").c_str(), (completed / "linked.pdf").c_str()) == 0);
    auto t0 = std::chrono::steady_clock::now();
    auto reason = box.wait_for_files(5s);
    CHECK(reason == wake_reason::rescan_due);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    std::this_thread::sleep_for(100ms);  // past settle_ms
    CHECK(names_of(*box.list_completed("", 10)) == std::vector<std::string>{"2026_05/linked.pdf"});
  }

  TEST_CASE("pages over several months, in order") {
    test::temp_dir dir;
    auto o = opts_for(dir, 0);
    fs::path root = o.root;
    std::vector<std::string> expected;
    for (int m = 1; m <= 3; ++m)
      for (int i = 0; i < 9; ++i) {
        std::string month = "2025_0" + std::to_string(m), name = "r" + std::to_string(i) + ".pdf";
        write_file(root / month / "completed" / name, name);
        write_file(root / month / "processed" / ("done" + name), "x");
        expected.push_back(month + "/" + name);
      }
    local_inbox box(o);
    std::vector<std::string> seen;
    std::string cursor;
    int pages = 0;
    do {
      auto page = box.list_completed(cursor, 10);
      REQUIRE(page.ok());
      CHECK(page->files.size() <= 10);
      for (auto& n : names_of(*page)) seen.push_back(n);
      cursor = page->next;
      ++pages;
    } while (!cursor.empty() && pages < 10);
    CHECK(seen == expected);
    CHECK(pages == 3);
    CHECK_FALSE(box.list_completed("", 0).ok());
    CHECK_FALSE(box.list_completed("", 1001).ok());
    CHECK_FALSE(box.list_completed("nonsense", 10).ok());
  }

  TEST_CASE("reads are capped; moves are atomic renames, safe to repeat") {
    test::temp_dir dir;
    auto o = opts_for(dir, 0);
    o.folders.processed = "done";  // configured names
    fs::path root = o.root;
    write_file(root / "2026_01" / "completed" / "a b+c.pdf", std::string(1000, 'a'));
    local_inbox box(o);
    auto page = box.list_completed("", 10);
    REQUIRE(page->files.size() == 1);
    auto f = page->files[0];

    auto big = box.read(f, 999);
    REQUIRE_FALSE(big.ok());
    CHECK(big.err().code == "too_large");
    CHECK(box.read(f, 1000)->size() == 1000);

    REQUIRE(box.move(f, folder::processed).ok());
    CHECK(fs::exists(root / "2026_01" / "done" / "a b+c.pdf"));
    CHECK_FALSE(fs::exists(root / "2026_01" / "completed" / "a b+c.pdf"));
    CHECK(box.list_completed("", 10)->files.empty());
    // The same move again (a worker restarted after moving): success, nothing changes.
    CHECK(box.move(f, folder::processed).ok());
    CHECK(fs::exists(root / "2026_01" / "done" / "a b+c.pdf"));
    // Read it where it is now.
    auto moved = f;
    moved.in = folder::processed;
    CHECK(box.read(moved, 1000)->size() == 1000);

    // Another file of the same name arrives later: it does not overwrite the first.
    write_file(root / "2026_01" / "completed" / "a b+c.pdf", "second");
    auto second = box.move(f, folder::processed);
    REQUIRE_FALSE(second.ok());
    CHECK(second.err().code == "destination_exists");
    CHECK(fs::file_size(root / "2026_01" / "done" / "a b+c.pdf") == 1000);
    CHECK(box.move(f, folder::stuck).ok());
    CHECK(fs::exists(root / "2026_01" / "stuck" / "a b+c.pdf"));

    auto gone = f;
    gone.name = "never.pdf";
    CHECK(box.move(gone, folder::denied).err().code == "not_found");
    CHECK(box.read(gone, 10).err().code == "not_found");
    auto evil = f;
    evil.name = "../../../etc/passwd";
    CHECK(box.read(evil, 10).err().code == "bad_request");
    CHECK(box.move(evil, folder::deleted).err().code == "bad_request");
    evil = f;
    evil.month = "../x";
    CHECK(box.read(evil, 10).err().code == "bad_request");
  }

  TEST_CASE("each move fsyncs both directories; concurrent moves share the fsyncs") {
    test::temp_dir dir;
    auto o = opts_for(dir, 0);
    fs::path root = o.root;
    constexpr int threads = 8, per_thread = 40;
    for (int i = 0; i < threads * per_thread; ++i)
      write_file(root / "2026_02" / "completed" / ("r" + std::to_string(i) + ".pdf"), "x");
    fs::create_directories(root / "2026_02" / "processed");
    local_inbox box(o);

    // One move alone: its own fsync of each directory; a repeat (after a crash, say) fsyncs the
    // month and both directories again before it says done.
    inbox_file first{"2026_02", "r0.pdf", folder::completed, 1};
    uint64_t before = box.directory_fsyncs();
    REQUIRE(box.move(first, folder::processed).ok());
    CHECK(box.directory_fsyncs() - before == 2);
    REQUIRE(box.move(first, folder::processed).ok());
    CHECK(box.directory_fsyncs() - before == 5);

    // Many workers at once: every move succeeds, no file is lost, never more than 2 fsyncs a move.
    before = box.directory_fsyncs();
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          int n = t * per_thread + i;
          if (n == 0) continue;
          inbox_file f{"2026_02", "r" + std::to_string(n) + ".pdf", folder::completed, 1};
          if (!box.move(f, folder::processed).ok()) ++failures;
        }
      });
    for (auto& w : workers) w.join();
    CHECK(failures.load() == 0);
    int moved = 0;
    for (auto& e : fs::directory_iterator(root / "2026_02" / "processed")) moved += e.is_regular_file();
    CHECK(moved == threads * per_thread);
    CHECK(fs::is_empty(root / "2026_02" / "completed"));
    uint64_t fsyncs = box.directory_fsyncs() - before;
    CHECK(fsyncs >= 2);
    CHECK(fsyncs <= 2 * (threads * per_thread - 1));
    std::string note = std::to_string(threads * per_thread - 1) + " concurrent moves ran " +
                       std::to_string(fsyncs) + " directory fsyncs";
    MESSAGE(note);
  }

  TEST_CASE("wake() interrupts a wait; a quiet wait times out") {
    test::temp_dir dir;
    local_inbox box(opts_for(dir));
    CHECK(box.wait_for_files(50ms) == wake_reason::timed_out);
    std::thread waker([&] {
      std::this_thread::sleep_for(100ms);
      box.wake();
    });
    auto t0 = std::chrono::steady_clock::now();
    CHECK(box.wait_for_files(10s) == wake_reason::woken);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    waker.join();
  }
}
