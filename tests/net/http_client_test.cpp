#include "net/http_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "core/metrics.hpp"

using namespace medflow::net::http_client;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// The suite runs twice (tests/CMakeLists.txt): on medflowd's own HTTP/1.1 engine, the default
// for http:// URLs, and with MEDFLOW_TEST_HTTP_ENGINE=curl on libcurl, which https:// uses.
bool native_engine() {
  const char* e = std::getenv("MEDFLOW_TEST_HTTP_ENGINE");
  return e == nullptr || std::string(e) != "curl";
}

client::options test_options() {
  client::options o;
  o.native_http = native_engine();
  return o;
}

// Released once, waited on by many: lets blocked handlers go when a test is over.
class gate {
 public:
  void open() {
    std::lock_guard<std::mutex> g{m_};
    open_ = true;
    cv_.notify_all();
  }
  // True when opened, false when `limit` passed first.
  template <class Duration>
  bool wait_for(Duration limit) {
    std::unique_lock<std::mutex> g{m_};
    return cv_.wait_for(g, limit, [&] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts events and lets a test wait until a number of them happened.
class tally {
 public:
  void add() {
    std::lock_guard<std::mutex> g{m_};
    ++n_;
    cv_.notify_all();
  }
  bool wait_for_count(int n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock<std::mutex> g{m_};
    return cv_.wait_for(g, limit, [&] { return n_ >= n; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_ = 0;
};

// An httplib server on an ephemeral port with the handlers the tests need. Declare it before
// the client under test, so the client (and its kept-alive connections) goes first and the
// server's keep-alive threads see the connections close instead of waiting out their timeout.
struct test_server {
  httplib::Server svr;
  int port = 0;
  std::thread thread;
  gate release;  // ends every blocking handler early
  tally blocked_arrivals;

  std::mutex mutex;
  std::set<int> remote_ports;
  int concurrent = 0;
  int max_concurrent = 0;

  // `keep_alive_s`: how long the server keeps an idle connection (0: it closes one at once
  // unless the next request is already there, without saying so).
  explicit test_server(int keep_alive_s = 2) {
    // Enough workers for every connection the concurrency test opens: httplib keeps a worker
    // per kept-alive connection.
    svr.new_task_queue = [] { return new httplib::ThreadPool(160); };
    svr.set_keep_alive_max_count(1000);
    svr.set_keep_alive_timeout(keep_alive_s);
    // httplib writes headers and body separately; with Nagle on, the body waits out the
    // client's delayed ACK (40 ms) on every kept-alive call.
    svr.set_tcp_nodelay(true);

    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      note_port(req);
      std::string out = req.method + "|" + req.get_header_value("X-Trace") + "|" +
                        req.get_header_value("Content-Type") + "|" +
                        req.get_header_value("Expect") + "|" + req.body;
      res.set_content(out, "text/plain");
    };
    svr.Post("/echo", echo);
    svr.Put("/echo", echo);
    svr.Get("/echo", echo);
    svr.Delete("/echo", echo);

    svr.Get("/sleep", [this](const httplib::Request& req, httplib::Response& res) {
      note_port(req);
      {
        std::lock_guard<std::mutex> g{mutex};
        max_concurrent = std::max(max_concurrent, ++concurrent);
      }
      release.wait_for(std::chrono::milliseconds(std::stoi(req.get_param_value("ms"))));
      {
        std::lock_guard<std::mutex> g{mutex};
        --concurrent;
      }
      res.set_content("slept", "text/plain");
    });

    svr.Get("/block", [this](const httplib::Request&, httplib::Response& res) {
      blocked_arrivals.add();
      release.wait_for(10s);
      res.set_content("released", "text/plain");
    });

    // More than one read of the client's buffer (64 KiB).
    svr.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      std::string body;
      for (int i = 0; body.size() < 300'000; ++i) body += std::to_string(i) + ",";
      res.set_content(body, "text/plain");
    });

    // The same without a Content-Length (chunked): the size shows only as it comes.
    svr.Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 300'000) {
          sink.done();
          return true;
        }
        std::string piece(10'000, 'c');
        return sink.write(piece.data(), piece.size());
      });
    });

    svr.Get("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("boom", "text/plain");
    });

