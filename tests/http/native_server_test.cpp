// The native engine's own behaviour: answers from other threads, deadlines, the wire rules
// (pipelining, 100-continue, chunked bodies, HEAD, HTTP/1.0, limits, timeouts) and that a
// request waiting for its answer holds no thread.
#include "http/server.hpp"

#include "core/metrics.hpp"

#include "support/raw_http.hpp"

#include <doctest/doctest.h>

#include <dirent.h>
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <thread>

using namespace medflow;
using test::connect_loopback;
using test::read_response;
using test::read_until_close;
using test::send_all;

TEST_SUITE_BEGIN("native_server");

namespace {

size_t thread_count() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

// Responders parked by the async route, for the test to answer.
struct parked {
  std::mutex m;
  std::condition_variable cv;
  std::vector<http::responder> list;
  void add(http::responder r) {
    std::lock_guard<std::mutex> g{m};
    list.push_back(std::move(r));
    cv.notify_all();
  }
  std::vector<http::responder> wait_for(size_t n) {
    std::unique_lock<std::mutex> g{m};
    cv.wait(g, [&] { return list.size() >= n; });
    return std::move(list);
  }
};

std::string thread_name() {
  char name[32] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

httplib::Response json_response(int status, const nlohmann::json& body) {
  httplib::Response res;
  http::send_json(res, status, body);
  return res;
}

struct meeting {
  std::mutex m;
  std::condition_variable cv;
  size_t inside = 0;
};

// The value of one series in the metrics text ("" when absent).
std::string metric_line(const std::string& prefix) {
  auto text = metrics::registry::global().render();
  auto at = text.find(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

struct native_fixture {
  std::shared_ptr<meeting> gate = std::make_shared<meeting>();
  http::server::options opts;
  std::unique_ptr<http::server> srv;
  int port = 0;
  std::shared_ptr<parked> park = std::make_shared<parked>();

  explicit native_fixture(size_t keep_alive_max = 100000, int read_timeout_ms = 5000) {
    opts.port = 0;
    opts.engine = "native";
    opts.threads = 4;
    opts.max_body_bytes = 4096;
    opts.keep_alive_max_count = keep_alive_max;
    opts.read_timeout_ms = read_timeout_ms;
    srv = std::make_unique<http::server>(opts);
    srv->add(
        "POST", "/size",
        [](const httplib::Request& req, httplib::Response& res, const http::params&) {
          http::send_json(res, 200, {{"size", req.body.size()}});
        },
        {"body size", "test", nullptr, {}});
    srv->add(
        "GET", "/big/{n}",
        [](const httplib::Request&, httplib::Response& res, const http::params& ps) {
          res.status = 200;
          res.set_content(std::string(std::stoul(ps.at("n")), 'b'), "text/plain");
        },
        {"n bytes", "test", nullptr, {}});
    srv->add(
        "GET", "/inline",
        [](const httplib::Request&, httplib::Response& res, const http::params&) {
          http::send_json(res, 200, {{"thread", thread_name()}});
        },
        {"names its thread", "test", nullptr, {}}, true);
    srv->add(
        "GET", "/pooled",
        [](const httplib::Request&, httplib::Response& res, const http::params&) {
          http::send_json(res, 200, {{"thread", thread_name()}});
        },
        {"names its thread", "test", nullptr, {}});
    auto gate = this->gate;
    srv->add(
        "GET", "/together/{n}",
        [gate](const httplib::Request&, httplib::Response& res, const http::params& ps) {
          // Blocks until n handlers are in here at once (or 5 s pass): proves the pool runs
          // that many at the same time.
          size_t n = std::stoul(ps.at("n"));
          std::unique_lock<std::mutex> g{gate->m};
          ++gate->inside;
          gate->cv.notify_all();
          bool all = gate->cv.wait_for(g, std::chrono::seconds(5), [&] { return gate->inside >= n; });
          http::send_json(res, all ? 200 : 503, {{"together", all}});
        },
        {"waits for company", "test", nullptr, {}});
    auto park = this->park;
    srv->add_async(
        "POST", "/later",
        [park](const httplib::Request&, const http::params&, http::responder r) { park->add(r); },
        {"answered by the test", "test", nullptr, {}}, true);
    srv->add_async(
        "GET", "/deadline/{ms}",
        [park](const httplib::Request&, const http::params& ps, http::responder r) {
          r.deadline(std::stol(ps.at("ms")), json_response(504, {{"late", true}}));
          park->add(r);  // held, never answered
        },
        {"times out", "test", nullptr, {}}, true);
    srv->add_async(
        "GET", "/dropped",
        [](const httplib::Request&, const http::params&, http::responder) {},
        {"forgets its request", "test", nullptr, {}}, false);
    port = srv->start();
  }
};

}  // namespace

TEST_CASE_FIXTURE(native_fixture, "an async route is answered from another thread, later") {
  int fd = connect_loopback(port);
  send_all(fd, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  auto rs = park->wait_for(1);
  std::thread answerer([r = rs[0]] { CHECK(r(json_response(201, {{"from", "elsewhere"}}))); });
  answerer.join();
  CHECK_FALSE(rs[0](json_response(500, {})));  // a second answer is refused
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 201);
  CHECK(r.body == R"({"from":"elsewhere"})");
  CHECK(rest.empty());
  // The connection serves the next request.
  send_all(fd, "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"size":3})");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "a deadline answers a request nobody answered, once") {
  int fd = connect_loopback(port);
  auto t0 = std::chrono::steady_clock::now();
  send_all(fd, "GET /deadline/80 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(r.status == 504);
  CHECK(r.body == R"({"late":true})");
  CHECK(waited >= std::chrono::milliseconds(80));
  auto rs = park->wait_for(1);
  CHECK_FALSE(rs[0](json_response(200, {})));  // too late: the deadline answered
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "a request dropped without an answer gets a 500, not a hang") {
  int fd = connect_loopback(port);
  send_all(fd, "GET /dropped HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 500);
  CHECK(nlohmann::json::parse(r.body)["error"]["code"] == "internal_error");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "requests waiting for their answers hold no thread") {
  size_t before = thread_count();
  constexpr int n = 300;
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    fds.push_back(connect_loopback(port));
    send_all(fds.back(), "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                             std::to_string(std::to_string(i).size()) + "\r\n\r\n" +
                             std::to_string(i));
  }
  auto rs = park->wait_for(n);
  CHECK(rs.size() == n);
  CHECK(thread_count() <= before);  // the route runs on the connection's thread: no pool
  for (size_t i = 0; i < rs.size(); ++i) rs[i](json_response(200, {{"i", i}}));
  std::string rest;
  for (int fd : fds) {
    auto r = read_response(fd, rest);
    CHECK(r.status == 200);
    CHECK(rest.empty());
    ::close(fd);
  }
}

TEST_CASE_FIXTURE(native_fixture, "a nonblocking route runs on the connection's thread") {
  int fd = connect_loopback(port);
  send_all(fd, "GET /inline HTTP/1.1\r\n\r\nGET /pooled HTTP/1.1\r\n\r\n");
  std::string rest;
  CHECK(read_response(fd, rest).body == R"({"thread":"mf.http"})");
  CHECK(read_response(fd, rest).body == R"({"thread":"mf.http.pool"})");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "pipelined requests are answered in order") {
  int fd = connect_loopback(port);
  send_all(fd,
           "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na"
           "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
           "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  auto out = read_until_close(fd);
  auto a = out.find(R"({"size":1})");
  auto b = out.find(R"({"size":2})");
  auto c = out.find(R"({"size":3})");
  CHECK(a != std::string::npos);
  CHECK(b != std::string::npos);
  CHECK(c != std::string::npos);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(out.find("Connection: close") != std::string::npos);
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "Expect: 100-continue gets its interim answer before the body") {
  int fd = connect_loopback(port);
  send_all(fd, "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string got;
  char buf[256];
  while (got.find("\r\n\r\n") == std::string::npos) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    got.append(buf, static_cast<size_t>(n));
  }
  CHECK(got == "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, "hello");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"size":5})");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "a chunked request body is decoded") {
  auto fd = connect_loopback(port);
  send_all(fd, "POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"size":7})");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "HEAD is GET without the body; HTTP/1.0 closes") {
  int fd = connect_loopback(port);
  send_all(fd, "HEAD /big/10 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest, true);
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == "10");
  CHECK(r.body.empty());
  send_all(fd, "GET /big/4 HTTP/1.1\r\nHost: x\r\n\r\n");
  r = read_response(fd, rest);
  CHECK(rest.empty());  // nothing of the HEAD answer's body was sent
  CHECK(r.body == "bbbb");
  ::close(fd);

  fd = connect_loopback(port);
  send_all(fd, "GET /big/3 HTTP/1.0\r\n\r\n");
  auto out = read_until_close(fd);
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
  CHECK(out.substr(out.size() - 3) == "bbb");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "an answer larger than the socket buffer reaches a slow reader") {
  // More than the kernel's socket buffers can hold (loopback autotuning tops out at a few MB
  // each way): the answerer's send runs out of room and the loop finishes the write.
  int fd = connect_loopback(port);
  constexpr size_t n = 32 << 20;
  send_all(fd, "GET /big/" + std::to_string(n) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.body.size() == n);
  CHECK(r.body.find_first_not_of('b') == std::string::npos);
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "a client that leaves before its answer harms nobody") {
  int fd = connect_loopback(port);
  send_all(fd, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto rs = park->wait_for(1);
  ::close(fd);
  rs[0](json_response(200, {{"to", "nobody"}}));  // writes to a closed peer: no crash, no signal
  fd = connect_loopback(port);
  send_all(fd, "POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz");
  std::string rest;
  CHECK(read_response(fd, rest).body == R"({"size":1})");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "requests that cannot be read get a JSON error and a close") {
  struct bad {
    std::string request;
    int status;
    const char* code;
  };
  std::vector<bad> cases = {
      {"GARBAGE\r\n\r\n", 400, "bad_request"},
      {"GET /x HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"},
      {"POST /size HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", 413, "payload_too_large"},
      {"POST /size HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "not_implemented"},
      {"POST /size HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_request"},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414, "uri_too_long"},
      {"GET / HTTP/1.1\r\nX: " + std::string(70000, 'a') + "\r\n\r\n", 431, "header_fields_too_large"},
  };
  for (auto& c : cases) {
    CAPTURE(c.status);
    int fd = connect_loopback(port);
    send_all(fd, c.request);
    auto out = read_until_close(fd);  // the server closes after the error
    ::close(fd);
    REQUIRE(out.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0) == 0);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    auto body = nlohmann::json::parse(out.substr(out.find("\r\n\r\n") + 4));
    CHECK(body["error"]["code"] == c.code);
    CHECK_FALSE(body["error"]["message"].get<std::string>().empty());
  }
}

TEST_CASE_FIXTURE(native_fixture, "bytes of any kind never take the server down") {
  // Seeded: the same 300 inputs every run. Each is random bytes, or a valid request cut or
  // with bytes flipped, sent whole or in pieces; the connection may be dropped at any point.
  std::mt19937 rng(20261123);
  const std::string valid =
      "POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /big/5 HTTP/1.1\r\n\r\n";
  for (int i = 0; i < 300; ++i) {
    std::string bytes;
    if (i % 3 == 0) {
      bytes.resize(rng() % 600);
      for (auto& b : bytes) b = static_cast<char>(rng());
    } else {
      bytes = valid.substr(0, rng() % (valid.size() + 1));
      for (int flips = static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    int fd = connect_loopback(port);
    size_t off = 0;
    while (off < bytes.size()) {
      size_t n = std::min<size_t>(bytes.size() - off, 1 + rng() % 64);
      if (::send(fd, bytes.data() + off, n, MSG_NOSIGNAL) <= 0) break;
      off += n;
    }
    if (rng() % 2) ::shutdown(fd, SHUT_WR);  // else: closed with the request half sent
    ::close(fd);
  }
  int fd = connect_loopback(port);
  send_all(fd, "POST /size HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"size":2})");
  ::close(fd);
}

TEST_CASE("the most requests per connection, then Connection: close") {
  native_fixture f(2);
  int fd = connect_loopback(f.port);
  send_all(fd, "POST /size HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.header("Connection").empty());
  send_all(fd, "POST /size HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  r = read_response(fd, rest);
  CHECK(r.status == 200);
  CHECK(r.header("Connection") == "close");
  CHECK(read_until_close(fd).empty());  // and it is closed
  ::close(fd);
}

TEST_CASE("a request that does not complete within the read timeout gets a 408") {
  native_fixture f(100000, 100);
  int fd = connect_loopback(f.port);
  auto t0 = std::chrono::steady_clock::now();
  send_all(fd, "POST /size HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  auto out = read_until_close(fd);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(100));
  CHECK(out.rfind("HTTP/1.1 408 ", 0) == 0);
  ::close(fd);
}

TEST_CASE("stop() lets an answer in flight out, then closes") {
  native_fixture f;
  int fd = connect_loopback(f.port);
  send_all(fd, "POST /later HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  auto rs = f.park->wait_for(1);
  std::thread stopper([&] { f.srv->stop(); });
  rs[0](json_response(200, {{"last", true}}));
  stopper.join();
  auto out = read_until_close(fd);  // returns: the server closed the connection
  CHECK(out.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(out.find(R"({"last":true})") != std::string::npos);
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "the pool grows for a burst even with a thread idle") {
  int warm = connect_loopback(port);  // one pool thread exists and is idle afterwards
  send_all(warm, "GET /together/1 HTTP/1.1\r\n\r\n");
  std::string rest;
  CHECK(read_response(warm, rest).status == 200);
  ::close(warm);
  gate->inside = 0;
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) {
    fds.push_back(connect_loopback(port));
    send_all(fds.back(), "GET /together/4 HTTP/1.1\r\n\r\n");
  }
  for (int fd : fds) {
    rest.clear();
    CHECK(read_response(fd, rest).status == 200);  // 503: they never were 4 at once
    ::close(fd);
  }
}

TEST_CASE_FIXTURE(native_fixture, "an HTTP/1.0 client asking for keep-alive is told it is kept") {
  int fd = connect_loopback(port);
  send_all(fd, "GET /big/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  std::string rest;
  auto r = read_response(fd, rest);
  CHECK(r.header("Connection") == "keep-alive");
  send_all(fd, "GET /big/1 HTTP/1.0\r\n\r\n");  // this one closes
  r = read_response(fd, rest);
  CHECK(r.body == "b");
  CHECK(r.header("Connection") == "close");
  ::close(fd);
}

TEST_CASE_FIXTURE(native_fixture, "made-up methods do not grow the metrics; a dropped request counts once") {
  for (int i = 0; i < 5; ++i) {
    int fd = connect_loopback(port);
    send_all(fd, "M" + std::to_string(i) + "X /size HTTP/1.1\r\nConnection: close\r\n\r\n");
    auto out = read_until_close(fd);
    ::close(fd);
    CHECK(out.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(out.find("Allow: POST\r\n") != std::string::npos);
  }
  CHECK(metric_line("medflow_http_requests_total{route=\"unmatched\",method=\"M0X\"").empty());
  CHECK_FALSE(metric_line("medflow_http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"}").empty());

  auto unmatched_500 = metric_line("medflow_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"500\"}");
  int fd = connect_loopback(port);
  send_all(fd, "GET /dropped HTTP/1.1\r\n\r\n");
  std::string rest;
  CHECK(read_response(fd, rest).status == 500);
  ::close(fd);
  CHECK(metric_line("medflow_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"500\"}") ==
        unmatched_500);
  CHECK_FALSE(metric_line("medflow_http_requests_total{route=\"/dropped\",method=\"GET\",status=\"500\"}").empty());
}

TEST_CASE("stop() does not wait out its grace for an answer that finishes after it") {
  native_fixture f;
  int fd = connect_loopback(f.port);
  send_all(fd, "POST /later HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  auto rs = f.park->wait_for(1);
  // Answered before the stop, so with keep-alive; too big for the socket buffers while the
  // client does not read, so the write finishes after the stop.
  httplib::Response big;
  big.status = 200;
  big.set_content(std::string(32 << 20, 'b'), "text/plain");
  rs[0](big);
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { f.srv->stop(); });
  auto out = read_until_close(fd);  // reading lets the answer finish; the server then closes
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));  // the grace is 10 s
  CHECK(out.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(out.find("Connection: close") == std::string::npos);  // it had promised keep-alive
  CHECK(out.size() > (32u << 20));
  ::close(fd);
}

TEST_SUITE_END();
