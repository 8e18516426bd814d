#include "app/daemon.hpp"

#include "actors/outbox_relay.hpp"
#include "actors/protocol.hpp"
#include "actors/periodic.hpp"
#include "actors/spawn.hpp"
#include "app/flows.hpp"
#include "bus/consumer_lag.hpp"
#include "bus/embedded_log.hpp"
#include "bus/kafka_log.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/threads.hpp"
#include "http/ops_routes.hpp"
#include "http/server.hpp"
#include "http/topic_routes.hpp"
#include "store/database.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <unistd.h>
#include <thread>

namespace medflow::app {

namespace {

actors::restart_policy restart_policy_from(const config& c) {
  actors::restart_policy p;
  p.backoff_initial = std::chrono::milliseconds(c.integer("supervisor.backoff_initial_ms"));
  p.backoff_max = std::chrono::milliseconds(c.integer("supervisor.backoff_max_ms"));
  p.max_restarts = static_cast<size_t>(c.integer("supervisor.max_restarts"));
  p.window = std::chrono::milliseconds(c.integer("supervisor.window_ms"));
  return p;
}

bool flow_enabled(const config& c, const std::string& flow) {
  auto key = flow + ".enabled";
  for (auto& k : config_keys())
    if (k.name == key) return c.boolean(key);
  return true;
}

}  // namespace

daemon::daemon(config cfg) : cfg_(std::move(cfg)), flows_(make_flows()) {}

daemon::~daemon() { stop(); }

int daemon::port() const { return http_ ? http_->port() : -1; }

void daemon::start() {
  log::level lvl;
  if (log::parse_level(cfg_.string("log.level"), lvl)) log::set_level(lvl);
  log::format fmt;
  if (log::parse_format(cfg_.string("log.format"), fmt)) log::set_format(fmt);
  // Before anything reads JSON from outside (definition files, keys, requests, records).
  set_max_json_depth(static_cast<size_t>(cfg_.integer("json.max_depth")));

  // -- store -------------------------------------------------------------------------------
  std::filesystem::path dir = cfg_.string("store.data_dir");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + dir.string() + ": " + ec.message());
  store::database::options dbo;
  dbo.path = (dir / "medflow.db").string();
  dbo.group_commit_max = static_cast<size_t>(cfg_.integer("store.group_commit_max"));
  if (cfg_.string("store.backend") == "postgres") {
    dbo.kind = store::backend::postgres;
    dbo.pg.url = cfg_.string("store.postgres.url");  // or read from store.postgres.url_file
    dbo.pg.connect_timeout_s = static_cast<int>(cfg_.integer("store.postgres.connect_timeout_s"));
    dbo.pg.statement_timeout_ms =
        static_cast<int>(cfg_.integer("store.postgres.statement_timeout_ms"));
    dbo.max_readers = static_cast<size_t>(cfg_.integer("store.postgres.pool_size"));
    dbo.probe.interval = std::chrono::milliseconds(cfg_.integer("store.disk_full_probe_ms"));
  } else {
    dbo.conn.synchronous = cfg_.string("store.synchronous");
    dbo.conn.busy_timeout_ms = static_cast<int>(cfg_.integer("store.busy_timeout_ms"));
    dbo.max_readers = static_cast<size_t>(cfg_.integer("store.readers"));
    auto check = cfg_.string("store.startup_check");
    dbo.check = check == "off"    ? store::database::integrity_check::off
                : check == "full" ? store::database::integrity_check::full
                                  : store::database::integrity_check::quick;
    dbo.identity_marker = cfg_.boolean("store.identity_marker");
    dbo.probe.space_file = (dir / "medflow.db.space-probe").string();
    dbo.probe.bytes = static_cast<size_t>(cfg_.integer("store.disk_full_probe_bytes"));
    dbo.probe.interval = std::chrono::milliseconds(cfg_.integer("store.disk_full_probe_ms"));
  }
  db_ = std::make_unique<store::database>(dbo);
  std::vector<store::migration> migs = bus::embedded_log::migrations();
  for (auto& f : flows_) {
    // On PostgreSQL a flow switched off (<flow>.enabled=false) gets no tables: a flow whose
    // store does not run on PostgreSQL yet can be left out of a shared deployment.
    if (dbo.kind == store::backend::postgres && !flow_enabled(cfg_, f->name())) continue;
    auto m = f->migrations();
    migs.insert(migs.end(), m.begin(), m.end());
  }
  db_->migrate(migs);
  health_.add_check("store", [this] {
    if (!db_->healthy()) return std::string("database not readable");
    auto why = db_->unwritable();
    return why.empty() ? why : "cannot write: " + why;
  });
  if (dbo.kind == store::backend::postgres)
    log::info("medflowd", "store ", db_->describe());
  else
    log::info("medflowd", "store ", dbo.path, " (WAL, synchronous=", dbo.conn.synchronous, ")");