    // Promises 100 bytes, sends the headers, then drops the connection.
    svr.Get("/abort", [](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(100, "text/plain",
                               [](size_t, size_t, httplib::DataSink&) { return false; });
    });

    port = svr.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    widen_backlog(port);
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::yield();
  }

  ~test_server() {
    release.open();
    svr.stop();
    thread.join();
  }

  // httplib 0.11 listens with a backlog of 5, so a burst of connects overflows the accept
  // queue and the dropped SYNs come back only after a 1 s retransmit. listen() on a listening
  // socket just resizes its queue; the socket is the one bound to our port.
  static void widen_backlog(int port) {
    for (int fd = 0; fd < 4096; ++fd) {
      int listening = 0;
      socklen_t len = sizeof listening;
      if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        continue;
      sockaddr_in addr{};
      len = sizeof addr;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
          addr.sin_family == AF_INET && ntohs(addr.sin_port) == port) {
        REQUIRE(::listen(fd, 1024) == 0);
        return;
      }
    }
    FAIL("no listening socket on port ", port);
  }

  void note_port(const httplib::Request& req) {
    std::lock_guard<std::mutex> g{mutex};
    remote_ports.insert(req.remote_port);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

// A socket listening on 127.0.0.1 at a port the kernel picks (returned in `port`).
int loopback_listener(int& port, int backlog = 16) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port = ntohs(addr.sin_port);
  return fd;
}

// Accepts one connection, captures the request's bytes, then answers with `reply` (nothing:
// close without a response). For what httplib's parser hides or cannot do.
struct raw_server {
  int listener = -1;
  int port = 0;
  std::thread thread;
  std::promise<std::string> captured;

  explicit raw_server(std::string reply) {
    listener = loopback_listener(port);
    thread = std::thread([this, reply = std::move(reply)] {
      int conn = ::accept(listener, nullptr, nullptr);
      if (conn < 0) return captured.set_value("");
      std::string in;
      char buf[4096];
      // Headers, then as many body bytes as Content-Length announces.
      for (;;) {
        auto end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          size_t body = 0;
          auto cl = in.find("Content-Length: ");
          if (cl != std::string::npos && cl < end) body = std::stoul(in.substr(cl + 16));
          if (in.size() >= end + 4 + body) break;
        }
        ssize_t n = ::recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, size_t(n));
      }
      captured.set_value(in);
      if (!reply.empty()) (void)::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(conn);
    });
  }
  ~raw_server() {
    ::shutdown(listener, SHUT_RDWR);  // ends a pending accept() if no call came
    thread.join();
    ::close(listener);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/raw"; }
};

// Serves connections one after another; `reply(n)` answers the n-th request (0-based, over all
// connections) with raw bytes, or closes the connection without answering when it returns "".
// A reply starting with "!close!" is sent (without that prefix) and the connection closed.
struct scripted_server {
  int listener = -1;
  int port = 0;
  std::thread thread;
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

