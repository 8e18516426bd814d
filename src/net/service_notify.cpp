#include "net/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace medflow::net {

namespace {

std::optional<unsigned long long> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return n;
}

}  // namespace

service_notify::service_notify() {
  if (const char* s = std::getenv("NOTIFY_SOCKET")) socket_ = s;
  auto usec = env_number("WATCHDOG_USEC");
  auto pid = env_number("WATCHDOG_PID");
  if (usec && *usec > 0 && (!pid || *pid == static_cast<unsigned long long>(::getpid())))
    watchdog_ = std::chrono::microseconds(*usec);
}

service_notify::service_notify(std::string socket, std::optional<std::chrono::microseconds> w)
    : socket_(std::move(socket)), watchdog_(w) {}

std::string service_notify::send(const std::string& state) const {
  if (socket_.empty()) return "";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof addr.sun_path || (socket_[0] != '/' && socket_[0] != '@'))
    return "NOTIFY_SOCKET is neither an absolute path nor an abstract name (@...): " + socket_;
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: no terminating NUL
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  if (n < 0) return "sendto " + socket_ + ": " + std::strerror(err);
  return "";
}

}  // namespace medflow::net