  // -- actor system ----------------------------------------------------------------------------
  caf_cfg_ = std::make_unique<caf::actor_system_config>();
  auto threads = cfg_.integer("actors.threads");
  if (threads <= 0) threads = std::max(2u, std::thread::hardware_concurrency());
  caf_cfg_->set("scheduler.max-threads", static_cast<size_t>(threads));
  caf_cfg_->set("scheduler.policy", cfg_.string("actors.scheduler") == "sharing"
                                        ? caf::atom("sharing")
                                        : caf::atom("stealing"));
  // Work stealing: a worker that ran out of work polls briefly (CAF's aggressive phase, 100
  // polls) before it sleeps, so the next message of a request (a source's answer, the
  // aggregator's reply) rarely waits for a thread to wake up (aggregation p99 overhead 17 -> 9 ms
  // against the sharing policy, bench/README.md). CAF's moderate phase after it (500 sleeps of
  // 50 us) is skipped: under load it cost ~12 % of medflowd's CPU in nanosleep wake-ups, when
  // idle ~3 % of a core, and gave no measurable latency back.
  caf_cfg_->set("work-stealing.moderate-poll-attempts", size_t{0});
  sys_ = std::make_unique<caf::actor_system>(*caf_cfg_);
  // CAF 0.17 hands its timer thread ("caf.clock") an event every time an actor ends
  // (local_actor::cleanup cancels the actor's timeouts there). With 7 actors per aggregated
  // request that is ~13,600 wake-ups/s at 1,950 requests/s, and a woken thread of the normal
  // policy preempts the one that woke it: ~2,600 times/s a CAF worker was pushed off its core
  // in the middle of a request by a thread with nothing urgent to do. Under SCHED_BATCH the
  // timer thread keeps its share of the CPU but waits for a free core or the end of the running
  // thread's slice (a few ms when every core is busy): our timers (100 ms and longer: commit
  // intervals, backoffs, timeouts) do not notice. Measured in bench/README.md (aggregation p99
  // and CPU; medical events and batches unchanged).
  if (cfg_.boolean("actors.clock_batch") &&
      threads::set_batch("caf.clock", std::chrono::milliseconds(1000)) == 0)
    log::warn("medflowd", "CAF's timer thread (caf.clock) left under the normal policy");

  // -- bus ---------------------------------------------------------------------------------------
  if (cfg_.string("bus.backend") == "kafka") {
    bus::kafka_options ko;
    ko.brokers = cfg_.string("bus.kafka.brokers");
    ko.client_id = cfg_.string("bus.kafka.client_id");
    ko.group_id = cfg_.string("bus.kafka.group_id");
    ko.linger_ms = static_cast<int>(cfg_.integer("bus.kafka.linger_ms"));
    ko.timeout_ms = static_cast<int>(cfg_.integer("bus.kafka.timeout_ms"));
    ko.properties = cfg_.entries("bus.kafka.properties");
    ko.session_timeout_ms = static_cast<int>(cfg_.integer("bus.kafka.session_timeout_ms"));
    // The partition owner stops a consumer at bus.release_timeout_ms; its last commit may
    // take a Kafka call more.
    ko.release_timeout_ms =
        static_cast<int>(cfg_.integer("bus.release_timeout_ms")) + ko.timeout_ms;
    // The host and the data directory: an instance restarted keeps its outbox rows' origin.
    {
      char host[256] = {};
      if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
      std::error_code ec;
      auto dir = std::filesystem::weakly_canonical(cfg_.string("store.data_dir"), ec);
      ko.instance = std::string(host) + ":" + (ec ? cfg_.string("store.data_dir") : dir.string());
    }
    auto kl = std::make_unique<bus::kafka_log>(ko, *db_);
    auto why = kl->check();
    if (!why.empty()) throw std::runtime_error("Kafka at " + ko.brokers + " is not reachable: " + why);
    actors::relay_settings rs;
    rs.batch = static_cast<size_t>(cfg_.integer("bus.kafka.relay_batch"));
    relay_ = sys_->spawn<caf::detached>(actors::outbox_relay,
                                        std::shared_ptr<actors::outbox_port>(actors::make_outbox_port(*kl)),
                                        rs);
    // A weak handle: the bus outlives the actor system, and a strong one would keep the
    // detached relay (and so the actor system's shutdown) waiting forever.
    caf::weak_actor_ptr relay = relay_->ctrl();
    kl->on_outbox([relay] {
      if (auto strong = relay.lock())
        caf::anon_send(caf::actor_cast<caf::actor>(strong), actors::wake_atom::value);
    });
    bus_ = std::move(kl);
    log::info("medflowd", "bus: kafka at ", ko.brokers);
  } else {
    auto el = std::make_unique<bus::embedded_log>(*db_);
    if (cfg_.string("store.startup_check") != "off") {
      auto problems = el->verify();
      if (!problems.empty())
        throw std::runtime_error("the embedded bus in " + dbo.path + " is inconsistent: " +
                                 problems + "; medflowd does not start on it. Stop medflowd, "
                                 "restore " + dbo.path + " from a backup, then start again");
    }
    auto retention_h = cfg_.integer("bus.embedded.retention_hours");
    if (retention_h > 0) {
      auto* raw = el.get();
      owned_.push_back(sys_->spawn<caf::detached>(
          actors::periodic, "bus retention", std::chrono::milliseconds(3600 * 1000),
          [raw, retention_h] {
            auto n = raw->delete_older_than(clock::now_ms() - retention_h * 3600 * 1000);
            if (n > 0) log::info("bus", "retention deleted ", n, " records");
          }));
    }
    bus_ = std::move(el);
    log::info("medflowd", "bus: embedded (SQLite)");
  }
  health_.add_check("bus", [this] { return bus_->check(); });

