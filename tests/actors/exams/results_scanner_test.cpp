// results_scanner and its result workers on the deterministic scheduler, over an inbox in
// memory: files handed out in parallel and each handled once, pages, passes started by wake-ups
// (also during a pass), a failed listing retried after its backoff, a file left for the next
// pass, and a drain that finishes the files in hand.
#include "actors/exams/results_scanner.hpp"

#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

// Files by month/name, with the folder each is in.
struct memory_inbox : exams::inbox {
  std::map<std::string, exams::folder> files;  // "2026_12/a.json" -> folder
  int lists = 0;
  int fail_lists = 0;
  std::vector<std::string> moves;  // "key->folder"

  void add(const std::string& name, const std::string& month = "2026_12") {
    files[month + "/" + name] = exams::folder::completed;
  }
  size_t in(exams::folder f) const {
    size_t n = 0;
    for (auto& [k, v] : files) n += v == f;
    return n;
  }

  result<exams::inbox_page> list_completed(const std::string& cursor, size_t max) override {
    ++lists;
    if (fail_lists > 0) {
      --fail_lists;
      return error::internal("s3: connect_failed");
    }
    exams::inbox_page p;
    for (auto it = files.upper_bound(cursor); it != files.end(); ++it) {
      if (it->second != exams::folder::completed) continue;
      if (p.files.size() == max) {
        p.next = p.files.back().month + "/" + p.files.back().name;
        break;
      }
      auto slash = it->first.find('/');
      p.files.push_back({it->first.substr(0, slash), it->first.substr(slash + 1),
                         exams::folder::completed, 2});
    }
    return p;
  }
  result<std::string> read(const exams::inbox_file& f, size_t) override {
    auto it = files.find(exams::result_key(f));
    if (it == files.end() || it->second != exams::folder::completed)
      return error{404, "not_found", "gone", {}};
    return std::string("{}");
  }
  status move(const exams::inbox_file& f, exams::folder to) override {
    auto key = exams::result_key(f);
    files[key] = to;
    moves.push_back(key + "->" + std::to_string(static_cast<int>(to)));
    return ok_status();
  }
  exams::wake_reason wait_for_files(std::chrono::milliseconds) override {
    return exams::wake_reason::timed_out;
  }
  void wake() override {}
};

struct scanner_fixture : test::actor_fixture {
  std::shared_ptr<memory_inbox> box = std::make_shared<memory_inbox>();
  std::map<std::string, int> applied;  // key -> calls
  std::set<std::string> failing;       // keys whose apply fails
  caf::actor scanner;

  void start(size_t workers = 3, size_t page = 1000) {
    results_settings s;
    s.workers = workers;
    s.page_files = page;
    s.detached_workers = false;
    s.watch = false;
    s.list_retry_initial = 1000ms;
    s.list_retry_max = 4000ms;
    scanner = sys->spawn(results_scanner, std::static_pointer_cast<exams::inbox>(box),
                         exams::apply_fn([this](const std::string& key, std::string_view)
                                             -> result<exams::folder> {
                           ++applied[key];
                           if (failing.count(key)) return error::internal("database is locked");
                           return key.find("revoked") != std::string::npos
                                      ? exams::folder::deleted
                                      : exams::folder::processed;
                         }),
                         s);
    run();
  }
  results_scanner_state& st() { return state_of<results_scanner_state>(scanner); }
};

}  // namespace

TEST_CASE("results_scanner: files waiting at start are each handled once, in parallel") {
  scanner_fixture f;
  for (int i = 0; i < 10; ++i) f.box->add("r" + std::to_string(i) + ".json");
  f.box->add("revoked.json");
  f.start(3);
  CHECK(f.box->in(exams::folder::completed) == 0);
  CHECK(f.box->in(exams::folder::processed) == 10);
  CHECK(f.box->in(exams::folder::deleted) == 1);
  CHECK(f.applied.size() == 11);
  for (auto& [k, n] : f.applied) CHECK(n == 1);
  CHECK(f.st().handled == 11);
  CHECK(f.st().in_hand.empty());
  CHECK(f.st().idle.size() == 3);
}

