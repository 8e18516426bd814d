// A stand-alone Kafka for end-to-end tests: librdkafka's in-memory mock cluster.
//
//   kafka_mock [--brokers N] [--exit-on-stdin-eof] [topic:partitions ...]
//
// Creates the topics, prints the bootstrap address (host:port,...) on one line of stdout, then
// serves until SIGTERM or SIGINT, or, with --exit-on-stdin-eof, until stdin is closed (so a
// test harness that dies takes the cluster with it). Everything lives in memory.
//
// The mock listens on 127.0.0.1 only. It handles produce, fetch, metadata, offsets and group
// commits, but not CreateTopics/DeleteTopics: create topics here. Clients that ask for the
// metadata of an unknown topic may auto-create it with 4 partitions.
#include "support/kafka_mock_cluster.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: kafka_mock [--brokers N] [--exit-on-stdin-eof] [topic:partitions ...]\n");
}

// The mock logs through its owning handle; only real trouble is worth a line on stderr.
// With KAFKA_MOCK_DEBUG (see kafka_mock_cluster) everything, with a timestamp.
void on_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
  static const bool debug = std::getenv("KAFKA_MOCK_DEBUG") != nullptr;
  if (level > 4 && !debug) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::fprintf(stderr, "%lld.%03ld kafka_mock: %s: %s\n", static_cast<long long>(ts.tv_sec),
               ts.tv_nsec / 1000000, facility, text);
}

bool parse_int(const char* text, int min, int& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < min || v > 100000) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  bool exit_on_stdin_eof = false;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--brokers") {
      if (i + 1 >= argc || !parse_int(argv[++i], 1, brokers)) {
        std::fprintf(stderr, "kafka_mock: --brokers needs a positive number\n");
        return 2;
      }
    } else if (arg == "--exit-on-stdin-eof") {
      exit_on_stdin_eof = true;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else {
      auto colon = arg.rfind(':');
      int partitions = 0;
      if (colon == std::string::npos || colon == 0 ||
          !parse_int(arg.c_str() + colon + 1, 1, partitions)) {
        std::fprintf(stderr, "kafka_mock: bad topic \"%s\", expected name:partitions\n",
                     arg.c_str());
        usage();
        return 2;
      }
      topics.emplace_back(arg.substr(0, colon), partitions);
    }
  }

  // Block the signals before librdkafka starts its threads (they inherit the mask), so only
  // the signalfd below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    std::perror("kafka_mock: pthread_sigmask");
    return 1;
  }
  int sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (sigfd < 0) {
    std::perror("kafka_mock: signalfd");
    return 1;
  }

  std::unique_ptr<medflow::test::kafka_mock_cluster> cluster;
  try {
    cluster = std::make_unique<medflow::test::kafka_mock_cluster>(brokers, on_log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_mock: %s\n", e.what());
    return 1;
  }
  for (auto& [name, partitions] : topics) {
    rd_kafka_resp_err_t e = cluster->create_topic(name, partitions);
    if (e) {
      std::fprintf(stderr, "kafka_mock: cannot create topic %s: %s\n", name.c_str(),
                   rd_kafka_err2str(e));
      return 1;
    }
  }

  std::printf("%s\n", cluster->bootstraps().c_str());
  std::fflush(stdout);

  pollfd fds[2] = {{sigfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  nfds_t nfds = exit_on_stdin_eof ? 2 : 1;
  int status = 0;
  for (bool running = true; running;) {
    if (poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("kafka_mock: poll");
      status = 1;
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(sigfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) running = false;
    }
    if (nfds == 2 && fds[1].revents) {
      // Whatever is written to stdin is ignored; only its end matters.
      char buf[4096];
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) running = false;
    }
  }

  cluster.reset();
  close(sigfd);
  return status;
}
