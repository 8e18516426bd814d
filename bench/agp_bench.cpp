// agp_bench: aggregated requests/s and the overhead of an aggregated answer over its slowest
// source (answer time - the slowest source's own time, from fake_source's GET /timings, and - the
// nominal delay), with C concurrent clients against a running medflowd
// whose sources (fake_source) answer after a fixed delay. Reports medflowd's thread count
// sampled during the run. See bench/aggregation.sh.
//
// usage: agp_bench URL PID [--clients C] [--seconds S] [--patients P] [--source-delay-ms D]
//                  [--fake FAKE_URL] [--direct 1] [--epoll 1] [--dump FILE]
#include "bench_util.hpp"
#include "core/clock.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

using json = nlohmann::json;
using namespace medflow;
using bench::pct;

namespace {

// CLOCK_MONOTONIC, the clock fake_source's GET /spans uses.
int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One answered request as the client timed it.
struct client_span {
  std::string corr;
  int64_t t0_ns;  // request sent
  int64_t t1_ns;  // answer received
};

int threads_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

// The buckets of medflow_agp_overhead_duration_seconds from /metrics: (upper bound, cumulative count).
std::vector<std::pair<double, double>> overhead_buckets(const std::string& host, int port) {
  httplib::Client cli(host, port);
  auto r = cli.Get("/metrics");
  std::vector<std::pair<double, double>> out;
  if (!r) return out;
  std::istringstream in(r->body);
  std::string line;
  const std::string prefix = "medflow_agp_overhead_duration_seconds_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto le_end = line.find('"', prefix.size());
    auto le = line.substr(prefix.size(), le_end - prefix.size());
    double bound = le == "+Inf" ? 1e9 : std::stod(le);
    out.emplace_back(bound, std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return out;
}

// The value of one series (exact line prefix up to the value) in /metrics, or 0.
double metric(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}
std::string metrics_text(const std::string& host, int port) {
  httplib::Client cli(host, port);
  auto r = cli.Get("/metrics");
  return r ? "\n" + r->body : std::string{};
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

// A minimal HTTP/1.1 keep-alive client for the bench: `clients` connections on one epoll set,
// each sending the next request as soon as its answer is complete. next(c, n) gives the n-th
// request of connection c (its correlation id and bytes); done(corr, ms, status, body) gets
// each answer. Answers are framed by Content-Length (medflowd and fake_source always send it).
void event_loop_client(const std::string& host, int port, int clients,
                       const std::function<std::pair<std::string, std::string>(int, int)>& next,
                       const std::function<void(std::string, double, int, const std::string&)>& done,
                       const std::atomic<bool>& stop) {
  struct conn {
    int fd = -1;
    int n = 0;
    std::string corr, out, in;
    size_t out_off = 0;
    int64_t t0 = 0;
  };
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<conn> cs(static_cast<size_t>(clients));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr);
  auto send_next = [&](int c) {
    auto& k = cs[static_cast<size_t>(c)];
    auto [corr, bytes] = next(c, k.n++);
    k.corr = std::move(corr);
    k.out = std::move(bytes);
    k.out_off = 0;
    k.t0 = clock::steady_us();
    while (k.out_off < k.out.size()) {
      auto w = ::send(k.fd, k.out.data() + k.out_off, k.out.size() - k.out_off, MSG_NOSIGNAL);
      if (w <= 0) break;  // the loopback buffer is full: rare with requests this small
      k.out_off += static_cast<size_t>(w);
    }
  };
  for (int c = 0; c < clients; ++c) {
    auto& k = cs[static_cast<size_t>(c)];
    k.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(k.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(k.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("agp_bench: connect");
      std::exit(1);
    }
    ::fcntl(k.fd, F_SETFL, ::fcntl(k.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(c);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, k.fd, &ev);
    send_next(c);
  }
  std::vector<epoll_event> events(static_cast<size_t>(clients));
  char buf[65536];
  while (!stop) {
    int n = ::epoll_wait(ep, events.data(), clients, 100);
    for (int i = 0; i < n; ++i) {
      int c = static_cast<int>(events[static_cast<size_t>(i)].data.u32);
      auto& k = cs[static_cast<size_t>(c)];
      for (;;) {
        auto r = ::recv(k.fd, buf, sizeof buf, 0);
        if (r > 0) {
          k.in.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r == 0) {
          std::fprintf(stderr, "agp_bench: the server closed connection %d\n", c);
          std::exit(1);
        }
        break;  // EAGAIN: everything available was read
      }
      // Complete answers (one at a time per connection: no pipelining).
      auto head_end = k.in.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      std::string head = k.in.substr(0, head_end);
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      auto cl = lower.find("\r\ncontent-length:");
      size_t len = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 17));
      if (k.in.size() < head_end + 4 + len) continue;
      auto ms = static_cast<double>(clock::steady_us() - k.t0) / 1000.0;
      int status = std::atoi(head.c_str() + head.find(' ') + 1);
      std::string body = k.in.substr(head_end + 4, len);
      k.in.erase(0, head_end + 4 + len);
      done(std::move(k.corr), ms, status, body);
      send_next(c);
    }
  }
  for (auto& k : cs) ::close(k.fd);
  ::close(ep);
}

std::string patient(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "19%010d", i);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  bench::command_line args(argc, argv, 2,
                           {"--clients", "--seconds", "--patients", "--source-delay-ms",
                            "--direct", "--epoll", "--fake", "--dump", "--rate"},
                           "agp_bench URL PID [--clients C] [--seconds S] [--patients P] "
                           "[--source-delay-ms D] [--direct 0|1] [--epoll 0|1] [--fake URL] "
                           "[--dump FILE] [--rate R]");
  std::string url = args.positional(0);
  int pid = 0;
  try {
    pid = std::stoi(args.positional(1));
  } catch (const std::exception&) {
    args.fail("PID must be a process id");
  }
  int clients = args.integer("--clients", 200);
  int seconds = args.integer("--seconds", 20);
  int patients = args.integer("--patients", 1000);
  int delay_ms = args.integer("--source-delay-ms", 100);
  // --direct 1: ask one source (fake_source) directly, without medflowd: the floor of the
  // overhead that the load generator and the machine add on their own.
  bool direct = args.integer("--direct", 0) != 0;
  // --epoll 1: drive all clients from one epoll thread instead of one thread each.
  bool epoll_mode = args.integer("--epoll", 0) != 0;
  // --fake URL: the fake_source's base URL; its GET /timings gives each request's slowest
  // source call as the source itself saw it, so the overhead is measured against that.
  std::string fake_url = args.text("--fake", "");
  if (!fake_url.empty()) {
    try {
      bench::parse_url(fake_url);
    } catch (const std::invalid_argument& e) {
      args.fail(std::string("--fake: ") + e.what());
    }
  }
  // --dump FILE: one line per request of the split (thread-per-client mode, with --fake): when
  // it was sent (ms since the first), answer - slowest source, send -> first call, spread,
  // last answer -> client (ms), then send, first call's arrival, last answer, receive
  // (CLOCK_MONOTONIC ns, to line up with `perf record -k mono`). Shows whether slow requests
  // come together (a stage stalled) or spread out, and when.
  std::string dump_file = args.text("--dump", "");
  // --rate R (thread-per-client mode): paced at R aggregated requests/s in all, client c sending
  // its n-th request at (n * clients + c) / R s after the start (at once when it is behind), so
  // the load is spread evenly in time instead of arriving in waves; 0 = back to back.
  double rate = args.integer("--rate", 0);
  if (rate > 0 && epoll_mode) args.fail("--rate is for the thread-per-client mode");
  auto [host, port] = args.url(0);

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
  std::vector<client_span> client_spans;                  // thread-per-client mode only
  std::atomic<long> done{0}, failed{0}, incomplete{0};
  // One answer: checked, and kept when measuring.
  auto record = [&](std::string corr, double ms, int status, const std::string& body,
                    std::vector<double>& local,
                    std::vector<std::pair<std::string, double>>& local_totals) {
    if (!measuring) return;
    if (status != 200) {
      ++failed;
      return;
    }
    if (!direct) {
      auto j = json::parse(body, nullptr, false);
      bool all = !j.is_discarded() && j["processingStatus"].size() == 5;
      if (all)
        for (auto& p : j["processingStatus"]) all = all && p["statusCode"] == "DataFromSource";
      if (!all) ++incomplete;
    }
    local.push_back(ms - delay_ms);
    local_totals.emplace_back(std::move(corr), ms);
    ++done;
  };
  auto corr_of = [](int c, int n) { return "bench-" + std::to_string(c) + "-" + std::to_string(n); };
  auto body_of = [&](int c, int n) {
    return json{{"patientId", patient((c * 7919 + n) % patients)}}.dump();
  };
  const std::string path = direct ? "/SRC-1" : "/aggregation/Bench";
  std::vector<std::thread> ts;
  if (epoll_mode) {
    // One thread, every connection non-blocking on one epoll set (the way wrk drives load):
    // the load generator adds no thread per client to the two cores it shares with medflowd.
    ts.emplace_back([&] {
      std::vector<double> local;
      std::vector<std::pair<std::string, double>> local_totals;
      event_loop_client(host, port, clients, [&](int c, int n) {
        auto corr = corr_of(c, n);
        auto body = body_of(c, n);
        std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + host +
                          "\r\nContent-Type: application/json\r\nx-vp-sender-id: bench\r\n"
                          "x-rivta-original-serviceconsumer-hsaid: bench\r\n"
                          "x-skltp-correlation-id: " + corr +
                          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        return std::make_pair(std::move(corr), std::move(req));
      }, [&](std::string corr, double ms, int status, const std::string& body) {
        record(std::move(corr), ms, status, body, local, local_totals);
      }, stop);
      std::lock_guard<std::mutex> g{m};
      overhead_ms.insert(overhead_ms.end(), local.begin(), local.end());
      totals_ms.insert(totals_ms.end(), local_totals.begin(), local_totals.end());
    });
  } else {
    for (int c = 0; c < clients; ++c)
      ts.emplace_back([&, c] {
        auto cli = bench::keep_alive_client(host, port);
        cli.set_read_timeout(10);
        std::vector<double> local;
        std::vector<std::pair<std::string, double>> local_totals;
        std::vector<client_span> local_spans;
        auto paced_from = std::chrono::steady_clock::now();
        for (int n = 0; !stop; ++n) {
          if (rate > 0)
            std::this_thread::sleep_until(
                paced_from + std::chrono::microseconds(static_cast<long long>(
                                 1e6 * (static_cast<double>(n) * clients + c) / rate)));
          auto corr = corr_of(c, n);
          httplib::Headers hs = {{"x-vp-sender-id", "bench"},
                                 {"x-rivta-original-serviceconsumer-hsaid", "bench"},
                                 {"x-skltp-correlation-id", corr}};
          auto t0 = mono_ns();
          auto r = cli.Post(path, hs, body_of(c, n), "application/json");
          auto t1 = mono_ns();
          auto ms = static_cast<double>(t1 - t0) / 1e6;
          if (measuring && r && r->status == 200) local_spans.push_back({corr, t0, t1});
          record(std::move(corr), ms, r ? r->status : 0, r ? r->body : std::string{}, local,
                 local_totals);
        }
        std::lock_guard<std::mutex> g{m};
        overhead_ms.insert(overhead_ms.end(), local.begin(), local.end());
        totals_ms.insert(totals_ms.end(), local_totals.begin(), local_totals.end());
        client_spans.insert(client_spans.end(), local_spans.begin(), local_spans.end());
      });
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // warm-up: connections, caches
  auto buckets_before = overhead_buckets(host, port);
  auto metrics_before = direct ? std::string{} : metrics_text(host, port);
  auto fake_client = [&]() {
    auto ep = bench::parse_url(fake_url);
    httplib::Client fc(ep.host, ep.port);
    fc.set_read_timeout(60);
    return fc;
  };
  if (!fake_url.empty()) fake_client().Post("/reset-stats");  // count connections from here
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
  auto metrics_after = direct ? std::string{} : metrics_text(host, port);
  stop = true;
  for (auto& t : ts) t.join();
  std::printf("%d clients, 5 sources per patient answering in %d ms, %d s measured, %s\n",
              clients, delay_ms, seconds,
              rate > 0 ? ("paced at " + std::to_string(static_cast<long>(rate)) + " requests/s").c_str()
                       : "back to back");
  std::printf("  aggregated requests/s            %10.0f  (%ld answered, %ld failed, %ld with a source not DataFromSource)\n",
              finished / secs, finished, failed.load(), incomplete.load());
  std::printf("  answer - source delay (%d ms)     p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              delay_ms, pct(overhead_ms, 0.5), pct(overhead_ms, 0.99), pct(overhead_ms, 1.0));
  if (!fake_url.empty()) {
    // The slowest source as the source saw it (delay + its own time), per request.
    auto fc = fake_client();
    if (auto st = fc.Get("/stats"); st && st->status == 200) {
      auto j = json::parse(st->body);
      std::printf("  source connections opened while measuring %lld (open at most %lld)\n",
                  j["connections_accepted"].get<long long>(), j["max_open_connections"].get<long long>());
    }
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
    // Where it goes, per request on one clock: client send -> first call arriving at a
    // source; the calls' spread beyond the slowest one's own time; last answer -> client.
    if (!client_spans.empty()) {
      auto sp = fc.Get("/spans");
      if (sp && sp->status == 200) {
        auto spans = json::parse(sp->body);
        std::vector<double> before, spread, after;
        std::ofstream dump;
        if (!dump_file.empty()) dump.open(dump_file);
        int64_t first_t0 = client_spans.front().t0_ns;
        for (auto& s : client_spans) first_t0 = std::min(first_t0, s.t0_ns);
        for (auto& s : client_spans) {
          auto it = spans.find(s.corr);
          auto tt = timings.find(s.corr);
          if (it == spans.end() || tt == timings.end()) continue;
          int64_t first_rx = (*it)[0].get<int64_t>(), last_tx = (*it)[1].get<int64_t>();
          before.push_back(static_cast<double>(first_rx - s.t0_ns) / 1e6);
          spread.push_back(static_cast<double>(last_tx - first_rx) / 1e6 - tt->get<double>() / 1000.0);
          after.push_back(static_cast<double>(s.t1_ns - last_tx) / 1e6);
          if (dump.is_open())
            dump << static_cast<double>(s.t0_ns - first_t0) / 1e6 << ' '
                 << static_cast<double>(s.t1_ns - s.t0_ns) / 1e6 - tt->get<double>() / 1000.0
                 << ' ' << before.back() << ' ' << spread.back() << ' ' << after.back() << ' '
                 << s.t0_ns << ' ' << first_rx << ' ' << last_tx << ' ' << s.t1_ns << '\n';
        }
        std::printf("  split: send -> first call arrives  p50 %.2f / p99 %.2f ms; calls' spread p50 %.2f / p99 %.2f ms; last answer -> client p50 %.2f / p99 %.2f ms\n",
                    pct(before, 0.5), pct(before, 0.99), pct(spread, 0.5), pct(spread, 0.99),
                    pct(after, 0.5), pct(after, 0.99));
      }
    }
    if (!direct) {
      // Where the mean goes: means from medflowd's counters over the measured window.
      auto mean_ms = [&](const std::string& name, const std::string& labels) {
        auto series = [&](const char* suffix) { return name + suffix + labels; };
        double n = metric(metrics_after, series("_count")) - metric(metrics_before, series("_count"));
        double sum = metric(metrics_after, series("_sum")) - metric(metrics_before, series("_sum"));
        return n > 0 ? 1000 * sum / n : 0.0;
      };
      double total = 0, source = 0;
      for (auto& [corr, ms] : totals_ms) total += ms;
      for (auto& [corr, us] : timings.items()) source += us.get<double>() / 1000.0;
      total /= std::max<size_t>(1, totals_ms.size());
      source /= std::max<size_t>(1, timings.size());
      double handler = mean_ms("medflow_http_request_duration_seconds", "{route=\"/aggregation/{service}\",method=\"POST\"}");
      double call = mean_ms("medflow_http_client_call_duration_seconds", "");
      std::printf("  means: client %.2f ms, medflowd handler %.2f ms, source call in medflowd %.2f ms, "
                  "slowest source's own time %.2f ms (of all requests)\n", total, handler, call, source);
    }
  }
  if (!direct)
    std::printf("  in medflowd beyond the slowest call  p50 %.2f ms, p99 %.2f ms (its histogram)\n",
                histogram_quantile(buckets_before, buckets_after, 0.5) * 1000,
                histogram_quantile(buckets_before, buckets_after, 0.99) * 1000);
  std::printf("  medflowd threads during the run  %d (max sampled)\n", max_threads);
  return 0;
}
