// One result file's way through a real local inbox: applied then moved to its outcome's
// folder, too large (stuck, never applied), an apply that fails (left), a file already gone,
// and a repeat after a crash between the recorded outcome and the move.
#include "flows/exams/local_inbox.hpp"
#include "flows/exams/results.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace {

using namespace medflow;
using namespace medflow::exams;
namespace fs = std::filesystem;

struct inbox_fixture {
  test::temp_dir dir;
  local_inbox box{[this] {
    local_inbox_options o;
    o.root = dir.file("inbox");
    return o;
  }()};

  fs::path at(const std::string& folder, const std::string& name) const {
    return fs::path(dir.file("inbox")) / "2026_12" / folder / name;
  }
  inbox_file put(const std::string& name, const std::string& data) {
    fs::create_directories(at("completed", "").parent_path());
    std::ofstream(at("completed", name), std::ios::binary) << data;
    return {"2026_12", name, folder::completed, data.size()};
  }
};

// An idempotent apply: the first call per key decides and records, later calls find it.
struct recording_apply {
  std::map<std::string, folder> recorded;
  std::map<std::string, std::string> bytes_seen;
  int decisions = 0;
  folder decide = folder::processed;
  apply_fn fn() {
    return [this](const std::string& key, std::string_view bytes) -> result<folder> {
      bytes_seen[key] = std::string(bytes);
      auto it = recorded.find(key);
      if (it != recorded.end()) return it->second;
      ++decisions;
      recorded[key] = decide;
      return decide;
    };
  }
};

}  // namespace

TEST_CASE("results: a file is applied under its key, then moved to its outcome's folder") {
  inbox_fixture f;
  recording_apply a;
  for (auto to : {folder::processed, folder::stuck, folder::denied, folder::deleted}) {
    a.decide = to;
    std::string name = "r" + std::to_string(static_cast<int>(to)) + ".json";
    auto file = f.put(name, "{\"n\":1}");
    auto out = process_result_file(f.box, file, 1024, a.fn());
    CHECK(out.what == file_outcome::kind::moved);
    CHECK(out.to == to);
    CHECK(a.bytes_seen.at("2026_12/" + name) == "{\"n\":1}");
    CHECK_FALSE(fs::exists(f.at("completed", name)));
    CHECK(fs::exists(f.at(folder_names{}.of(to), name)));
  }
}

TEST_CASE("results: a file over the byte cap goes to stuck without being applied") {
  inbox_fixture f;
  recording_apply a;
  auto file = f.put("big.json", std::string(2048, 'x'));
  auto out = process_result_file(f.box, file, 1024, a.fn());
  CHECK(out.what == file_outcome::kind::moved);
  CHECK(out.to == folder::stuck);
  CHECK(a.bytes_seen.empty());
  CHECK(fs::exists(f.at("stuck", "big.json")));
}

TEST_CASE("results: an apply that fails leaves the file in completed/") {
  inbox_fixture f;
  auto file = f.put("r.json", "{}");
  auto out = process_result_file(f.box, file, 1024, [](const std::string&, std::string_view)
                                                         -> result<folder> {
    return error::internal("database is locked");
  });
  CHECK(out.what == file_outcome::kind::left);
  CHECK(out.why == "database is locked");
  CHECK(fs::exists(f.at("completed", "r.json")));
}

TEST_CASE("results: a file no longer in completed/ is gone, and nothing is applied") {
  inbox_fixture f;
  recording_apply a;
  inbox_file ghost{"2026_12", "ghost.json", folder::completed, 0};
  auto out = process_result_file(f.box, ghost, 1024, a.fn());
  CHECK(out.what == file_outcome::kind::gone);
  CHECK(a.bytes_seen.empty());
}

TEST_CASE("results: after a crash between the record and the move, a repeat only moves") {
  inbox_fixture f;
  recording_apply a;
  auto file = f.put("r.json", "{}");
  // The first run recorded its outcome and died before the move.
  a.decide = folder::denied;
  REQUIRE(a.fn()("2026_12/r.json", "{}").ok());
  REQUIRE(a.decisions == 1);
  a.decide = folder::processed;  // what a fresh decision would say now: not asked again
  auto out = process_result_file(f.box, file, 1024, a.fn());
  CHECK(out.what == file_outcome::kind::moved);
  CHECK(out.to == folder::denied);
  CHECK(a.decisions == 1);
  CHECK(fs::exists(f.at("denied", "r.json")));
  CHECK_FALSE(fs::exists(f.at("completed", "r.json")));
}
