// hri_load: load and verification of the batches flow (HRI) for the kill -9 soak
// (tests/e2e/soak_kill9.sh). Integrators create batches and post their records to the
// stream's .in topic; the validation moves each to .out. medflowd may be killed at any
// moment: a request without an answer is not sent again with the same records (its records
// may or may not be in .in); every answered one is journaled with the offsets it got.
//
//   hri_load setup  URL TENANT STREAM PARTITIONS   tenant, stream (passthrough validation)
//   hri_load run    URL TENANT STREAM JOURNAL THREADS STOP_FILE [PAUSE_MS]
//                                    until STOP_FILE exists: per thread, batches of 10 posts
//                                    of 20 records (key "<thread>-<n>", batchId header);
//                                    journal: "<key> <partition> <offset>" per acknowledged
//                                    record
//   hri_load wait   DB TENANT STREAM SECONDS      until .out holds as many records as .in
//   hri_load verify DB TENANT STREAM JOURNAL      every acknowledged record is in .in at its
//                                    offset with its key and value, no key twice in .in, and
//                                    every record of .in is in .out exactly once
#include "core/log.hpp"
#include "store/sqlite.hpp"
#include "support/endpoint.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

using json = nlohmann::json;

namespace {

using medflow::test::endpoint;
using medflow::test::parse_url;

// One attempt: an answer, or none (medflowd down, killed mid-request). A kept-alive
// connection per thread, replaced after a failure.
httplib::Result send_once(const endpoint& ep, const std::string& method, const std::string& path,
                          const std::string& body) {
  thread_local std::unique_ptr<httplib::Client> client;
  if (!client) {
    client = std::make_unique<httplib::Client>(ep.host, ep.port);
    client->set_connection_timeout(2);
    client->set_read_timeout(10);
    client->set_tcp_nodelay(true);
    client->set_keep_alive(true);
  }
  auto r = method == "POST" ? client->Post(path.c_str(), body, "application/json")
                            : client->Get(path.c_str());
  if (!r) client.reset();
  return r;
}

void pause_a_little() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

int setup(const endpoint& ep, const std::string& tenant, const std::string& stream, int parts) {
  for (;;) {
    auto r = send_once(ep, "POST", "/hri/tenants/" + tenant, "");
    if (r && (r->status == 201 || r->status == 400)) break;
    pause_a_little();
  }
  json s = {{"numPartitions", parts}, {"retentionMs", 86400000}, {"validator", "passthrough"}};
  for (;;) {
    auto r = send_once(ep, "POST", "/hri/tenants/" + tenant + "/streams/" + stream, s.dump());
    if (r && (r->status == 201 || r->status == 409)) break;
    if (r) {
      std::cerr << "create stream -> " << r->status << " " << r->body << "\n";
      return 1;
    }
    pause_a_little();
  }
  return 0;
}

std::string in_topic(const std::string& t, const std::string& s) { return "ingest." + t + "." + s + ".in"; }
std::string out_topic(const std::string& t, const std::string& s) { return "ingest." + t + "." + s + ".out"; }

int run(const endpoint& ep, const std::string& tenant, const std::string& stream,
        const std::string& journal, int threads, const std::string& stop_file, int pause_ms) {
  std::ofstream out(journal, std::ios::app);
  std::mutex out_mutex;
  std::atomic<bool> failed{false};
  auto stopped = [&] { return failed || std::filesystem::exists(stop_file); };
  auto worker = [&](int thread) {
    int64_t n = 0;
    while (!stopped()) {
      std::string batch;
      json b = {{"name", "soak-" + std::to_string(thread)}, {"topic", in_topic(tenant, stream)},
                {"dataType", "soak"}};
      while (batch.empty() && !stopped()) {
        auto r = send_once(ep, "POST", "/hri/tenants/" + tenant + "/batches", b.dump());
        if (!r) {
          pause_a_little();
          continue;
        }
        if (r->status != 201) {
          std::cerr << "create batch -> " << r->status << " " << r->body << "\n";
          failed = true;
          return;
        }
        batch = json::parse(r->body)["id"].get<std::string>();
      }
      for (int post = 0; post < 10 && !stopped(); ++post) {
        if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
        json recs = json::array();
        std::vector<std::string> keys;
        for (int i = 0; i < 20; ++i) {
          auto key = std::to_string(thread) + "-" + std::to_string(n++);
          keys.push_back(key);
          recs.push_back({{"key", key},
                          {"value", {{"key", key}, {"batch", batch}}},
                          {"headers", {{"batchId", batch}}}});
        }
        auto r = send_once(ep, "POST", "/topics/" + in_topic(tenant, stream) + "/records",
                           json{{"records", recs}}.dump());
        if (!r) {
          pause_a_little();  // unanswered: these keys may or may not be in .in; not sent again
          continue;
        }
        if (r->status != 200) {
          std::cerr << "post records -> " << r->status << " " << r->body << "\n";
          failed = true;
          return;
        }
        auto offsets = json::parse(r->body)["offsets"];
        std::lock_guard<std::mutex> g{out_mutex};
        for (size_t i = 0; i < keys.size(); ++i)
          out << keys[i] << ' ' << offsets[i]["partition"].get<int>() << ' '
              << offsets[i]["offset"].get<int64_t>() << '\n';
        out.flush();
      }
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t);
  for (auto& t : ts) t.join();
  return failed ? 1 : 0;
}

struct stored {
  int32_t partition;
  int64_t offset;
  std::string value;
};

// key -> every place the key is in the topic.
std::map<std::string, std::vector<stored>> read_topic(medflow::store::connection& c,
                                                      const std::string& topic) {
  std::map<std::string, std::vector<stored>> out;
  auto q = c.prepare(
      "SELECT r.key, r.part, r.off, r.value FROM bus_records r JOIN bus_topics t "
      "ON t.id = r.topic_id WHERE t.name = ?");
  q.bind_all(topic);
  while (q.step())
    out[q.text(0)].push_back({static_cast<int32_t>(q.int64(1)), q.int64(2), q.text(3)});
  return out;
}

int64_t count_records(medflow::store::connection& c, const std::string& topic) {
  auto q = c.prepare(
      "SELECT count(*) FROM bus_records r JOIN bus_topics t ON t.id = r.topic_id WHERE t.name = ?");
  q.bind_all(topic);
  return q.step() ? q.int64(0) : 0;
}

int wait_out(const std::string& db, const std::string& tenant, const std::string& stream,
             int seconds) {
  medflow::store::connection c{db, medflow::store::connection::mode::read_only, {}};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto in = count_records(c, in_topic(tenant, stream));
    auto out = count_records(c, out_topic(tenant, stream));
    if (out >= in) {
      std::cout << ".in " << in << ", .out " << out << "\n";
      return 0;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << ".out has " << out << " of " << in << " records after " << seconds << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int verify(const std::string& db, const std::string& tenant, const std::string& stream,
           const std::string& journal) {
  medflow::store::connection c{db, medflow::store::connection::mode::read_only, {}};
  auto in = read_topic(c, in_topic(tenant, stream));
  auto out = read_topic(c, out_topic(tenant, stream));
  int64_t acked = 0, lost = 0, doubled = 0, wrong = 0, out_missing = 0, out_doubled = 0,
          out_stray = 0;
  int shown = 0;
  auto problem = [&](const std::string& what) {
    if (++shown <= 20) std::cerr << "FAIL: " << what << "\n";
  };
  std::ifstream j(journal);
  std::string key;
  int32_t part;
  int64_t off;
  while (j >> key >> part >> off) {
    ++acked;
    auto it = in.find(key);
    if (it == in.end()) {
      ++lost;
      problem("acknowledged record " + key + " is not in .in");
      continue;
    }
    auto& s = it->second.front();
    if (s.partition != part || s.offset != off ||
        json::parse(s.value).value("key", "") != key) {
      ++wrong;
      problem("record " + key + " acknowledged at " + std::to_string(part) + "/" +
              std::to_string(off) + " is at " + std::to_string(s.partition) + "/" +
              std::to_string(s.offset));
    }
  }
  int64_t in_records = 0;
  for (auto& [k, places] : in) {
    in_records += static_cast<int64_t>(places.size());
    if (places.size() > 1) {
      ++doubled;
      problem("key " + k + " is " + std::to_string(places.size()) + " times in .in");
    }
    auto o = out.find(k);
    if (o == out.end()) {
      ++out_missing;
      problem("record " + k + " of .in is not in .out");
    } else if (o->second.size() != 1) {
      ++out_doubled;
      problem("record " + k + " is " + std::to_string(o->second.size()) + " times in .out");
    }
  }
  for (auto& [k, places] : out)
    if (!in.count(k)) {
      ++out_stray;
      problem("record " + k + " of .out is not in .in");
    }
  std::cout << "records: acknowledged " << acked << ", in .in " << in_records
            << " (written but unanswered " << in_records - acked << "), in .out " << out.size()
            << "; lost " << lost << ", doubled " << doubled + out_doubled << ", misplaced "
            << wrong << ", missing from .out " << out_missing << ", stray in .out " << out_stray
            << "\n";
  return lost + doubled + wrong + out_missing + out_doubled + out_stray ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  medflow::log::set_level(medflow::log::level::error);
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 5 && a[0] == "setup") return setup(parse_url(a[1]), a[2], a[3], std::stoi(a[4]));
  if ((a.size() == 7 || a.size() == 8) && a[0] == "run")
    return run(parse_url(a[1]), a[2], a[3], a[4], std::stoi(a[5]), a[6],
               a.size() > 7 ? std::stoi(a[7]) : 0);
  if (a.size() == 5 && a[0] == "wait") return wait_out(a[1], a[2], a[3], std::stoi(a[4]));
  if (a.size() == 5 && a[0] == "verify") return verify(a[1], a[2], a[3], a[4]);
  std::cerr << "usage: hri_load setup URL TENANT STREAM PARTITIONS | run URL TENANT STREAM JOURNAL "
               "THREADS STOP_FILE [PAUSE_MS] | wait DB TENANT STREAM SECONDS | verify DB TENANT "
               "STREAM JOURNAL\n";
  return 2;
}
