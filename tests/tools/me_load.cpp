// me_load: load and verification for the medical events crash test (tests/e2e/
// medical_events_crash.sh). Each patient gets an episode and then a series of updates that
// rename it "name 1", "name 2", ...; once the create is processed the updates are sent back
// to back (the jobs queue up per patient) and every request is retried until answered, so
// medflowd can be killed at any moment.
//
//   me_load setup  URL PATIENTS            registries: legal entity, doctor, persons
//   me_load run    URL PATIENTS UPDATES JOURNAL THREADS [STOP_FILE [PAUSE_MS]]
//                                          (patients ME_LOAD_FIRST.. of the environment, 0 by
//                                          default: several runs on other medflowd apart)
//                                          journal: one line per 202/200 answer:
//                                          "<patient> <k> <job id>" (k = 0 for the create);
//                                          stops early once STOP_FILE exists; PAUSE_MS
//                                          between a thread's jobs paces the load
//   me_load wait   URL JOURNAL             until no journaled job is pending (60 s at most)
//   me_load wait_db DB SECONDS             until no job at all is pending, read from the
//                                          database (for long journals)
//   me_load verify DB JOURNAL              every journaled job finished exactly once; each
//                                          patient's episode equals its jobs applied in order
//                                          (DB: the SQLite file, or a postgresql:// URL)
//   me_load subscribe URL TOPIC            creates a pull subscription; prints its id
//   me_load consume URL SUB JOURNAL DONE_FILE [PAUSE_MS]
//                                          pulls the subscription's events and acks each
//                                          answer PAUSE_MS later (its "processing"), once: an
//                                          ack a kill cuts off is given up and the events are
//                                          pulled again; across restarts, until an answer is
//                                          empty once DONE_FILE exists; journal: "<topic>
//                                          <partition> <offset>" per delivery. Fails at once
//                                          when an event comes again after an ack that was
//                                          answered 204
//   me_load verify_subscription DB TOPIC JOURNAL
//                                          every record of TOPIC delivered at least once, and
//                                          nothing delivered that is not on it
#include "core/log.hpp"
#include "store/database.hpp"
#include "support/endpoint.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

using json = nlohmann::json;

