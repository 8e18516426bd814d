// me_bench: medical events end to end over HTTP against a running medflowd: jobs/s accepted
// (202) and processed, and the latency from a job's submit (client clock) to its processed
// commit (the job row's updated_at, same machine clock), with /healthz requests/s measured in
// the same run as the ceiling. See bench/medical_events.sh and bench/README.md.
//
// usage: me_bench URL DB [--patients N] [--connections C] [--seconds S] [--rate R] [--history H]
//   --rate 0 (default) sends as fast as the connections allow; R > 0 paces to R jobs/s.
//   --history H (default 1): each patient has H episodes before the measured phase (created
//   through the API like the first); the jobs rename the first one, as with H = 1, so the
//   figure shows what a patient's history costs each job (issue 20).
//   --pid P: medflowd's process id; the CPU time it used (user + system, /proc/P/stat) from the
//   first job submitted to the last one processed is printed per job, a figure that moves far
//   less with the machine's load than jobs/s do.
#include "bench_util.hpp"
#include "core/clock.hpp"
#include "store/database.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>

using json = nlohmann::json;
using namespace medflow;
using bench::pct;

namespace {

struct options {
  std::string host;
  int port = 0;
  std::string db;
  int patients = 2000;
  int connections = 32;
  int seconds = 20;
  int rate = 0;
  int history = 1;
  int pid = 0;
};

// CPU seconds (user + system) process `pid` used so far; 0 when it cannot be read.
double cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[2048];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (in parentheses, may hold spaces): utime and stime are the
  // 14th and 15th fields of the line.
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

const std::string user = "bench-user";
const std::string le = "11111111-1111-4111-8111-111111111111";
const std::string doctor = "22222222-2222-4222-8222-222222222222";

std::string id_for(char prefix, int i) {
  char b[40];
  std::snprintf(b, sizeof b, "%c0000000-0000-4000-8000-%012d", prefix, i);
  return b;
}

json ref(const std::string& code, const std::string& value) {
  return {{"identifier", {{"type", {{"coding", {{{"system", "eHealth/resources"}, {"code", code}}}}}},
                          {"value", value}}}};
}

// The body of an episode create: the same for every patient but the episode id.
json episode_body(const std::string& id) {
  return {{"id", id},
          {"type", {{"system", "eHealth/episode_types"}, {"code", "primary_care"}}},
          {"status", "active"},
          {"name", "name 0"},
          {"managing_organization", ref("legal_entity", le)},
          {"period", {{"start", clock::date(clock::now_ms())}}},
          {"care_manager", ref("employee", doctor)}};
}

httplib::Client keep_alive_client(const options& o) { return bench::keep_alive_client(o.host, o.port); }

// medflowd's database: the SQLite file, or a PostgreSQL URL (postgresql://...).
store::database::options database_at(const std::string& db) {
  store::database::options dbo;
  if (db.rfind("postgres", 0) == 0) {
    dbo.kind = store::backend::postgres;
    dbo.pg.url = db;
  } else {
    dbo.path = db;
  }
  return dbo;
}

// Polls medflowd's database until no job is pending.
void wait_until_processed(const std::string& db_path) {
  store::database db{database_at(db_path)};
  for (;;) {
    auto rd = db.reader();
    auto q = rd->prepare("SELECT count(*) FROM me_jobs WHERE status=0");
    q.step();
    if (q.int64(0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

httplib::Headers headers() {
  return {{"x-consumer-id", user}, {"x-consumer-metadata", "{\"client_id\":\"" + le + "\"}"}};
}

double healthz_ceiling(const options& o, int secs) {
  std::atomic<long> n{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int c = 0; c < o.connections; ++c)
    ts.emplace_back([&] {
      auto cli = keep_alive_client(o);
      while (!stop)
        if (auto r = cli.Get("/healthz"); r && r->status == 200) ++n;
    });
  std::this_thread::sleep_for(std::chrono::seconds(secs));
  stop = true;
  for (auto& t : ts) t.join();
  return static_cast<double>(n) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  bench::command_line args(
      argc, argv, 2, {"--patients", "--connections", "--seconds", "--rate", "--history", "--pid"},
      "me_bench URL DB [--patients N] [--connections C] [--seconds S] [--rate R] [--history H] "
      "[--pid P]");
  options o;
  auto ep = args.url(0);
  o.host = ep.host;
  o.port = ep.port;
  o.db = args.positional(1);
  o.patients = args.integer("--patients", o.patients);
  o.connections = args.integer("--connections", o.connections);
  o.seconds = args.integer("--seconds", o.seconds);
  o.rate = args.integer("--rate", o.rate);
  o.history = std::max(1, args.integer("--history", o.history));
  o.pid = args.integer("--pid", 0);

  // Registries.
  {
    httplib::Client cli(o.host, o.port);
    cli.Put(("/admin/legal_entities/" + le).c_str(), json{{"status", "ACTIVE"}}.dump(), "application/json");
    cli.Put(("/admin/employees/" + doctor).c_str(),
            json{{"legal_entity_id", le}, {"employee_type", "DOCTOR"}, {"status", "APPROVED"}, {"user_id", user}}.dump(),
            "application/json");
    for (int i = 0; i < o.patients; ++i)
      cli.Put(("/admin/persons/" + id_for('0', i)).c_str(), json{{"status", "active"}}.dump(), "application/json");
  }

  // Every patient's episodes exist before the measured phase (updates need the first one):
  // episode h of patient i has the id 'e' + i for h = 0, else 'd' + (h * patients + i).
  {
    auto t0 = clock::now_us();
    std::atomic<long> failed{0};
    std::vector<std::thread> ts;
    for (int c = 0; c < o.connections; ++c)
      ts.emplace_back([&, c] {
        auto cli = keep_alive_client(o);
        for (int h = 0; h < o.history; ++h)
          for (int i = c; i < o.patients; i += o.connections) {
            auto eid = h == 0 ? id_for('e', i) : id_for('d', h * o.patients + i);
            auto r = cli.Post(("/api/patients/" + id_for('0', i) + "/episodes").c_str(), headers(),
                              episode_body(eid).dump(), "application/json");
            if (!r || r->status != 202) ++failed;
          }
      });
    for (auto& t : ts) t.join();
    wait_until_processed(o.db);
    if (failed > 0) std::fprintf(stderr, "set-up: %ld episode creates refused\n", failed.load());
    if (o.history > 1)
      std::printf("set-up: %d episodes per patient, %ld created in %.1f s\n", o.history,
                  static_cast<long>(o.history) * o.patients,
                  static_cast<double>(clock::now_us() - t0) / 1e6);
  }

  double ceiling = healthz_ceiling(o, 5);

  // Jobs: each connection owns patients i % C == c and renames their episodes in turn.
  std::mutex sent_mutex;
  std::map<std::string, int64_t> sent_us;  // job id -> client send time
  std::atomic<long> accepted{0}, refused{0};
  std::atomic<bool> stop{false};
  // Said (and flushed) as the measured phase starts: bench/profile.sh samples from here on.
  std::printf("jobs: started\n");
  std::fflush(stdout);
  auto start_us = clock::now_us();
  double cpu_start = cpu_seconds(o.pid);
  double per_conn_interval_us = o.rate > 0 ? 1e6 * o.connections / o.rate : 0;
  std::vector<std::thread> ts;
  for (int c = 0; c < o.connections; ++c)
    ts.emplace_back([&, c] {
      auto cli = keep_alive_client(o);
      std::vector<int> mine;
      for (int i = c; i < o.patients; i += o.connections) mine.push_back(i);
      std::vector<int> step(mine.size(), 0);
      std::vector<std::pair<std::string, int64_t>> local;
      size_t turn = 0;
      auto next_due = static_cast<double>(start_us) + per_conn_interval_us * c / o.connections;
      while (!stop && !mine.empty()) {
        if (per_conn_interval_us > 0) {
          next_due += per_conn_interval_us;
          auto wait = static_cast<int64_t>(next_due) - clock::now_us();
          if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(wait));
        }
        size_t idx = turn++ % mine.size();
        int i = mine[idx];
        auto pid = id_for('0', i), eid = id_for('e', i);
        int k = ++step[idx];
        auto t0 = clock::now_us();
        auto submit = [&]() -> httplib::Result {
        if (k == 0)
          return cli.Post(("/api/patients/" + pid + "/episodes").c_str(), headers(),
                          episode_body(eid).dump(), "application/json");
        return cli.Patch(("/api/patients/" + pid + "/episodes/" + eid).c_str(), headers(),
                         json{{"name", "name " + std::to_string(k)}}.dump(), "application/json");
        };
        auto r = submit();
        if (!r || r->status != 202) {
          if (refused++ < 5)
            std::fprintf(stderr, "refused: %s\n", r ? (std::to_string(r->status) + " " + r->body).c_str()
                                                      : httplib::to_string(r.error()).c_str());
          continue;
        }
        auto href = json::parse(r->body)["data"]["links"][0]["href"].get<std::string>();
        local.emplace_back(href.substr(href.rfind('/') + 1), t0);
        ++accepted;
      }
      std::lock_guard<std::mutex> g{sent_mutex};
      for (auto& [id, t] : local) sent_us[id] = t;
    });
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
  stop = true;
  for (auto& t : ts) t.join();
  auto submit_end_us = clock::now_us();
  double submit_secs = static_cast<double>(submit_end_us - start_us) / 1e6;

  // Wait until every accepted job is processed, then read the commit times.
  wait_until_processed(o.db);
  double cpu_used = cpu_seconds(o.pid) - cpu_start;
  store::database db{database_at(o.db)};
  std::vector<double> latencies_ms;
  int64_t last_done_us = 0;
  long processed = 0;
  {
    auto rd = db.reader();
    auto q = rd->prepare("SELECT id, status, updated_at FROM me_jobs");
    while (q.step()) {
      auto it = sent_us.find(q.text(0));
      if (it == sent_us.end()) continue;
      if (q.int64(1) == 1) ++processed;
      last_done_us = std::max(last_done_us, q.int64(2));
      latencies_ms.push_back(static_cast<double>(q.int64(2) - it->second) / 1000.0);
    }
  }
  double all_secs = static_cast<double>(last_done_us - start_us) / 1e6;
  std::printf("connections %d, patients %d with %d episode%s each, %s, %ds of submitting\n",
              o.connections, o.patients, o.history, o.history == 1 ? "" : "s",
              o.rate ? ("paced at " + std::to_string(o.rate) + " jobs/s").c_str() : "unpaced",
              o.seconds);
  std::printf("  /healthz ceiling            %10.0f req/s\n", ceiling);
  std::printf("  jobs accepted (202)         %10.0f jobs/s  (%ld jobs, %ld refused)\n",
              static_cast<double>(accepted) / submit_secs, accepted.load(), refused.load());
  std::printf("  jobs processed, end to end  %10.0f jobs/s  (%ld processed, %.1f s from first submit to last commit)\n",
              static_cast<double>(sent_us.size()) / all_secs, processed, all_secs);
  std::printf("  ratio to the ceiling        %10.3f\n", static_cast<double>(accepted) / submit_secs / ceiling);
  std::printf("  submit -> processed         p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              pct(latencies_ms, 0.50), pct(latencies_ms, 0.99), pct(latencies_ms, 1.0));
  if (o.pid > 0 && !sent_us.empty())
    std::printf("  medflowd CPU per job        %10.0f us  (%.1f CPU s for %zu jobs)\n",
                cpu_used * 1e6 / static_cast<double>(sent_us.size()), cpu_used, sent_us.size());
  return 0;
}
