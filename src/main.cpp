// medflowd: reads the configuration, starts the daemon, serves until SIGTERM or SIGINT, then
// stops gracefully (exit 0). A configuration error exits 2, a start-up failure 1.
#include "app/daemon.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "flows/resource_events/selector_cli.hpp"

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <string_view>

extern char** environ;

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
  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
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
  if (cli.print_config) {
    std::cout << config::render_default_file();
    return 0;
  }

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

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::info("medflowd", "received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; stopping");
  d.stop();
  log::info("medflowd", "stopped");
  return 0;
}