namespace {

const std::string user = "load-user";
const std::string le = "11111111-1111-4111-8111-111111111111";
const std::string doctor = "22222222-2222-4222-8222-222222222222";

std::string patient_id(int i) {
  char b[40];
  std::snprintf(b, sizeof b, "00000000-0000-4000-8000-%012d", i);
  return b;
}

std::string episode_id(int i) {
  char b[40];
  std::snprintf(b, sizeof b, "e0000000-0000-4000-8000-%012d", i);
  return b;
}

std::string today() {
  auto t = std::time(nullptr);
  char b[16];
  std::strftime(b, sizeof b, "%Y-%m-%d", std::gmtime(&t));
  return b;
}

json coding_ref(const std::string& code, const std::string& value) {
  return {{"identifier",
           {{"type", {{"coding", {{{"system", "eHealth/resources"}, {"code", code}}}}}},
            {"value", value}}}};
}

using medflow::test::endpoint;
using medflow::test::parse_url;

httplib::Headers consumer_headers() {
  return {{"x-consumer-id", user}, {"x-consumer-metadata", "{\"client_id\":\"" + le + "\"}"}};
}

// Sends until an HTTP answer arrives (medflowd may be down or restarting), on a kept-alive
// connection per thread, replaced after a failure; `once`: a single attempt (the result is
// then empty when no answer came).
httplib::Result send(const endpoint& ep, const std::string& method, const std::string& path,
                     const std::string& body, bool once = false) {
  thread_local std::unique_ptr<httplib::Client> client;
  for (;;) {
    if (!client) {
      client = std::make_unique<httplib::Client>(ep.host, ep.port);
      client->set_connection_timeout(2);
      client->set_tcp_nodelay(true);
      client->set_read_timeout(10);
      client->set_keep_alive(true);
    }
    auto& cli = *client;
    httplib::Result r = method == "POST"    ? cli.Post(path.c_str(), consumer_headers(), body, "application/json")
                        : method == "PATCH" ? cli.Patch(path.c_str(), consumer_headers(), body, "application/json")
                        : method == "PUT"   ? cli.Put(path.c_str(), consumer_headers(), body, "application/json")
                                            : cli.Get(path.c_str(), consumer_headers());
    if (r) return r;
    client.reset();
    if (once) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int setup(const endpoint& ep, int patients) {
  auto put = [&](const std::string& path, const json& body) {
    auto r = send(ep, "PUT", path, body.dump());
    if (r->status != 200) {
      std::cerr << "PUT " << path << " -> " << r->status << " " << r->body << "\n";
      std::exit(1);
    }
  };
  put("/admin/legal_entities/" + le, {{"status", "ACTIVE"}});
  put("/admin/employees/" + doctor, {{"legal_entity_id", le}, {"employee_type", "DOCTOR"},
                                     {"status", "APPROVED"}, {"user_id", user}});
  for (int i = 0; i < patients; ++i) put("/admin/persons/" + patient_id(i), {{"status", "active"}});
  return 0;
}

int run(const endpoint& ep, int patients, int updates, const std::string& journal, int threads,
        const std::string& stop_file = "", int pause_ms = 0) {
  std::ofstream out(journal, std::ios::app);
  std::mutex out_mutex;
  const char* first_env = std::getenv("ME_LOAD_FIRST");
  int first = first_env ? std::stoi(first_env) : 0;
  std::atomic<int> next_patient{first};
  auto worker = [&] {
    for (int i = next_patient++; i < first + patients; i = next_patient++) {
      auto pid = patient_id(i), eid = episode_id(i);
      for (int k = 0; k <= updates; ++k) {
        if (!stop_file.empty() && std::filesystem::exists(stop_file)) return;
        if (pause_ms > 0 && k > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
        auto submit = [&]() -> httplib::Result {
        if (k == 0) {
          json body = {{"id", eid},
                       {"type", {{"system", "eHealth/episode_types"}, {"code", "primary_care"}}},
                       {"status", "active"},
                       {"name", "name 0"},
                       {"managing_organization", coding_ref("legal_entity", le)},
                       {"period", {{"start", today()}}},
                       {"care_manager", coding_ref("employee", doctor)}};
          return send(ep, "POST", "/api/patients/" + pid + "/episodes", body.dump());
        }
        return send(ep, "PATCH", "/api/patients/" + pid + "/episodes/" + eid,
                    json{{"name", "name " + std::to_string(k)}}.dump());
        };
        auto r = submit();
        if (r->status != 202 && r->status != 200) {
          std::cerr << "job for " << pid << " k=" << k << " -> " << r->status << " " << r->body << "\n";
          std::exit(1);
        }
        auto href = json::parse(r->body)["data"]["links"][0]["href"].get<std::string>();
        auto job = href.substr(href.rfind('/') + 1);
        {
          std::lock_guard<std::mutex> g{out_mutex};
          out << pid << ' ' << k << ' ' << job << '\n';
          out.flush();
        }
        // Updates need the episode to exist when they are requested: wait for the create.
        if (k == 0)
          while (json::parse(send(ep, "GET", "/api/jobs/" + job, "")->body)["data"]["status"] ==
                 "pending")
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker);
  for (auto& t : ts) t.join();
  return 0;
}

struct entry {
  std::string patient;
  int k;
  std::string job;
};

std::vector<entry> read_journal(const std::string& path) {
  std::vector<entry> out;
  std::ifstream in(path);
  entry e;
  while (in >> e.patient >> e.k >> e.job) out.push_back(e);
  return out;
}

int wait_all(const endpoint& ep, const std::string& journal) {
  auto entries = read_journal(journal);
  std::set<std::string> left;
  for (auto& e : entries) left.insert(e.job);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!left.empty()) {
    for (auto it = left.begin(); it != left.end();) {
      auto r = send(ep, "GET", "/api/jobs/" + *it, "");
      auto st = json::parse(r->body)["data"].value("status", "");
      it = st == "pending" ? std::next(it) : left.erase(it);
    }
    if (left.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << left.size() << " jobs still pending after 60 s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "all " << entries.size() << " journaled answers finished\n";
  return 0;
}

// `db` is the SQLite file, or a PostgreSQL URL (postgresql://...).
int verify(const std::string& db_path, const std::string& journal) {
  using namespace medflow;
  store::database::options o;
  if (db_path.rfind("postgres", 0) == 0) {
    o.kind = store::backend::postgres;
    o.pg.url = db_path;
  } else {
    o.path = db_path;
  }
  store::database db{o};
  auto rd = db.reader();
  auto entries = read_journal(journal);
  std::map<std::string, int> last_k;         // patient -> k of its last answered update
  std::set<std::string> jobs;
  for (auto& e : entries) {
    last_k[e.patient] = std::max(last_k[e.patient], e.k);
    jobs.insert(e.job);
  }
  int failures = 0;
  auto problem = [&](const std::string& what) {
    if (++failures <= 20) std::cerr << "FAIL: " << what << "\n";
  };
  // Changes per job in one pass (me_resource_changes has no index on job_id).
  std::map<std::string, int64_t> changes_of;
  {
    auto q = rd->prepare("SELECT job_id, count(*) FROM me_resource_changes GROUP BY job_id");
    while (q.step()) changes_of[q.text(0)] = q.int64(1);
  }
  for (auto& id : jobs) {
    auto q = rd->prepare("SELECT status, status_code FROM me_jobs WHERE id=?");
    q.bind_all(id);
    if (!q.step()) {
      problem("job " + id + " answered 202 but is gone");
      continue;
    }
    auto status = q.int64(0);
    auto found = changes_of.find(id);
    auto n = found == changes_of.end() ? 0 : found->second;
    if (status == 0) problem("job " + id + " is still pending");
    if (status == 1 && n != 1) problem("job " + id + " processed with " + std::to_string(n) + " changes");
    if (status != 1 && n != 0) problem("job " + id + " failed but left " + std::to_string(n) + " changes");
  }
  for (auto& [patient, k] : last_k) {
    auto q = rd->prepare(store::sql(
        *rd,
        "SELECT json_extract(doc, '$.name'), json_extract(doc, '$.status') FROM me_entities "
        "WHERE kind='episode' AND patient_id=?",
        "SELECT doc::jsonb->>'name', doc::jsonb->>'status' FROM me_entities "
        "WHERE kind='episode' AND patient_id=?"));
    q.bind_all(patient);
    if (!q.step()) {
      problem("patient " + patient + " has no episode");
      continue;
    }
    auto want = "name " + std::to_string(k);
    if (q.text(0) != want) problem("patient " + patient + ": episode name " + q.text(0) + ", want " + want);
    if (q.text(1) != "active") problem("patient " + patient + ": episode " + q.text(1));
  }
  auto counts = rd->prepare("SELECT status, count(*) FROM me_jobs GROUP BY status ORDER BY status");
  std::cout << "jobs by status:";
  while (counts.step()) std::cout << " " << counts.int64(0) << "=" << counts.int64(1);
  std::cout << "; journaled " << jobs.size() << " jobs of " << last_k.size() << " patients\n";
  if (failures) std::cerr << failures << " problems\n";
  return failures ? 1 : 0;
}

int subscribe(const endpoint& ep, const std::string& topic) {
  auto r = send(ep, "POST", "/subscriptions", json{{"topic", topic}}.dump());
  if (r->status != 201) {
    std::cerr << "POST /subscriptions -> " << r->status << " " << r->body << "\n";
    return 1;
  }
  std::cout << json::parse(r->body)["id"].get<std::string>() << "\n";
  return 0;
}

using position = std::pair<std::string, int64_t>;  // (topic, partition)

int consume(const endpoint& ep, const std::string& sub, const std::string& journal,
            const std::string& done_file, int pause_ms) {
  std::ofstream out(journal, std::ios::app);
  std::map<position, int64_t> acked;  // next offset an ack answered 204 covers, at least
  std::set<std::tuple<std::string, int64_t, int64_t>> seen;
  int64_t deliveries = 0, again = 0, acks = 0, cut = 0;
  auto events_path = "/subscriptions/" + sub + "/events?max=1000";
  for (;;) {
    // Checked before the pull: an empty answer after it means everything was read.
    bool done = std::filesystem::exists(done_file);
    auto r = send(ep, "GET", events_path, "");
    if (r->status != 200) {
      std::cerr << "GET " << events_path << " -> " << r->status << " " << r->body << "\n";
      return 1;
    }
    auto answer = json::parse(r->body);
    const auto& events = answer["events"];
    for (const auto& e : events) {
      auto topic = e["topic"].get<std::string>();
      auto partition = e["partition"].get<int64_t>(), offset = e["offset"].get<int64_t>();
      auto a = acked.find({topic, partition});
      if (a != acked.end() && offset < a->second) {
        std::cerr << "FAIL: " << topic << "/" << partition << "/" << offset
                  << " delivered again after an ack up to " << a->second << " was answered\n";
        return 1;
      }
      ++deliveries;
      if (!seen.emplace(topic, partition, offset).second) ++again;
      out << topic << ' ' << partition << ' ' << offset << '\n';
    }
    out.flush();
    if (events.empty()) {
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    auto ack = send(ep, "POST", "/subscriptions/" + sub + "/ack",
                    json{{"cursor", answer["cursor"]}}.dump(), /*once=*/true);
    if (!ack) {  // medflowd went down: whether the ack was applied is unknown
      ++cut;
      continue;
    }
    if (ack->status != 204) {
      std::cerr << "POST /subscriptions/" << sub << "/ack -> " << ack->status << " " << ack->body
                << "\n";
      return 1;
    }
    ++acks;
    for (const auto& e : events) {
      auto& next = acked[{e["topic"].get<std::string>(), e["partition"].get<int64_t>()}];
      next = std::max(next, e["offset"].get<int64_t>() + 1);
    }
  }
  std::cout << "subscription: " << deliveries << " deliveries, " << seen.size()
            << " distinct events, " << again << " delivered again, " << acks << " acks answered, "
            << cut << " cut off by a kill\n";
  return 0;
}

int verify_subscription(const std::string& db_path, const std::string& topic,
                        const std::string& journal) {
  using namespace medflow;
  store::connection c{db_path, store::connection::mode::read_only, {}};
  std::set<std::pair<int64_t, int64_t>> records, delivered;
  {
    auto q = c.prepare(
        "SELECT r.part, r.off FROM bus_records r JOIN bus_topics t ON t.id = r.topic_id "
        "WHERE t.name = ?");
    q.bind_all(topic);
    while (q.step()) records.emplace(q.int64(0), q.int64(1));
  }
  {
    std::ifstream in(journal);
    std::string t;
    int64_t partition, offset;
    while (in >> t >> partition >> offset) {
      if (t != topic) {
        std::cerr << "FAIL: delivered a record of " << t << ", not of " << topic << "\n";
        return 1;
      }
      delivered.emplace(partition, offset);
    }
  }
  int64_t missing = 0, phantom = 0;
  for (auto& r : records)
    if (!delivered.count(r) && ++missing <= 5)
      std::cerr << "FAIL: " << topic << "/" << r.first << "/" << r.second << " never delivered\n";
  for (auto& d : delivered)
    if (!records.count(d) && ++phantom <= 5)
      std::cerr << "FAIL: delivered " << topic << "/" << d.first << "/" << d.second
                << ", which is not on the topic\n";
  std::cout << "subscription: " << records.size() << " records on " << topic << ", "
            << delivered.size() << " delivered, " << missing << " never delivered, " << phantom
            << " not on the topic\n";
  return records.empty() || missing || phantom ? 1 : 0;
}

int wait_db(const std::string& db_path, int seconds) {
  using namespace medflow;
  store::connection c{db_path, store::connection::mode::read_only, {}};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    int64_t pending = 0;
    {
      auto q = c.prepare("SELECT count(*) FROM me_jobs WHERE status=0");
      if (q.step()) pending = q.int64(0);
    }
    if (pending == 0) {
      std::cout << "no job pending\n";
      return 0;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << pending << " jobs still pending after " << seconds << " s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int main(int argc, char** argv) {
  medflow::log::set_level(medflow::log::level::error);
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 3 && a[0] == "setup") return setup(parse_url(a[1]), std::stoi(a[2]));
  if (a.size() >= 6 && a.size() <= 8 && a[0] == "run")
    return run(parse_url(a[1]), std::stoi(a[2]), std::stoi(a[3]), a[4], std::stoi(a[5]),
               a.size() > 6 ? a[6] : "", a.size() > 7 ? std::stoi(a[7]) : 0);
  if (a.size() == 3 && a[0] == "wait_db") return wait_db(a[1], std::stoi(a[2]));
  if (a.size() == 3 && a[0] == "wait") return wait_all(parse_url(a[1]), a[2]);
  if (a.size() == 3 && a[0] == "verify") return verify(a[1], a[2]);
  if (a.size() == 3 && a[0] == "subscribe") return subscribe(parse_url(a[1]), a[2]);
  if ((a.size() == 5 || a.size() == 6) && a[0] == "consume")
    return consume(parse_url(a[1]), a[2], a[3], a[4], a.size() > 5 ? std::stoi(a[5]) : 0);
  if (a.size() == 4 && a[0] == "verify_subscription")
    return verify_subscription(a[1], a[2], a[3]);
  std::cerr << "usage: me_load setup URL N | run URL N UPDATES JOURNAL THREADS [STOP [PAUSE_MS]]"
               " | wait URL JOURNAL | wait_db DB SECONDS | verify DB JOURNAL"
               " | subscribe URL TOPIC | consume URL SUB JOURNAL DONE_FILE [PAUSE_MS]"
               " | verify_subscription DB TOPIC JOURNAL\n";
  return 2;
}
