// hri_bench: HRI records/s from .in to .out through validation, end to end over HTTP on a
// running medflowd (hri.auth.disabled, short completion delay), next to the bus's raw append
// rate through the same HTTP endpoint in the same run (the ceiling).
//
// usage: hri_bench URL [--records N] [--connections C] [--validator passthrough|fhir|json]
#include "bench_util.hpp"
#include "core/clock.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

using json = nlohmann::json;
using namespace medflow;

namespace {

struct options {
  std::string host;
  int port = 0;
  int records = 200000;
  int connections = 4;
  std::string validator = "passthrough";
};

const int per_request = 500;

std::string value_of(int i) {
  return "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":"
         "{\"resourceType\":\"Observation\",\"id\":\"o" +
         std::to_string(i) + "\",\"status\":\"final\",\"valueQuantity\":{\"value\":" +
         std::to_string(i % 200) + ",\"unit\":\"mg/dL\"}}}]}";
}

// Appends `n` records to `topic` with C connections, 500 per request; returns records/s.
double produce(const options& o, const std::string& topic, int n, const std::string& batch_id) {
  std::atomic<int> next{0};
  auto start = clock::steady_us();
  std::vector<std::thread> ts;
  for (int c = 0; c < o.connections; ++c)
    ts.emplace_back([&] {
      auto cli = bench::keep_alive_client(o.host, o.port);
      for (;;) {
        int from = next.fetch_add(per_request);
        if (from >= n) return;
        json recs = json::array();
        for (int i = from; i < std::min(n, from + per_request); ++i) {
          json r = {{"key", "k" + std::to_string(i)}, {"value", json::parse(value_of(i))}};
          if (!batch_id.empty()) r["headers"] = {{"batchId", batch_id}};
          recs.push_back(std::move(r));
        }
        auto res = cli.Post(("/topics/" + topic + "/records").c_str(), json{{"records", recs}}.dump(),
                            "application/json");
        if (!res || res->status != 200) {
          std::cerr << "append failed: " << (res ? res->body : httplib::to_string(res.error())) << "\n";
          std::exit(1);
        }
      }
    });
  for (auto& t : ts) t.join();
  return n / (static_cast<double>(clock::steady_us() - start) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: hri_bench URL [--records N] [--connections C] [--validator V]\n";
    return 2;
  }
  options o;
  std::string url = argv[1];
  auto ep = bench::parse_url(url);
  o.host = ep.host;
  o.port = ep.port;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--records") o.records = std::stoi(v);
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--validator") o.validator = v;
  }
  httplib::Client cli(o.host, o.port);
  auto must = [](const httplib::Result& r, int want, const char* what) {
    if (!r || r->status != want) {
      std::cerr << what << " failed: " << (r ? r->body : httplib::to_string(r.error())) << "\n";
      std::exit(1);
    }
  };
  // The ceiling: raw appends of the same records to a scratch topic, same endpoint.
  must(cli.Post("/topics", R"({"name":"bench.raw","partitions":4})", "application/json"), 201, "topic");
  double ceiling = produce(o, "bench.raw", o.records, "");

  must(cli.Post("/hri/tenants/bench", "", "application/json"), 201, "tenant");
  must(cli.Post("/hri/tenants/bench/streams/s1",
                json{{"numPartitions", 4}, {"retentionMs", 3600000}, {"validator", o.validator}}.dump(),
                "application/json"),
       201, "stream");
  auto b = cli.Post("/hri/tenants/bench/batches",
                    R"({"name":"bench","topic":"ingest.bench.s1.in","dataType":"obs"})",
                    "application/json");
  must(b, 201, "batch");
  auto id = json::parse(b->body)["id"].get<std::string>();

  auto start = clock::steady_us();
  double in_rate = produce(o, "ingest.bench.s1.in", o.records, id);
  must(cli.Put(("/hri/tenants/bench/batches/" + id + "/action/sendComplete").c_str(),
               json{{"expectedRecordCount", o.records}}.dump(), "application/json"),
       200, "sendComplete");
  for (;;) {
    auto r = cli.Get(("/hri/tenants/bench/batches/" + id).c_str());
    must(r, 200, "batch status");
    auto st = json::parse(r->body)["status"].get<std::string>();
    if (st == "completed") break;
    if (st == "failed") {
      std::cerr << "batch failed: " << r->body << "\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double secs = static_cast<double>(clock::steady_us() - start) / 1e6;
  double through = o.records / secs;
  std::printf("records %d (~%zu bytes each), validator %s, %d connections, 500 records per request\n",
              o.records, value_of(0).size(), o.validator.c_str(), o.connections);
  std::printf("  raw bus append over HTTP (ceiling)   %10.0f records/s\n", ceiling);
  std::printf("  appended to .in (during the run)     %10.0f records/s\n", in_rate);
  std::printf("  .in -> validated -> .out, completed   %10.0f records/s  (%.2f s, %.2f of the ceiling)\n",
              through, secs, through / ceiling);
  return 0;
}