TEST_CASE("results_scanner: a pass goes through every page") {
  scanner_fixture f;
  for (int i = 0; i < 7; ++i) f.box->add("r" + std::to_string(i) + ".json", "2026_11");
  for (int i = 0; i < 5; ++i) f.box->add("r" + std::to_string(i) + ".json", "2026_12");
  f.start(2, 3);
  CHECK(f.box->in(exams::folder::processed) == 12);
  CHECK(f.box->lists >= 4);  // 12 files, 3 per page
  CHECK(f.st().passes == 1);
}

TEST_CASE("results_scanner: a wake-up starts a pass; one during a pass starts another after it") {
  scanner_fixture f;
  f.start(2);
  CHECK(f.box->lists == 1);  // the start-up pass found nothing
  f.box->add("a.json");
  f.run();
  CHECK(f.box->in(exams::folder::completed) == 1);  // nobody said anything arrived
  caf::anon_send(f.scanner, wake_atom::value);
  f.run();
  CHECK(f.box->in(exams::folder::processed) == 1);
  CHECK(f.st().passes == 2);

  // Two wake-ups while files are being handled: one more pass, not two.
  for (int i = 0; i < 4; ++i) f.box->add("b" + std::to_string(i) + ".json");
  caf::anon_send(f.scanner, wake_atom::value);
  caf::anon_send(f.scanner, wake_atom::value);
  f.run();
  CHECK(f.box->in(exams::folder::processed) == 5);
  CHECK(f.st().passes == 4);
  CHECK(f.st().handled == 5);
}

TEST_CASE("results_scanner: a failed listing is retried after a growing backoff") {
  scanner_fixture f;
  f.box->add("a.json");
  f.box->fail_lists = 2;
  f.start(1);
  CHECK(f.box->lists == 1);
  CHECK(f.box->in(exams::folder::completed) == 1);
  f.advance(999ms);
  CHECK(f.box->lists == 1);
  f.advance(1ms);
  CHECK(f.box->lists == 2);  // failed again: next in 2 s
  f.advance(1999ms);
  CHECK(f.box->lists == 2);
  f.advance(1ms);
  CHECK(f.box->in(exams::folder::processed) == 1);
  CHECK(f.st().retry_delay.count() == 0);
}

TEST_CASE("results_scanner: a file whose apply fails stays in completed/ for the next pass") {
  scanner_fixture f;
  f.box->add("a.json");
  f.box->add("b.json");
  f.failing.insert("2026_12/a.json");
  f.start(2);
  CHECK(f.box->in(exams::folder::completed) == 1);
  CHECK(f.box->in(exams::folder::processed) == 1);
  CHECK(f.st().left == 1);
  CHECK(f.applied["2026_12/a.json"] == 1);  // not retried in a loop
  f.failing.clear();
  caf::anon_send(f.scanner, wake_atom::value);
  f.run();
  CHECK(f.box->in(exams::folder::processed) == 2);
  CHECK(f.applied["2026_12/a.json"] == 2);
}

TEST_CASE("results_scanner: drain stops it once the files in hand are done") {
  scanner_fixture f;
  f.start(2);
  auto rec = f.watch(f.scanner);
  for (int i = 0; i < 6; ++i) f.box->add("r" + std::to_string(i) + ".json");
  caf::anon_send(f.scanner, wake_atom::value);
  caf::anon_send(f.scanner, drain_atom::value);
  f.run();
  CHECK(rec->exited);
  // The files handed out before the drain are done; the rest wait for the next start, intact.
  CHECK(f.box->in(exams::folder::processed) + f.box->in(exams::folder::completed) == 6);
  for (auto& [k, n] : f.applied) CHECK(n == 1);
}
