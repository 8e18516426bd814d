// A client on a bare socket, for tests that need what an HTTP library hides: exact bytes,
// pipelining, a request left half sent, a connection's close.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <string>
#include <strings.h>

namespace medflow::test {

inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

inline void send_all(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += static_cast<size_t>(n);
  }
}

// Everything until the server closes the connection.
inline std::string read_until_close(int fd) {
  std::string out;
  char buf[16384];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct raw_response {
  std::string head;  // status line and headers, up to and including the empty line
  std::string body;
  int status = 0;
  bool closed = false;  // the connection ended before a whole response
  std::string header(const std::string& name) const {
    auto at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
      auto end = head.find("\r\n", at + 2);
      auto line = head.substr(at + 2, end - at - 2);
      auto colon = line.find(':');
      if (colon != std::string::npos && strcasecmp(line.substr(0, colon).c_str(), name.c_str()) == 0) {
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        return v;
      }
      at = end;
    }
    return {};
  }
};

// One response with a Content-Length body (or none); bytes after it stay in `rest` for the next.
inline raw_response read_response(int fd, std::string& rest, bool head_request = false) {
  raw_response r;
  char buf[16384];
  auto fill = [&] {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    rest.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = rest.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) {
      r.closed = true;
      return r;
    }
  r.head = rest.substr(0, end + 4);
  rest.erase(0, end + 4);
  r.status = std::atoi(r.head.c_str() + 9);
  size_t length = 0;
  auto cl = r.header("Content-Length");
  if (!cl.empty() && !head_request) length = std::stoul(cl);
  while (rest.size() < length)
    if (!fill()) {
      r.closed = true;
      return r;
    }
  r.body = rest.substr(0, length);
  rest.erase(0, length);
  return r;
}

// Reads into `rest` until it holds `needle` (true), or `seconds` pass or the connection ends
// (false). Only the new bytes are searched: fine for answers of many MB.
inline bool read_until(int fd, std::string& rest, const std::string& needle, int seconds = 10) {
  timeval tv{0, 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  char buf[65536];
  size_t from = 0;  // where the needle may start
  while (rest.find(needle, from) == std::string::npos) {
    if (std::chrono::steady_clock::now() > end) return false;
    from = rest.size() >= needle.size() ? rest.size() - needle.size() + 1 : 0;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return false;
    if (n > 0) rest.append(buf, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace medflow::test
