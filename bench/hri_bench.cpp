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
        bench::must(res, 200, "append");
      }
    });
  for (auto& t : ts) t.join();
  return n / (static_cast<double>(clock::steady_us() - start) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  bench::command_line args(argc, argv, 1, {"--records", "--connections", "--validator"},
                           "hri_bench URL [--records N] [--connections C] [--validator V]");
  options o;
  auto ep = args.url(0);
  o.host = ep.host;
  o.port = ep.port;
  o.records = args.integer("--records", o.records);
  o.connections = args.integer("--connections", o.connections);
  o.validator = args.text("--validator", o.validator);
  using bench::must;
  httplib::Client cli(o.host, o.port);
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