  explicit scripted_server(std::function<std::string(int)> reply) {
    listener = loopback_listener(port);
    thread = std::thread([this, reply = std::move(reply)] {
      for (;;) {
        int conn = ::accept(listener, nullptr, nullptr);
        if (conn < 0) return;
        ++connections;
        std::string in;
        char buf[4096];
        for (bool open = true; open;) {
          auto end = in.find("\r\n\r\n");
          if (end == std::string::npos) {  // bodiless GETs only
            ssize_t n = ::recv(conn, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, size_t(n));
            continue;
          }
          in.erase(0, end + 4);
          std::string out = reply(requests++);
          if (out.empty()) break;
          bool close_after = out.rfind("!close!", 0) == 0;
          if (close_after) out.erase(0, 7);
          open = ::send(conn, out.data(), out.size(), MSG_NOSIGNAL) == ssize_t(out.size()) &&
                 out.find("Connection: close") == std::string::npos && !close_after;
        }
        ::close(conn);
      }
    });
  }
  ~scripted_server() {
    ::shutdown(listener, SHUT_RDWR);
    thread.join();
    ::close(listener);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/s"; }
};

request get(std::string url, int64_t timeout_ms = 4000);
response call_and_wait(client& c, request r);

// A GET answered with the raw bytes of `reply` by a raw_server.
response answered_with(client& c, std::string reply) {
  raw_server server(std::move(reply));
  return call_and_wait(c, get(server.url()));
}

request get(std::string url, int64_t timeout_ms) {
  request r;
  r.method = "GET";
  r.url = std::move(url);
  r.timeout_ms = timeout_ms;
  return r;
}

std::future<response> start(client& c, request r) {
  auto p = std::make_shared<std::promise<response>>();
  auto f = p->get_future();
  c.call(std::move(r), [p](response res) { p->set_value(std::move(res)); });
  return f;
}

response call_and_wait(client& c, request r) {
  auto f = start(c, std::move(r));
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

// A port nothing listens on: bound (so the kernel picked it) and closed again.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_SUITE_BEGIN("http_client");

TEST_CASE("a POST with headers and body arrives intact and the response comes back") {
  test_server server;
  client c{test_options()};

  request r;
  r.url = server.url("/echo");
  r.headers = {{"X-Trace", "abc-123"}, {"Content-Type", "application/json"}};
  r.body = std::string("{\"a\":1}\0tail", 12);  // sent by length, not up to a NUL
  // Large enough that curl would otherwise wait for "100 Continue" first.
  r.body += std::string(2000, 'x');
  response res = call_and_wait(c, r);
  CHECK(res.result == response::outcome::ok);
  CHECK(res.status == 200);
  CHECK(res.error.empty());
  CHECK(res.body == "POST|abc-123|application/json||" + r.body);
  CHECK(res.elapsed_us > 0);

  SUBCASE("no Content-Type is invented for a body the caller did not label") {
    request plain;
    plain.url = server.url("/echo");
    plain.body = "raw";
    CHECK(call_and_wait(c, plain).body == "POST||||raw");
  }
  SUBCASE("other methods") {
    request put = r;
    put.method = "PUT";
    CHECK(call_and_wait(c, put).body.rfind("PUT|abc-123|", 0) == 0);
    CHECK(call_and_wait(c, get(server.url("/echo"))).body == "GET||||");
    request del = get(server.url("/echo"));
    del.method = "DELETE";
    CHECK(call_and_wait(c, del).body == "DELETE||||");
  }
}

TEST_CASE("the request on the wire: empty header values kept, nothing added to a body") {
  raw_server server("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi");
  client c{test_options()};
  request r;
  r.url = server.url();
  r.headers = {{"X-Empty", ""}, {"X-Full", "v"}};
  r.body = std::string(3000, 'b');
  response res = call_and_wait(c, r);
  CHECK(res.result == response::outcome::ok);
  CHECK(res.status == 201);
  CHECK(res.body == "hi");
  std::string wire = server.captured.get_future().get();
  CHECK(wire.rfind("POST /raw HTTP/1.1\r\n", 0) == 0);
  // curl writes "X-Empty:", Beast "X-Empty: " (the space is optional whitespace: the same
  // empty value to the server).
  CHECK((wire.find("\r\nX-Empty:\r\n") != std::string::npos ||
         wire.find("\r\nX-Empty: \r\n") != std::string::npos));
  CHECK(wire.find("\r\nX-Full: v\r\n") != std::string::npos);
  CHECK(wire.find("\r\nContent-Length: 3000\r\n") != std::string::npos);
  CHECK(wire.find("Expect") == std::string::npos);
  CHECK(wire.find("Content-Type") == std::string::npos);
  CHECK(wire.find("Accept-Encoding") == std::string::npos);
  CHECK(wire.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port) + "\r\n") !=
        std::string::npos);
  // Which engine ran: curl adds "Accept: */*", medflowd's own engine does not.
  CHECK((wire.find("\r\nAccept: */*\r\n") == std::string::npos) == native_engine());
  CHECK(wire.substr(wire.size() - 3000) == r.body);
}

TEST_CASE("a server closing without answering ends with outcome failed") {
  raw_server server("");
  client c{test_options()};
  response res = call_and_wait(c, get(server.url()));
  CHECK(res.result == response::outcome::failed);
  CHECK_FALSE(res.error.empty());
}

TEST_CASE("an HTTP error status is an ok outcome carrying the status") {
  test_server server;
  client c{test_options()};
  response res = call_and_wait(c, get(server.url("/fail")));
  CHECK(res.result == response::outcome::ok);
  CHECK(res.status == 500);
  CHECK(res.body == "boom");
}

