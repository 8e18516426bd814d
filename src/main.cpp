// medflowd: reads the configuration, starts the daemon, serves until SIGTERM or SIGINT, then
// stops gracefully within shutdown.timeout_ms (exit 0; past it, exit 1 anyway). SIGHUP re-reads
// the configuration and applies what can change while running (the log level). A configuration
// error exits 2, a start-up failure 1. Under a service manager ($NOTIFY_SOCKET) it reports
// READY=1, STOPPING=1 and, when asked for ($WATCHDOG_USEC), WATCHDOG=1.
#include "app/daemon.hpp"
#include "bus/kafka_log.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "flows/resource_events/selector_cli.hpp"
#include "net/service_notify.hpp"

#include <sys/resource.h>

#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>

extern char** environ;

#ifdef MEDFLOW_WITH_JEMALLOC
// jemalloc's settings, read once at its start: a background thread gives freed pages back to
// the system within about a second (dirty pages kept 1 s, none kept "muzzy"), so memory comes
// back after a burst (hostile bodies, big answers) as it did with glibc, without waiting for
// the next allocation. MALLOC_CONF in the environment still overrides these.
extern "C" {
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace {

using namespace medflow;

// SIGHUP: the configuration again from the same file, environment and flags; what can change
// while running changes, the rest waits for the next start. A bad file changes nothing.
void reload(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  try {
    auto fresh = config::load(args, env);
    log::level lvl;
    if (log::parse_level(fresh.string("log.level"), lvl)) log::set_level(lvl);
    log::info("medflowd", "SIGHUP: configuration re-read, log.level ", fresh.string("log.level"),
              "; logs go to stderr (no log file to reopen); other settings apply at the next "
              "start");
  } catch (const config_error& e) {
    log::error("medflowd", "SIGHUP: configuration not reloaded, nothing changed: ", e.what());
  }
}

// Feeds the service manager's watchdog every half interval while the daemon is alive (its store
// and its actor system answer); a hung daemon stops feeding it and gets restarted.
class watchdog_feeder {
 public:
  watchdog_feeder(const net::service_notify& notify, app::daemon& d) {
    auto interval = notify.watchdog();
    if (!interval) return;
    auto period = std::chrono::duration_cast<std::chrono::milliseconds>(*interval / 2);
    thread_ = std::thread([this, &notify, &d, period] {
      std::unique_lock<std::mutex> lock{mutex_};
      while (!done_) {
        lock.unlock();
        if (d.alive(std::max(std::chrono::milliseconds(1), period / 2)))
          notify.send("WATCHDOG=1");
        else
          log::error("medflowd", "not alive (store or actors do not answer); watchdog not fed");
        lock.lock();
        cv_.wait_for(lock, period, [this] { return done_; });
      }
    });
  }
  ~watchdog_feeder() { stop(); }
  void stop() {
    {
      std::lock_guard<std::mutex> g{mutex_};
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Ends the process, with a log line and status 1, if it is still running at the deadline.
class shutdown_guard {
 public:
  shutdown_guard(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds budget)
      : thread_([this, deadline, budget] {
          std::unique_lock<std::mutex> lock{mutex_};
          if (cv_.wait_until(lock, deadline, [this] { return done_; })) return;
          log::error("medflowd", "shutdown did not finish within shutdown.timeout_ms (",
                     budget.count(), " ms); exiting anyway");
          std::_Exit(1);
        }) {}
  ~shutdown_guard() {
    {
      std::lock_guard<std::mutex> g{mutex_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

}  // namespace

int main(int argc, char** argv) {
  using namespace medflow;
  // `medflowd selector '<selector>' '<properties>'`: an operator command, no daemon.
  if (argc >= 2 && std::string_view(argv[1]) == "selector") {
    if (argc != 4) {
      std::cerr << flows::resource_events::selector_usage;
      return 2;
    }
    return flows::resource_events::selector_command(argv[2], argv[3], std::cout, std::cerr);
  }
  // Block the stop and reload signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Every keep-alive connection and every source call in flight is a descriptor: the usual
  // soft limit of 1024 is far below what an aggregation load keeps open.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  config::cli cli;
  std::optional<config> cfg;
  try {
    cfg = config::load(args, env, &cli);
  } catch (const config_error& e) {
    std::cerr << "medflowd: configuration error: " << e.what() << "\n";
    return 2;
  }
  if (cli.help) {
    std::cout << config::usage();
    return 0;
  }
  if (cli.version) {
    std::cout << "medflowd " << medflow::version() << "\n";
    return 0;
  }
  if (cli.print_default_config) {
    std::cout << config::render_default_file();
    return 0;
  }
  if (cli.print_config) {
    std::cout << cfg->render_effective();
    return 0;
  }
  // librdkafka's own judgement of every property, before anything starts.
  if (cfg->string("bus.backend") == "kafka") {
    auto why = bus::kafka_properties_error(cfg->entries("bus.kafka.properties"));
    if (!why.empty()) {
      std::cerr << "medflowd: configuration error: " << why << "\n";
      return 2;
    }
  }

  net::service_notify notify;
  app::daemon d{*cfg};
  try {
    d.start();
  } catch (const std::exception& e) {
    std::cerr << "medflowd: cannot start: " << e.what() << "\n";
    return 1;
  }
  // Once, on stdout (what scripts wait for), and not again in the log on stderr: a terminal
  // shows both streams.
  std::printf("medflowd listening on http://%s:%d\n", cfg->string("http.host").c_str(), d.port());
  std::fflush(stdout);
  auto notify_failed = notify.send("READY=1\nMAINPID=" + std::to_string(::getpid()));
  if (!notify_failed.empty()) log::warn("medflowd", "cannot notify the service manager: ", notify_failed);
  watchdog_feeder watchdog{notify, d};

  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    reload(args, env);
  }
  auto timeout = std::chrono::milliseconds(cfg->integer("shutdown.timeout_ms"));
  auto started = std::chrono::steady_clock::now();
  log::info("medflowd", "received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; stopping within ",
            timeout.count(), " ms");
  notify.send("STOPPING=1");
  watchdog.stop();
  d.begin_stop();  // /readyz: 503 from here on
  std::this_thread::sleep_for(std::chrono::milliseconds(cfg->integer("shutdown.unready_ms")));
  // The drains end a tenth of the budget early, so closing the bus and the store fits too; the
  // guard ends the process if the stop still runs at the deadline. (The stop itself runs on
  // this thread: CAF's actor system, created here, did not finish its shutdown from another.)
  {
    shutdown_guard guard{started + timeout, timeout};
    d.stop(started + timeout * 9 / 10);
  }
  log::info("medflowd", "stopped");
  return 0;
}
