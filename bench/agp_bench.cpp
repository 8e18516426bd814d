// agp_bench: aggregated requests/s and the overhead of an aggregated answer over its slowest
// source (answer time - source delay), with C concurrent clients against a running medflowd
// whose sources (fake_source) answer after a fixed delay. Reports medflowd's thread count
// sampled during the run. See bench/aggregation.sh.
//
// usage: agp_bench URL PID [--clients C] [--seconds S] [--patients P] [--source-delay-ms D]
#include "core/clock.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

using json = nlohmann::json;
using namespace medflow;

namespace {

int threads_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

// The buckets of medflow_agp_overhead_seconds from /metrics: (upper bound, cumulative count).
std::vector<std::pair<double, double>> overhead_buckets(const std::string& host, int port) {
  httplib::Client cli(host, port);
  auto r = cli.Get("/metrics");
  std::vector<std::pair<double, double>> out;
  if (!r) return out;
  std::istringstream in(r->body);
  std::string line;
  const std::string prefix = "medflow_agp_overhead_seconds_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto le_end = line.find('"', prefix.size());
    auto le = line.substr(prefix.size(), le_end - prefix.size());
    double bound = le == "+Inf" ? 1e9 : std::stod(le);
    out.emplace_back(bound, std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return out;
}

// A quantile from the difference of two cumulative histograms, interpolated in its bucket.
double histogram_quantile(const std::vector<std::pair<double, double>>& before,
                          const std::vector<std::pair<double, double>>& after, double q) {
  if (after.empty() || before.size() != after.size()) return -1;
  double total = after.back().second - before.back().second;
  double lower = 0, prev = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    double cum = after[i].second - before[i].second;
    if (cum >= q * total) {
      double in_bucket = cum - prev;
      double frac = in_bucket > 0 ? (q * total - prev) / in_bucket : 0;
      return lower + frac * (after[i].first - lower);
    }
    prev = cum;
    lower = after[i].first;
  }
  return after.back().first;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string patient(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "19%010d", i);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: agp_bench URL PID [--clients C] [--seconds S] [--patients P] "
                 "[--source-delay-ms D]\n";
    return 2;
  }
  std::string url = argv[1];
  int pid = std::stoi(argv[2]);
  int clients = 200, seconds = 20, patients = 1000, delay_ms = 100;
  // --direct 1: ask one source (fake_source) directly, without medflowd: the floor of the
  // overhead that the load generator and the machine add on their own.
  bool direct = false;
  // --fake URL: the fake_source's base URL; its GET /timings gives each request's slowest
  // source call as the source itself saw it, so the overhead is measured against that.
  std::string fake_url;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--fake") {
      fake_url = argv[i + 1];
      continue;
    }
    int v = std::stoi(argv[i + 1]);
    if (k == "--clients") clients = v;
    else if (k == "--seconds") seconds = v;
    else if (k == "--patients") patients = v;
    else if (k == "--source-delay-ms") delay_ms = v;
    else if (k == "--direct") direct = v != 0;
  }
  auto rest = url.substr(url.find("//") + 2);
  std::string host = rest.substr(0, rest.find(':'));
  int port = std::stoi(rest.substr(rest.find(':') + 1));

  // Five engagements per patient, sources SRC-1..SRC-5.
  if (!direct) {
    httplib::Client cli(host, port);
    for (int from = 0; from < patients; from += 200) {
      json tx = json::array();
      for (int i = from; i < std::min(patients, from + 200); ++i)
        for (int s = 1; s <= 5; ++s)
          tx.push_back({{"engagement",
                         {{"registeredResidentIdentification", patient(i)},
                          {"serviceDomain", "riv:bench"},
                          {"categorization", "c"},
                          {"logicalAddress", "SRC-" + std::to_string(s)},
                          {"businessObjectInstanceIdentifier", "b"},
                          {"clinicalProcessInterestId", "c"},
                          {"sourceSystem", "SRC-" + std::to_string(s)},
                          {"dataController", "5565594230"}}}});
      auto r = cli.Post("/aggregation/engagement-index/update",
                        json{{"engagementTransaction", tx}}.dump(), "application/json");
      if (!r || r->status != 200) {
        std::cerr << "engagement update failed\n";
        return 1;
      }
    }
  }

  std::atomic<bool> stop{false}, measuring{false};
  std::mutex m;
  std::vector<double> overhead_ms;
  std::vector<std::pair<std::string, double>> totals_ms;  // correlation id -> answer time
  std::atomic<long> done{0}, failed{0}, incomplete{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      httplib::Client cli(host, port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(10);
      std::vector<double> local;
      std::vector<std::pair<std::string, double>> local_totals;
      for (int n = 0; !stop; ++n) {
        auto corr = "bench-" + std::to_string(c) + "-" + std::to_string(n);
        httplib::Headers hs = {{"x-vp-sender-id", "bench"},
                               {"x-rivta-original-serviceconsumer-hsaid", "bench"},
                               {"x-skltp-correlation-id", corr}};
        auto body = json{{"patientId", patient((c * 7919 + n) % patients)}}.dump();
        auto t0 = clock::steady_us();
        auto r = cli.Post(direct ? "/SRC-1" : "/aggregation/Bench", hs, body, "application/json");
        auto ms = static_cast<double>(clock::steady_us() - t0) / 1000.0;
        if (!measuring) continue;
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        if (!direct) {
          auto j = json::parse(r->body);
          bool all = j["processingStatus"].size() == 5;
          for (auto& p : j["processingStatus"]) all = all && p["statusCode"] == "DataFromSource";
          if (!all) ++incomplete;
        }
        local.push_back(ms - delay_ms);
        local_totals.emplace_back(std::move(corr), ms);
        ++done;
      }
      std::lock_guard<std::mutex> g{m};
      overhead_ms.insert(overhead_ms.end(), local.begin(), local.end());
      totals_ms.insert(totals_ms.end(), local_totals.begin(), local_totals.end());
    });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // warm-up: connections, caches
  auto buckets_before = overhead_buckets(host, port);
  measuring = true;
  auto start = clock::steady_us();
  int max_threads = 0;
  for (int s = 0; s < seconds * 10; ++s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    max_threads = std::max(max_threads, threads_of(pid));
  }
  long finished = done;
  double secs = static_cast<double>(clock::steady_us() - start) / 1e6;
  auto buckets_after = overhead_buckets(host, port);
  stop = true;
  for (auto& t : ts) t.join();
  std::printf("%d clients, 5 sources per patient answering in %d ms, %d s measured\n", clients,
              delay_ms, seconds);
  std::printf("  aggregated requests/s            %10.0f  (%ld answered, %ld failed, %ld with a source not DataFromSource)\n",
              finished / secs, finished, failed.load(), incomplete.load());
  std::printf("  answer - source delay (%d ms)     p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              delay_ms, pct(overhead_ms, 0.5), pct(overhead_ms, 0.99), pct(overhead_ms, 1.0));
  if (!fake_url.empty()) {
    // The slowest source as the source saw it (delay + its own time), per request.
    auto rest = fake_url.substr(fake_url.find("//") + 2);
    httplib::Client fc(rest.substr(0, rest.find(':')), std::stoi(rest.substr(rest.find(':') + 1)));
    fc.set_read_timeout(60);
    auto r = fc.Get("/timings");
    if (!r || r->status != 200) {
      std::cerr << "GET " << fake_url << "/timings failed\n";
      return 1;
    }
    auto timings = json::parse(r->body);
    std::vector<double> vs_source;
    long unmatched = 0;
    for (auto& [corr, ms] : totals_ms) {
      auto it = timings.find(corr);
      if (it == timings.end()) {
        ++unmatched;
        continue;
      }
      vs_source.push_back(ms - it->get<double>() / 1000.0);
    }
    std::printf("  answer - slowest source           p50 %.2f ms, p99 %.2f ms, max %.2f ms  (%ld requests without timings)\n",
                pct(vs_source, 0.5), pct(vs_source, 0.99), pct(vs_source, 1.0), unmatched);
  }
  if (!direct)
    std::printf("  in medflowd beyond the slowest call  p50 %.2f ms, p99 %.2f ms (its histogram)\n",
                histogram_quantile(buckets_before, buckets_after, 0.5) * 1000,
                histogram_quantile(buckets_before, buckets_after, 0.99) * 1000);
  std::printf("  medflowd threads during the run  %d (max sampled)\n", max_threads);
  return 0;
}
