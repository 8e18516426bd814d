// consumer_crash: drives the real consumer stack (supervisor -> partition_consumer ->
// keyed_sequencer -> key_worker) on the real embedded bus, for the kill -9 test in
// tests/e2e/consumer_crash.sh.
//
//   consumer_crash produce DB N     topic "crash" (4 partitions), N records keyed k0..k49
//   consumer_crash consume DB N [US] consumes until all N records are seen, then exits 0;
//                                   each record's store work takes US microseconds more;
//                                   prints "start P C" (committed offset at start) and
//                                   "first P F" (lowest offset delivered in this run)
//   consumer_crash status DB        prints "seen S deliveries D violations V"
//
// The handler records every delivery in the store (table `seen`) and checks per-key order:
// a record's value must be larger than the last value handled for its key, unless it is a
// redelivery of a record already seen.
#include "actors/partition_consumer.hpp"
#include "actors/supervisor.hpp"
#include "bus/embedded_log.hpp"
#include "core/log.hpp"
#include "store/database.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

using namespace medflow;

namespace {

const char* topic = "crash";
const int partitions = 4;

std::unique_ptr<store::database> open(const std::string& path) {
  store::database::options o;
  o.path = path;
  o.conn.synchronous = "NORMAL";
  o.group_commit_max = 200;
  auto db = std::make_unique<store::database>(o);
  auto migs = bus::embedded_log::migrations();
  migs.push_back({"crash", 1, "seen",
                  "CREATE TABLE seen (part INTEGER, off INTEGER, key TEXT, value INTEGER,"
                  " deliveries INTEGER NOT NULL, PRIMARY KEY (part, off));"
                  "CREATE TABLE last (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                  "CREATE TABLE violations (part INTEGER, off INTEGER, detail TEXT);"});
  db->migrate(migs);
  return db;
}

int64_t scalar(store::database& db, const std::string& sql) {
  auto r = db.reader();
  auto q = r->prepare(sql);
  q.step();
  return q.is_null(0) ? 0 : q.int64(0);
}

int produce(const std::string& path, int n) {
  auto db = open(path);
  bus::embedded_log log{*db};
  log.create_topic(topic, partitions);
  for (int done = 0; done < n; done += 500) {
    std::vector<bus::message> msgs;
    for (int i = done; i < std::min(n, done + 500); ++i)
      msgs.push_back({topic, "k" + std::to_string(i % 50), std::to_string(i), {}, {}});
    log.append(msgs);
  }
  return 0;
}

int consume(const std::string& path, int n, int delay_us) {
  auto db = open(path);
  bus::embedded_log log{*db};
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};

  std::mutex first_mutex;
  std::map<int32_t, int64_t> first_delivered;
  auto handlers = std::make_shared<actors::record_handlers>();
  handlers->key_of = [](const bus::record& r) { return *r.key; };
  handlers->process = [&](const bus::record& r, done_fn done) {
    {
      std::lock_guard<std::mutex> g{first_mutex};
      auto [it, fresh] = first_delivered.emplace(r.partition, r.offset);
      if (!fresh) it->second = std::min(it->second, r.offset);
    }
    int64_t value = std::stoll(r.value);
    db->write().submit(
        [r, value, delay_us](store::tx& t) {
          // Stands for heavier domain work, so that kills land in the middle of batches.
          if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
          auto seen = t.conn.prepare("SELECT deliveries FROM seen WHERE part=? AND off=?");
          seen.bind_all(r.partition, r.offset);
          bool redelivery = seen.step();
          if (redelivery) {
            t.conn.prepare("UPDATE seen SET deliveries=deliveries+1 WHERE part=? AND off=?")
                .bind_all(r.partition, r.offset)
                .exec();
            return;
          }
          auto last = t.conn.prepare("SELECT value FROM last WHERE key=?");
          last.bind_all(*r.key);
          if (last.step() && last.int64(0) >= value)
            t.conn.prepare("INSERT INTO violations VALUES (?, ?, ?)")
                .bind_all(r.partition, r.offset,
                          "key " + *r.key + ": " + std::to_string(value) + " after " +
                              std::to_string(last.int64(0)))
                .exec();
          t.conn.prepare("INSERT INTO seen VALUES (?, ?, ?, ?, 1)")
              .bind_all(r.partition, r.offset, *r.key, value)
              .exec();
          t.conn.prepare("INSERT INTO last VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
              .bind_all(*r.key, value)
              .exec();
        },
        std::move(done));
  };
  handlers->dead_letter = [](const bus::record&, const std::string&, done_fn done) {
    done(nullptr);
  };
  std::shared_ptr<const actors::record_handlers> hs = handlers;

  std::vector<caf::actor> sups;
  for (int32_t p = 0; p < partitions; ++p) {
    std::cout << "start " << p << " " << log.committed("g", topic, p).value_or(0) << std::endl;
    actors::consumer_config c;
    c.group = "g";
    c.topic = topic;
    c.partition = p;
    c.fetch_max = 50;
    auto tracker = std::make_shared<actors::attempt_tracker>();
    bus::log* bus = &log;
    sups.push_back(sys.spawn(
        actors::supervisor, "consumer " + std::to_string(p),
        [c, bus, hs, tracker](caf::actor_system& s) {
          return s.spawn(actors::partition_consumer, c, bus, hs, tracker);
        },
        actors::restart_policy{}, nullptr));
  }
  // Done when every record was seen and every partition committed its end.
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (scalar(*db, "SELECT count(*) FROM seen") < n) continue;
    bool all_committed = true;
    for (int32_t p = 0; p < partitions; ++p)
      all_committed = all_committed && log.committed("g", topic, p).value_or(0) ==
                                           log.end_offset(topic, p);
    if (all_committed) break;
  }
  {
    std::lock_guard<std::mutex> g{first_mutex};
    for (auto& [p, off] : first_delivered) std::cout << "first " << p << " " << off << std::endl;
  }
  for (auto& s : sups) caf::anon_send(s, actors::drain_atom::value);
  return 0;
}

int print_status(const std::string& path) {
  auto db = open(path);
  std::cout << "seen " << scalar(*db, "SELECT count(*) FROM seen") << " deliveries "
            << scalar(*db, "SELECT sum(deliveries) FROM seen") << " violations "
            << scalar(*db, "SELECT count(*) FROM violations") << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::set_level(log::level::error);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "produce" && argc == 4) return produce(argv[2], std::atoi(argv[3]));
  if (mode == "consume" && (argc == 4 || argc == 5))
    return consume(argv[2], std::atoi(argv[3]), argc == 5 ? std::atoi(argv[4]) : 0);
  if (mode == "status" && argc == 3) return print_status(argv[2]);
  std::cerr << "usage: consumer_crash produce DB N | consume DB N [US] | status DB\n";
  return 2;
}
