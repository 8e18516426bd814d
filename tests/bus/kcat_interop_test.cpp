// Interoperability with a Kafka client that is not ours: the real kcat binary against an
// in-process mock cluster. kcat writes, kafka_log reads (keys, values, headers, and the
// partition a key lands on), and the other way round.
#include "bus/embedded_log.hpp"
#include "bus/kafka_log.hpp"

#include "core/murmur2.hpp"
#include "support/database.hpp"
#include "support/kafka_mock_cluster.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

using namespace medflow;
using namespace medflow::bus;
using namespace std::chrono_literals;

namespace {

std::optional<std::string> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::stringstream dirs{path};
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a shell command (bounded by `timeout`), capturing stdout and stderr.
run_result run(const std::string& command, const test::temp_dir& dir) {
  std::string err_file = dir.file("stderr.txt");
  std::string full = "timeout 30 " + command + " 2>" + err_file;
  run_result r;
  FILE* p = popen(full.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream e{err_file};
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  std::stringstream in{s};
  while (std::getline(in, cur, sep)) parts.push_back(cur);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

struct fixture {
  std::optional<std::string> kcat = find_on_path("kcat");
  test::kafka_mock_cluster cluster;
  test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<kafka_log> log;

  fixture() {
    db = test::open_database(dir.file("bus.db"), {embedded_log::migrations()});
    kafka_options k;
    k.brokers = cluster.bootstraps();
    k.group_id = "kcat-interop";
    k.linger_ms = 1;
    k.timeout_ms = 5000;
    log = std::make_unique<kafka_log>(k, *db);
  }
};

}  // namespace

TEST_CASE("kcat interop: records kcat produces read back with the same keys, headers, partitions") {
  fixture f;
  if (!f.kcat) {
    MESSAGE("kcat is not on PATH; skipping the interop test");
    return;
  }
  const std::string topic = "kcat.in";
  const int32_t partitions = 6;
  REQUIRE(f.cluster.create_topic(topic, partitions) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(f.cluster.create_topic("kafka_log.in", partitions) == RD_KAFKA_RESP_ERR_NO_ERROR);

  std::map<std::string, std::string> sent;  // key -> value
  {
    std::ofstream in{f.dir.file("input.txt")};
    for (int i = 0; i < 20; ++i) {
      std::string key = "patient-" + std::to_string(i);
      sent[key] = "{\"seq\":" + std::to_string(i) + "}";
      in << key << ':' << sent[key] << '\n';
    }
  }
  // kcat's default partitioner is consistent_random (CRC32); murmur2_random is the Java one.
  auto r = run(*f.kcat + " -P -q -b " + quote(f.cluster.bootstraps()) + " -t " + topic +
                   " -K: -H source=kcat -H dup=1 -H dup=2 -X partitioner=murmur2_random -l " +
                   quote(f.dir.file("input.txt")),
               f.dir);
  INFO("kcat stderr: ", r.err);
  REQUIRE(r.status == 0);

  std::map<std::string, int32_t> kcat_partition;
  for (int32_t p = 0; p < partitions; ++p) {
    size_t expected = 0;
    for (auto& [key, value] : sent) expected += kafka_partition(key, partitions) == p;
    std::vector<record> got;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (got.size() < expected && std::chrono::steady_clock::now() < deadline) {
      auto more = f.log->fetch(topic, p, static_cast<int64_t>(got.size()), 100);
      if (more.empty()) std::this_thread::sleep_for(5ms);
      for (auto& rec : more) got.push_back(std::move(rec));
    }
    CHECK(got.size() == expected);
    CHECK(f.log->end_offset(topic, p) == static_cast<int64_t>(expected));
    for (auto& rec : got) {
      REQUIRE(rec.key);
      INFO("key ", *rec.key);
      REQUIRE(sent.count(*rec.key) == 1);
      CHECK(rec.value == sent[*rec.key]);
      CHECK(rec.hdrs == headers{{"source", "kcat"}, {"dup", "1"}, {"dup", "2"}});
      CHECK(rec.timestamp_ms > 0);
      kcat_partition[*rec.key] = p;
    }
  }
  REQUIRE(kcat_partition.size() == sent.size());

  // kafka_log places the same keys exactly where kcat (the Java partitioner) did.
  std::vector<message> same;
  for (auto& [key, value] : sent) same.push_back({"kafka_log.in", key, value, {}, {}});
  auto pos = f.log->append(same);
  size_t i = 0;
  for (auto& [key, value] : sent) {
    INFO("key ", key);
    CHECK(pos[i].partition == kcat_partition[key]);
    CHECK(pos[i].partition == kafka_partition(key, partitions));
    ++i;
  }
}

TEST_CASE("kcat interop: kcat reads what kafka_log appends") {
  fixture f;
  if (!f.kcat) {
    MESSAGE("kcat is not on PATH; skipping the interop test");
    return;
  }
  const std::string topic = "kafka_log.out";
  REQUIRE(f.cluster.create_topic(topic, 3) == RD_KAFKA_RESP_ERR_NO_ERROR);
  headers h{{"h1", "v1"}, {"h1", "v2"}, {"trace", "abc"}};
  std::vector<message> msgs;
  for (int i = 0; i < 9; ++i)
    msgs.push_back({topic, "k-" + std::to_string(i), "value " + std::to_string(i), h, {}});
  msgs.push_back({topic, std::nullopt, "no key", {}, 1});
  auto pos = f.log->append(msgs);
  REQUIRE(pos.size() == msgs.size());

  std::map<int32_t, std::vector<size_t>> by_partition;  // partition -> message indexes
  for (size_t i = 0; i < pos.size(); ++i) by_partition[pos[i].partition].push_back(i);
  for (auto& [p, indexes] : by_partition) {
    // %K is the key length, -1 for a null key, so an empty and a missing key differ.
    auto r = run(*f.kcat + " -C -q -b " + quote(f.cluster.bootstraps()) + " -t " + topic + " -p " +
                     std::to_string(p) + " -o beginning -e -f '%o|%K|%k|%s|%h\\n'",
                 f.dir);
    INFO("partition ", p, ", kcat stderr: ", r.err);
    REQUIRE(r.status == 0);
    auto lines = split(r.out, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    REQUIRE(lines.size() == indexes.size());
    for (size_t j = 0; j < lines.size(); ++j) {
      const message& m = msgs[indexes[j]];
      auto fields = split(lines[j], '|');
      INFO("line: ", lines[j]);
      REQUIRE(fields.size() == 5);
      CHECK(fields[0] == std::to_string(pos[indexes[j]].offset));
      if (m.key) {
        CHECK(fields[1] == std::to_string(m.key->size()));
        CHECK(fields[2] == *m.key);
        CHECK(p == kafka_partition(*m.key, 3));
      } else {
        CHECK(fields[1] == "-1");
      }
      CHECK(fields[3] == m.value);
      CHECK(fields[4] == (m.hdrs.empty() ? "" : "h1=v1,h1=v2,trace=abc"));
    }
  }
}