  // -- HTTP and flows ----------------------------------------------------------------------------
  http_ = std::make_unique<http::server>(http::server::options_from(cfg_));
  http::add_ops_routes(*http_, health_);
  lag_collector_ = bus::export_consumer_lag(*bus_, metrics::registry::global());
  http::add_topic_routes(*http_, *bus_, static_cast<int>(cfg_.integer("bus.default_partitions")),
                         static_cast<size_t>(cfg_.integer("bus.fetch_max_bytes")));
  runtime_ = std::make_unique<runtime>(runtime{
      cfg_, *db_, *bus_, *sys_, health_, *http_, restart_policy_from(cfg_), [this](caf::actor a) {
        std::lock_guard<std::mutex> g{owned_mutex_};
        owned_.push_back(std::move(a));
      }});
  for (auto& f : flows_) {
    f->start(*runtime_);
    log::info("medflowd", "flow ", f->name(), " started");
  }
  heartbeat_ = actors::spawn_without_args(*sys_, [](caf::event_based_actor*) -> caf::behavior {
    return {[](actors::ping_atom) { return actors::ping_atom::value; }};
  });
  http_->start();
  started_ = true;
}

void daemon::begin_stop() { health_.set_problem("shutdown", "medflowd is stopping"); }

bool daemon::alive(std::chrono::milliseconds limit) {
  if (!started_ || stopped_ || !db_->healthy()) return false;
  caf::scoped_actor self{*sys_};
  bool answered = false;
  self->request(heartbeat_, limit, actors::ping_atom::value)
      .receive([&](actors::ping_atom) { answered = true; }, [&](caf::error&) {});
  return answered;
}

void daemon::stop() {
  stop(std::chrono::steady_clock::now() +
       std::chrono::milliseconds(cfg_.integer("shutdown.timeout_ms")));
}

void daemon::stop(std::chrono::steady_clock::time_point deadline) {
  if (stopped_) return;
  stopped_ = true;
  begin_stop();
  auto left = [deadline] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  };
  // 1. No new requests; in-flight ones finish (their writes are committed by then). Half of
  // the time left at most, so the actors keep the other half to drain.
  if (http_) http_->stop(static_cast<int>(left().count() / 2));
  // 2. Consumers and other owned actors finish what they hold and commit, newest first.
  if (sys_) {
    caf::scoped_actor self{*sys_};
    std::vector<caf::actor> all;
    {
      std::lock_guard<std::mutex> g{owned_mutex_};
      all.assign(owned_.rbegin(), owned_.rend());
    }
    if (relay_) all.push_back(relay_);  // last: it forwards what the others wrote
    if (heartbeat_) self->send_exit(heartbeat_, caf::exit_reason::user_shutdown);
    for (auto& a : all) {
      self->monitor(a);
      self->send(a, actors::drain_atom::value);
      bool down = false;
      self->receive_while([&] { return !down; })(
          [&](caf::down_msg& dm) {
            if (dm.source == a.address()) down = true;
          },
          caf::after(left()) >> [&] {
            log::warn("medflowd", "an actor did not drain before the shutdown deadline "
                      "(shutdown.timeout_ms); stopping it");
            self->send_exit(a, caf::exit_reason::kill);
            down = true;
          });
    }
  }
  // 3. Leave the consumer groups: the partitions go to the other instances now (nothing is
  // left to hand over), and no rebalance reaches the actors any more.
  if (bus_) {
    try {
      bus_->leave_groups();
    } catch (const std::exception& e) {
      log::warn("medflowd", "leaving the consumer groups: ", e.what());
    }
  }
  {
    std::lock_guard<std::mutex> g{owned_mutex_};
    owned_.clear();
  }
  relay_ = nullptr;
  heartbeat_ = nullptr;
  sys_.reset();  // waits for the remaining actors
  if (lag_collector_) metrics::registry::global().remove_collector(lag_collector_);
  lag_collector_ = 0;
  if (bus_) bus_->close();
  bus_.reset();
  if (db_) db_->close();
  db_.reset();
}

}  // namespace medflow::app
