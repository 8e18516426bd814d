// bus_bench: the embedded bus's append and fetch rates next to a plain SQLite loop writing and
// reading the same rows in the same run, on the same disk. The ratio is the figure.
//
// usage: bus_bench [--records N] [--batch B] [--threads T] [--synchronous FULL|NORMAL]
//                  [--value-bytes V] [--dir DIR]
#include "bench_util.hpp"
#include "bus/embedded_log.hpp"
#include "core/clock.hpp"
#include "store/database.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace medflow;

namespace {

struct args {
  int records = 200000;
  int batch = 500;
  int threads = 16;
  int value_bytes = 200;
  std::string synchronous = "FULL";
  std::string dir;
};

args parse(int argc, char** argv) {
  bench::command_line cl(argc, argv, 0,
                         {"--records", "--batch", "--threads", "--value-bytes", "--synchronous",
                          "--dir"},
                         "bus_bench [--records N] [--batch B] [--threads T] "
                         "[--synchronous FULL|NORMAL] [--value-bytes V] [--dir DIR]");
  args a;
  a.records = cl.integer("--records", a.records);
  a.batch = cl.integer("--batch", a.batch);
  a.threads = cl.integer("--threads", a.threads);
  a.value_bytes = cl.integer("--value-bytes", a.value_bytes);
  a.synchronous = cl.text("--synchronous", a.synchronous);
  a.dir = cl.text("--dir", a.dir);
  return a;
}

double seconds_since(int64_t start_us) { return static_cast<double>(clock::steady_us() - start_us) / 1e6; }

std::unique_ptr<store::database> open_db(const std::string& path, const args& a) {
  store::database::options o;
  o.path = path;
  o.conn.synchronous = a.synchronous;
  auto db = std::make_unique<store::database>(o);
  db->migrate(bus::embedded_log::migrations());
  return db;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  std::filesystem::path dir = a.dir.empty() ? std::filesystem::temp_directory_path() / "medflow-bus-bench" : std::filesystem::path(a.dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string value(static_cast<size_t>(a.value_bytes), 'x');
  value.front() = '"';
  value.back() = '"';
  std::printf("bus_bench: %d records of %d bytes, batches of %d, synchronous=%s, dir %s\n",
              a.records, a.value_bytes, a.batch, a.synchronous.c_str(), dir.c_str());

  // 1. Plain SQLite: the same rows into a table of the same shape, B rows per transaction.
  double plain_insert, plain_read;
  {
    auto db = open_db((dir / "plain.db").string(), a);
    db->write().run([](store::tx& t) {
      t.conn.exec(
          "CREATE TABLE plain (topic_id INTEGER NOT NULL, part INTEGER NOT NULL, off INTEGER NOT "
          "NULL, ts INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT, PRIMARY KEY "
          "(topic_id, part, off)) WITHOUT ROWID");
    });
    auto start = clock::steady_us();
    for (int done = 0; done < a.records; done += a.batch) {
      db->write().run([&](store::tx& t) {
        auto q = t.conn.prepare("INSERT INTO plain VALUES (1, 0, ?, ?, ?, ?, NULL)");
        for (int i = done; i < std::min(a.records, done + a.batch); ++i) {
          q.bind(1, static_cast<int64_t>(i)).bind(2, clock::now_ms()).bind_blob(3, "patient-" + std::to_string(i % 1000));
          q.bind_blob(4, value);
          q.exec();
          q.reset();
        }
      });
    }
    plain_insert = a.records / seconds_since(start);
    start = clock::steady_us();
    int64_t read = 0;
    auto r = db->reader();
    for (int64_t off = 0; off < a.records;) {
      auto q = r->prepare("SELECT off, ts, key, value, headers FROM plain WHERE topic_id=1 AND part=0 AND off>=? ORDER BY off LIMIT ?");
      q.bind_all(off, static_cast<int64_t>(a.batch));
      int64_t n = 0;
      while (q.step()) {
        std::string k = q.text(2), v = q.text(3);
        ++n;
      }
      read += n;
      off += n;
      if (n == 0) break;
    }
    plain_read = read / seconds_since(start);
  }

  // 2. The embedded bus: append() of B records per call (one transaction each), then fetch().
  double bus_append, bus_fetch, bus_group;
  {
    auto db = open_db((dir / "bus.db").string(), a);
    bus::embedded_log log{*db};
    log.create_topic("bench", 1);
    auto start = clock::steady_us();
    for (int done = 0; done < a.records; done += a.batch) {
      std::vector<bus::message> msgs;
      for (int i = done; i < std::min(a.records, done + a.batch); ++i)
        msgs.push_back({"bench", "patient-" + std::to_string(i % 1000), value, {}, 0});
      log.append(msgs);
    }
    bus_append = a.records / seconds_since(start);
    start = clock::steady_us();
    int64_t read = 0;
    for (int64_t off = 0; off < a.records;) {
      auto recs = log.fetch("bench", 0, off, static_cast<size_t>(a.batch));
      if (recs.empty()) break;
      read += static_cast<int64_t>(recs.size());
      off = recs.back().offset + 1;
    }
    bus_fetch = read / seconds_since(start);

    // 3. Group commit: T threads each appending one record per call (what HTTP requests do).
    log.create_topic("bench.group", 8);
    int per_thread = a.records / a.threads / 4;
    start = clock::steady_us();
    std::vector<std::thread> ts;
    for (int t = 0; t < a.threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i)
          log.append({{"bench.group", "p" + std::to_string(t * per_thread + i), value, {}, {}}});
      });
    for (auto& th : ts) th.join();
    bus_group = per_thread * a.threads / seconds_since(start);
  }

  std::printf("\n%-58s %12s\n", "what", "records/s");
  std::printf("%-58s %12.0f\n", "plain SQLite insert, same rows, batch per transaction", plain_insert);
  std::printf("%-58s %12.0f  (%.2f of plain)\n", "bus append (embedded), batch per call", bus_append,
              bus_append / plain_insert);
  std::printf("%-58s %12.0f\n", "plain SQLite range read, same rows", plain_read);
  std::printf("%-58s %12.0f  (%.2f of plain)\n", "bus fetch (embedded)", bus_fetch, bus_fetch / plain_read);
  std::printf("%-58s %12.0f\n",
              ("bus append, " + std::to_string(a.threads) + " threads x 1 record per call (group commit)").c_str(),
              bus_group);
  std::filesystem::remove_all(dir);
  return 0;
}
