#include "net/service_notify.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

using medflow::net::service_notify;

namespace {

// A service manager's end: a bound unix datagram socket (path, or abstract when it starts
// with '@'), read with a timeout.
class manager_socket {
 public:
  explicit manager_socket(const std::string& name) : fd_(::socket(AF_UNIX, SOCK_DGRAM, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    if (name[0] == '@') a.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~manager_socket() { ::close(fd_); }
  std::string receive() {
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_;
};

}  // namespace

TEST_CASE("service_notify sends each state as one datagram to a socket path") {
  medflow::test::temp_dir dir;
  auto path = dir.file("notify");
  manager_socket m{path};
  service_notify n{path, std::nullopt};
  CHECK(n.enabled());
  CHECK(n.send("READY=1\nMAINPID=42") == "");
  CHECK(n.send("STOPPING=1") == "");
  CHECK(m.receive() == "READY=1\nMAINPID=42");
  CHECK(m.receive() == "STOPPING=1");
}

TEST_CASE("service_notify reaches an abstract socket (@name)") {
  std::string name = "@medflow-test-notify-" + std::to_string(::getpid());
  manager_socket m{name};
  service_notify n{name, std::nullopt};
  CHECK(n.send("WATCHDOG=1") == "");
  CHECK(m.receive() == "WATCHDOG=1");
}

TEST_CASE("service_notify without a socket does nothing; a bad socket is reported") {
  service_notify off{"", std::nullopt};
  CHECK_FALSE(off.enabled());
  CHECK(off.send("READY=1") == "");
  service_notify relative{"relative/path", std::nullopt};
  CHECK(relative.send("READY=1").find("neither an absolute path") != std::string::npos);
  medflow::test::temp_dir dir;
  service_notify nobody{dir.file("nobody-listens"), std::nullopt};
  CHECK(nobody.send("READY=1").find("sendto") != std::string::npos);
}

TEST_CASE("service_notify reads NOTIFY_SOCKET and the watchdog from the environment") {
  ::setenv("NOTIFY_SOCKET", "@x", 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::unsetenv("WATCHDOG_PID");
  service_notify n;
  CHECK(n.enabled());
  REQUIRE(n.watchdog());
  CHECK(n.watchdog()->count() == 3000000);
  // A watchdog meant for another process is not ours.
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  CHECK_FALSE(service_notify{}.watchdog());
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  CHECK(service_notify{}.watchdog());
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  CHECK_FALSE(service_notify{}.enabled());
  CHECK_FALSE(service_notify{}.watchdog());
}