TEST_CASE("many calls run concurrently on the client's one I/O thread") {
  test_server server;
  client c{test_options()};
  constexpr int calls = 100;
  auto t0 = steady::now();
  std::vector<std::future<response>> futures;
  for (int i = 0; i < calls; ++i) futures.push_back(start(c, get(server.url("/sleep?ms=200"))));
  CHECK(c.in_flight() > 50);
  int ok = 0;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    response res = f.get();
    if (res.result == response::outcome::ok && res.status == 200 && res.body == "slept") ++ok;
  }
  auto took = steady::now() - t0;
  CHECK(ok == calls);
  // One after another they would take 20 s; the server saw them overlap.
  CHECK(took < 2s);
  CHECK(server.max_concurrent > 50);
  CHECK(c.in_flight() == 0);
}

TEST_CASE("several I/O threads: calls are spread over them, the limits hold over all") {
  test_server server;
  client::options opts = test_options();
  opts.io_threads = 3;
  opts.max_connections_per_host = 6;  // two per thread
  client c(opts);
  std::mutex m;
  std::set<std::thread::id> threads;
  std::vector<std::future<response>> futures;
  for (int i = 0; i < 30; ++i) {
    auto p = std::make_shared<std::promise<response>>();
    futures.push_back(p->get_future());
    c.call(get(server.url("/sleep?ms=20")), [p, &m, &threads](response res) {
      {
        std::lock_guard<std::mutex> g{m};
        threads.insert(std::this_thread::get_id());
      }
      p->set_value(std::move(res));
    });
  }
  for (auto& f : futures) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get().result == response::outcome::ok);
  }
  CHECK(threads.size() == 3);
  CHECK(c.in_flight() == 0);
  std::lock_guard<std::mutex> g{server.mutex};
  CHECK(server.max_concurrent > 3);  // more than one thread's share: they ran in parallel
  CHECK(server.max_concurrent <= 6);
}

TEST_CASE("calls with the same affinity share an I/O thread") {
  test_server server;
  client::options opts = test_options();
  opts.io_threads = 2;  // even: a key's low bits alone would send every pointer to one thread
  client c(opts);
  std::mutex m;
  std::map<size_t, std::set<std::thread::id>> by_affinity;
  std::vector<std::future<response>> futures;
  // Pointer-like keys (multiples of 16): their low bits must not decide the thread alone.
  const size_t keys[] = {0x7f0000001000, 0x7f0000001010, 0x7f0000001020, 0x7f0000001030,
                         0x7f0000001040, 0x7f0000001050};
  for (int i = 0; i < 60; ++i) {
    size_t affinity = keys[i % 6];
    auto p = std::make_shared<std::promise<response>>();
    futures.push_back(p->get_future());
    c.call(
        get(server.url("/sleep?ms=5")),
        [p, &m, &by_affinity, affinity](response res) {
          {
            std::lock_guard<std::mutex> g{m};
            by_affinity[affinity].insert(std::this_thread::get_id());
          }
          p->set_value(std::move(res));
        },
        affinity);
  }
  for (auto& f : futures) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get().result == response::outcome::ok);
  }
  std::lock_guard<std::mutex> g{m};
  REQUIRE(by_affinity.size() == 6);
  std::set<std::thread::id> all;
  for (auto& [a, ts] : by_affinity) {
    CHECK(ts.size() == 1);  // every call of one affinity on one thread
    all.insert(ts.begin(), ts.end());
  }
  CHECK(all.size() == 2);  // six keys do not all land on one thread
}

TEST_CASE("calls beyond the per-host connection limit wait for a free connection") {
  test_server server;
  client::options opts = test_options();
  opts.max_connections_per_host = 2;
  client c(opts);
  std::vector<std::future<response>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(start(c, get(server.url("/sleep?ms=50"))));
  for (auto& f : futures) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(f.get().result == response::outcome::ok);
  }
  std::lock_guard<std::mutex> g{server.mutex};
  CHECK(server.max_concurrent == 2);
  CHECK(server.remote_ports.size() == 2);
}

TEST_CASE("a call still waiting for a connection at its deadline ends with connect_failed") {
  test_server server;
  client::options opts = test_options();
  opts.max_connections_per_host = 1;
  client c(opts);
  auto blocked = start(c, get(server.url("/block")));
  REQUIRE(server.blocked_arrivals.wait_for_count(1));
  response res = call_and_wait(c, get(server.url("/echo"), 200));
  CHECK(res.result == response::outcome::connect_failed);
  CHECK(res.error.find("no connection") != std::string::npos);
  CHECK(res.elapsed_us >= 190'000);
  CHECK(res.elapsed_us < 1'500'000);
}

TEST_CASE("a call slower than its timeout ends with outcome timeout") {
  test_server server;
  client c{test_options()};
  response res = call_and_wait(c, get(server.url("/sleep?ms=5000"), 300));
  CHECK(res.result == response::outcome::timeout);
  CHECK_FALSE(res.error.empty());
  CHECK(res.elapsed_us >= 290'000);
  CHECK(res.elapsed_us < 1'500'000);
}

TEST_CASE("a refused connection ends with outcome connect_failed") {
  client c{test_options()};
  auto url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/x";
  response res = call_and_wait(c, get(url));
  CHECK(res.result == response::outcome::connect_failed);
  CHECK_FALSE(res.error.empty());
  CHECK(res.elapsed_us < 1'000'000);
}

TEST_CASE("a connect timeout is connect_failed, not timeout: the request was never sent") {
  // A listener whose accept queue is full drops further SYNs, so a connect neither succeeds
  // nor is refused. Backlog 0 admits one connection, which we make and never accept.
  int port = 0;
  int listener = loopback_listener(port, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(uint16_t(port));
  int filler = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  // A call first, so the timed-out one runs on a recycled handle and the classification
  // cannot be fooled by what the handle sent before.
  test_server server;
  client c{test_options()};
  REQUIRE(call_and_wait(c, get(server.url("/echo"))).result == response::outcome::ok);
  request r = get("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x", 3000);
  r.connect_timeout_ms = 200;
  response res = call_and_wait(c, r);
  CHECK(res.result == response::outcome::connect_failed);
  CHECK_FALSE(res.error.empty());
  CHECK(res.elapsed_us >= 190'000);
  CHECK(res.elapsed_us < 2'000'000);
  ::close(filler);
  ::close(listener);
}

TEST_CASE("a connection dropped mid-response and a malformed URL end with outcome failed") {
  test_server server;
  client c{test_options()};
  response dropped = call_and_wait(c, get(server.url("/abort")));
  CHECK(dropped.result == response::outcome::failed);
  CHECK_FALSE(dropped.error.empty());

  response bad = call_and_wait(c, get("no-such-scheme://x/y"));
  CHECK(bad.result == response::outcome::failed);
  CHECK_FALSE(bad.error.empty());
}

TEST_CASE("destroying the client completes the calls in flight with failed") {
  test_server server;
  client::options opts = test_options();
  opts.max_connections_per_host = 3;
  auto c = std::make_unique<client>(opts);
  // Three reach the server and block there; two wait for one of their connections.
  constexpr int calls = 5;
  std::vector<std::future<response>> futures;
  for (int i = 0; i < calls; ++i) futures.push_back(start(*c, get(server.url("/block"))));
  REQUIRE(server.blocked_arrivals.wait_for_count(3));
  c.reset();
  for (auto& f : futures) {
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    response res = f.get();
    CHECK(res.result == response::outcome::failed);
    CHECK(res.error == "client stopped");
  }
}

TEST_CASE("with deliver set, completions are handed over to it and run only where it runs them") {
  test_server server;
  std::mutex m;
  std::condition_variable cv;
  std::vector<completion> delivered;
  std::set<std::thread::id> deliver_threads;
  client::options opts = test_options();
  opts.deliver = [&](std::vector<completion> round) {
    std::lock_guard<std::mutex> g{m};
    deliver_threads.insert(std::this_thread::get_id());
    for (auto& c : round) delivered.push_back(std::move(c));
    cv.notify_all();
  };
  auto c = std::make_unique<client>(opts);
  auto wait_delivered = [&](size_t n) {
    std::unique_lock<std::mutex> g{m};
    return cv.wait_for(g, 5s, [&] { return delivered.size() >= n; });
  };

  std::atomic<int> ran_ok{0}, ran_refused{0}, ran_stopped{0};
  constexpr int calls = 20;
  for (int i = 0; i < calls; ++i)
    c->call(get(server.url("/sleep?ms=50")), [&](response r) {
      if (r.result == response::outcome::ok && r.status == 200 && r.body == "slept") ++ran_ok;
    });
  c->call(get("http://127.0.0.1:1/"), [&](response r) {
    if (r.result == response::outcome::connect_failed) ++ran_refused;
  });
  REQUIRE(wait_delivered(calls + 1));
  // Handed over, not run: the I/O thread ran no callback itself.
  CHECK(ran_ok == 0);
  CHECK(ran_refused == 0);
  CHECK(c->in_flight() == 0);
  {
    std::lock_guard<std::mutex> g{m};
    CHECK(deliver_threads.size() == 1);
    CHECK(deliver_threads.count(std::this_thread::get_id()) == 0);
    for (auto& d : delivered) d.done(std::move(d.res));
    delivered.clear();
  }
  CHECK(ran_ok == calls);
  CHECK(ran_refused == 1);

  // Calls still in flight when the client is destroyed come through deliver too, failed.
  c->call(get(server.url("/block")), [&](response r) {
    if (r.result == response::outcome::failed && r.error == "client stopped") ++ran_stopped;
  });
  REQUIRE(server.blocked_arrivals.wait_for_count(1));
  c.reset();
  REQUIRE(wait_delivered(1));
  CHECK(ran_stopped == 0);
  {
    std::lock_guard<std::mutex> g{m};
    REQUIRE(delivered.size() == 1);
    delivered[0].done(std::move(delivered[0].res));
  }
  CHECK(ran_stopped == 1);
  server.release.open();
}

TEST_CASE("connections are kept alive and reused") {
  test_server server;
  client c{test_options()};
  constexpr int calls = 20;
  for (int i = 0; i < calls; ++i) {
    response res = call_and_wait(c, get(server.url("/echo")));
    REQUIRE(res.result == response::outcome::ok);
  }
  // In waves too: a wave's connections serve the next one.
  for (int wave = 0; wave < 3; ++wave) {
    std::vector<std::future<response>> futures;
    for (int i = 0; i < 5; ++i) futures.push_back(start(c, get(server.url("/echo"))));
    for (auto& f : futures) REQUIRE(f.wait_for(10s) == std::future_status::ready);
  }
  std::lock_guard<std::mutex> g{server.mutex};
  CHECK(server.remote_ports.size() <= 5);
}

TEST_CASE("a completion callback that throws does not stop the client") {
  test_server server;
  client c{test_options()};
  auto saved = medflow::log::current_level();
  medflow::log::set_level(medflow::log::level::off);  // the error it logs is expected here
  tally threw;
  c.call(get(server.url("/echo")), [&](response) {
    threw.add();
    throw std::runtime_error("callback failure");
  });
  REQUIRE(threw.wait_for_count(1));
  response res = call_and_wait(c, get(server.url("/echo")));
  medflow::log::set_level(saved);
  CHECK(res.result == response::outcome::ok);
}

TEST_CASE("calls are counted by outcome and in flight in the metrics registry") {
  auto& reg = medflow::metrics::registry::global();
  auto& ok = reg.get_counter("medflow_http_client_calls_total", "", {{"outcome", "ok"}});
  auto& refused =
      reg.get_counter("medflow_http_client_calls_total", "", {{"outcome", "connect_failed"}});
  test_server server;
  client c{test_options()};
  uint64_t ok_before = ok.value(), refused_before = refused.value();
  call_and_wait(c, get(server.url("/echo")));
  call_and_wait(c, get("http://127.0.0.1:" + std::to_string(unused_port()) + "/"));
  CHECK(ok.value() == ok_before + 1);
  CHECK(refused.value() == refused_before + 1);
  CHECK(reg.render().find("medflow_http_client_in_flight 0") != std::string::npos);
}

TEST_CASE("chunked and close-delimited bodies arrive whole") {
  client c{test_options()};
  response chunked = answered_with(
      c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n"
         "0\r\nX-Trailer: t\r\n\r\n");
  CHECK(chunked.result == response::outcome::ok);
  CHECK(chunked.body == "abcdefg");
  response to_close =
      answered_with(c, "HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nup to the close");
  CHECK(to_close.result == response::outcome::ok);
  CHECK(to_close.status == 202);
  CHECK(to_close.body == "up to the close");
}

TEST_CASE("a sloppy server's answer still counts: a body on a 204") {
  client c{test_options()};
  response res = answered_with(c, "HTTP/1.1 204 No Content\r\n\r\nstray body");
  CHECK(res.result == response::outcome::ok);
  CHECK(res.status == 204);
  CHECK(res.body.empty());
}

TEST_CASE("a body larger than one read arrives whole") {
  test_server server;
  client c{test_options()};
  response res = call_and_wait(c, get(server.url("/big")));
  REQUIRE(res.result == response::outcome::ok);
  CHECK(res.body.size() >= 300'000);
  CHECK(res.body.rfind("0,1,2,", 0) == 0);
  CHECK(res.body.back() == ',');
}

TEST_CASE("an answer body over max_response_bytes fails the call, announced or not") {
  test_server server;
  auto o = test_options();
  o.max_response_bytes = 100'000;
  client c{o};
  for (const char* path : {"/big", "/big-chunked"}) {
    CAPTURE(path);
    response res = call_and_wait(c, get(server.url(path)));
    CHECK(res.result == response::outcome::failed);
    CHECK(res.error == "response body too large (over 100000 bytes)");
    CHECK(res.body.empty());
  }
  // Within the cap, as before; and the client still works after the refusals.
  o.max_response_bytes = 400'000;
  client roomy{o};
  for (const char* path : {"/big", "/big-chunked"}) {
    CAPTURE(path);
    response res = call_and_wait(roomy, get(server.url(path)));
    REQUIRE(res.result == response::outcome::ok);
    CHECK(res.body.size() >= 300'000);
  }
  response small = call_and_wait(c, get(server.url("/fail")));
  CHECK(small.result == response::outcome::ok);
  CHECK(small.status == 500);
}

TEST_CASE("a kept-alive connection the server dropped: the call goes again once, on a new one") {
  // The second request meets the first connection being closed without an answer, as when a
  // server's keep-alive timeout and our reuse cross.
  scripted_server server([](int n) -> std::string {
    if (n == 1) return "";
    return "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + std::to_string(n);
  });
  client c{test_options()};
  response first = call_and_wait(c, get(server.url()));
  CHECK(first.result == response::outcome::ok);
  CHECK(first.body == "0");
  response second = call_and_wait(c, get(server.url()));
  CHECK(second.result == response::outcome::ok);
  CHECK(second.body == "2");
  CHECK(server.connections == 2);
  CHECK(server.requests == 3);
}

TEST_CASE("a response with Connection: close is not followed by another call on its connection") {
  scripted_server server([](int n) {
    return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n" +
           std::to_string(n);
  });
  client c{test_options()};
  CHECK(call_and_wait(c, get(server.url())).body == "0");
  CHECK(call_and_wait(c, get(server.url())).body == "1");
  CHECK(server.connections == 2);
  CHECK(server.requests == 2);
}

TEST_CASE("a URL without a path asks for /") {
  {
    raw_server server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    client c{test_options()};
    CHECK(call_and_wait(c, get("http://127.0.0.1:" + std::to_string(server.port))).result ==
          response::outcome::ok);
    CHECK(server.captured.get_future().get().rfind("GET / HTTP/1.1\r\n", 0) == 0);
  }
  {
    raw_server server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    client c{test_options()};
    CHECK(call_and_wait(c, get("http://127.0.0.1:" + std::to_string(server.port) + "?q=1"))
              .result == response::outcome::ok);
    CHECK(server.captured.get_future().get().rfind("GET /?q=1 HTTP/1.1\r\n", 0) == 0);
  }
}

TEST_CASE("kept-alive connections count against the total: an idle one is closed to make room") {
  auto ok = [](int) { return std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); };
  scripted_server a(ok), b(ok);
  client::options opts = test_options();
  opts.max_total_connections = 1;
  client c{opts};
  CHECK(call_and_wait(c, get(a.url())).result == response::outcome::ok);
  // a's connection is idle; b needs the one connection there is.
  CHECK(call_and_wait(c, get(b.url())).result == response::outcome::ok);
  CHECK(call_and_wait(c, get(a.url())).result == response::outcome::ok);
  CHECK(a.connections == 2);
  CHECK(a.requests == 2);
}

TEST_CASE("the connect timeout counts from when a call leaves the queue, not from when it was made") {
  // One connection per host: the second call waits ≈ 400 ms for the first, whose answer
  // closes the connection, so it then needs a new one, with its 200 ms connect time whole.
  scripted_server server([](int n) {
    if (n == 0) std::this_thread::sleep_for(400ms);
    return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n" + std::to_string(n);
  });
  client::options opts = test_options();
  opts.max_connections_per_host = 1;
  client c{opts};
  request r = get(server.url());
  r.connect_timeout_ms = 200;
  auto first = start(c, r);
  auto second = start(c, r);
  REQUIRE(first.wait_for(10s) == std::future_status::ready);
  REQUIRE(second.wait_for(10s) == std::future_status::ready);
  CHECK(first.get().body == "0");
  response late = second.get();
  CHECK(late.result == response::outcome::ok);
  CHECK(late.body == "1");
  CHECK(late.elapsed_us >= 390'000);
}

TEST_CASE("a server that drops idle connections at once: every call still gets its answer") {
  // Each answer's connection is closed by the server unless the next request is already
  // there, so calls keep meeting connections closed under them (or about to be).
  test_server server(0);
  client c{test_options()};
  int ok = 0;
  for (int wave = 0; wave < 25; ++wave) {
    std::vector<std::future<response>> futures;
    for (int i = 0; i < 20; ++i) futures.push_back(start(c, get(server.url("/echo"))));
    for (auto& f : futures) {
      REQUIRE(f.wait_for(10s) == std::future_status::ready);
      response res = f.get();
      if (res.result == response::outcome::ok && res.body == "GET||||") ++ok;
      else MESSAGE("wave ", wave, ": outcome ", int(res.result), " ", res.error);
    }
  }
  CHECK(ok == 500);
}

TEST_CASE("a connection the server closed right after its answer is not reused") {
  scripted_server server([](int n) {
    return std::string(n == 0 ? "!close!" : "") + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" +
           std::to_string(n);
  });
  client c{test_options()};
  CHECK(call_and_wait(c, get(server.url())).body == "0");
  response second = call_and_wait(c, get(server.url()));
  CHECK(second.result == response::outcome::ok);
  CHECK(second.body == "1");
  CHECK(server.connections == 2);
}

TEST_CASE("host names are resolved; an unresolvable one is connect_failed") {
  test_server server;
  client c{test_options()};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo("localhost", nullptr, &hints, &found) == 0) {
    ::freeaddrinfo(found);
    // localhost may name ::1 first; the server listens on 127.0.0.1 only, so this also
    // needs the next address to be tried.
    request r = get("http://localhost:" + std::to_string(server.port) + "/echo");
    response res = call_and_wait(c, r);
    CHECK(res.result == response::outcome::ok);
    CHECK(res.body == "GET||||");
  } else {
    MESSAGE("this machine cannot resolve localhost: only the unresolvable name is checked");
  }
  response bad = call_and_wait(c, get("http://no-such-host.invalid/x", 3000));
  CHECK(bad.result == response::outcome::connect_failed);
  CHECK_FALSE(bad.error.empty());
}

TEST_SUITE_END();

// medflowd's own client only (not in the suite run again on libcurl, which skips header lines
// that are not headers). Beast holds every header line to the grammar, framing or not: such an
// answer fails the call (the source is reported failed) rather than being read one way here and
// another way by other hops.
TEST_CASE("header lines that are not headers fail the call, framing headers or not" *
          doctest::test_suite("http_native")) {
  client c;
  for (const char* wire : {
           "HTTP/1.1 200 OK\r\nnot a header\r\nContent-Length: 2\r\n\r\nok",
           "HTTP/1.1 200 OK\r\nX Odd: 1\r\nContent-Length: 2\r\n\r\nok",
           "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
       }) {
    CAPTURE(wire);
    response res = answered_with(c, wire);
    CHECK(res.result == response::outcome::failed);
    CHECK(res.error == "malformed response: malformed header line");
  }
  // A status line without a reason (and without the space before it) is still an answer.
  response bare = answered_with(c, "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok");
  CHECK(bare.result == response::outcome::ok);
  CHECK(bare.status == 200);
  CHECK(bare.body == "ok");
}
