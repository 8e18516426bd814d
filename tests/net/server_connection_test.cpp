// The socket-free core of a server connection: bytes in, requests out (one at a time, the next
// one waiting in the buffer), interim 100 Continue, errors with what was read, timers.
#include "net/server_connection.hpp"

#include <doctest/doctest.h>

#include <string>

using medflow::net::answer_bytes;
using medflow::net::answer_shape;
using medflow::net::request;
using medflow::net::response;
using medflow::net::server_connection;
using event = server_connection::event;

TEST_SUITE_BEGIN("server_connection");

namespace {

server_connection::options small_options() {
  server_connection::options o;
  o.limits.max_body = 100;
  o.read_timeout_us = 1000;
  o.keep_alive_timeout_us = 5000;
  return o;
}

void receive(server_connection& c, const std::string& bytes) {
  c.received(bytes.data(), bytes.size());
}

}  // namespace

TEST_CASE("pipelined requests come out one at a time, in order") {
  server_connection c(small_options());
  receive(c, "GET /a%20b/c?x=1&y=%2B+z HTTP/1.1\r\nHost: h\r\n\r\n"
             "POST /two HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"
             "HEAD /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  answer_shape shape;
  REQUIRE(c.next(0) == event::request);
  request r = c.take_request(shape);
  CHECK(r.method == "GET");
  CHECK(r.target == "/a%20b/c?x=1&y=%2B+z");
  CHECK(r.raw_path == "/a%20b/c");
  CHECK(r.path == "/a b/c");
  CHECK(r.params == medflow::net::fields{{"x", "1"}, {"y", "+ z"}});
  CHECK(r.header("host") == "h");
  CHECK(r.version == 11);
  CHECK_FALSE(shape.head);
  CHECK(shape.keep_alive);
  CHECK_FALSE(shape.http10);
  CHECK(c.buffered() > 0);  // the next requests wait

  REQUIRE(c.next(0) == event::request);
  r = c.take_request(shape);
  CHECK(r.target == "/two");
  CHECK(r.body == "abc");
  CHECK(shape.keep_alive);
  CHECK(shape.http10);

  REQUIRE(c.next(0) == event::request);
  r = c.take_request(shape);
  CHECK(r.method == "HEAD");
  CHECK(shape.head);
  CHECK_FALSE(shape.keep_alive);
  CHECK(c.buffered() == 0);
  CHECK(c.next(0) == event::idle);
  CHECK(c.served() == 3);
}

TEST_CASE("a request in pieces comes out once whole; its timer runs from its first byte") {
  server_connection c(small_options());
  const std::string wire = "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  CHECK_FALSE(c.mid_request());
  for (size_t i = 0; i + 1 < wire.size(); ++i) {
    receive(c, wire.substr(i, 1));
    CHECK(c.next(100 + static_cast<int64_t>(i)) == event::idle);
    CHECK(c.mid_request());
  }
  // Started at 100: due after read_timeout (1000 µs), whatever the last activity.
  CHECK(c.expired(1100, 1100) == server_connection::expiry::none);
  CHECK(c.expired(1101, 1101) == server_connection::expiry::read_timeout);
  receive(c, wire.substr(wire.size() - 1));
  REQUIRE(c.next(2000) == event::request);
  answer_shape shape;
  CHECK(c.take_request(shape).body == "hello");
  CHECK_FALSE(c.mid_request());
  // Idle now: closed once nothing happened for keep_alive_timeout (5000 µs).
  CHECK(c.expired(7000, 2000) == server_connection::expiry::none);
  CHECK(c.expired(7001, 2000) == server_connection::expiry::idle);
}

TEST_CASE("100 Continue once per request, only while its body is still to come") {
  server_connection c(small_options());
  receive(c, "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  CHECK(c.next(0) == event::send_continue);
  CHECK(server_connection::continue_bytes() == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(c.next(0) == event::idle);
  receive(c, "ab");
  CHECK(c.next(0) == event::idle);
  receive(c, "cd");
  REQUIRE(c.next(0) == event::request);
  answer_shape shape;
  CHECK(c.take_request(shape).body == "abcd");
  // The body came with the head: no interim answer.
  receive(c, "POST /y HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz");
  CHECK(c.next(0) == event::request);
  // Too large: the error, not 100 Continue.
  server_connection d(small_options());
  receive(d, "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n");
  CHECK(d.next(0) == event::error);
  CHECK(d.error_status() == 413);
}

TEST_CASE("an unreadable request is an error with its status, text and what was read of it") {
  server_connection c(small_options());
  receive(c, "DELETE /hri/x%2 HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(c.next(0) == event::error);
  CHECK(c.error_status() == 400);
  CHECK(c.error_text() == "malformed percent-encoding in the request target");
  receive(c, "GET /fine HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.next(0) == event::error);  // it sticks: the connection ends here
  request r = c.unread();
  CHECK(r.method == "DELETE");
  CHECK(r.path == "/hri/x%2");  // as received: it cannot be decoded

  server_connection d(small_options());
  receive(d, "GET /hri/a%20b HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n");
  REQUIRE(d.next(0) == event::error);
  CHECK(d.error_status() == 400);
  CHECK(d.error_text() == "malformed header line");
  CHECK(d.unread().path == "/hri/a b");  // decoded: an error renderer goes by the path

  server_connection e(small_options());
  receive(e, "NOT A REQUEST\r\n");
  REQUIRE(e.next(0) == event::error);
  CHECK(e.unread().method.empty());
}

TEST_CASE("the last request a connection may serve is answered with a close") {
  auto o = small_options();
  o.keep_alive_max_count = 2;
  server_connection c(o);
  receive(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  answer_shape shape;
  REQUIRE(c.next(0) == event::request);
  c.take_request(shape);
  CHECK(shape.keep_alive);
  REQUIRE(c.next(0) == event::request);
  c.take_request(shape);
  CHECK_FALSE(shape.keep_alive);
}

TEST_CASE("received bytes are held up to max_buffered") {
  auto o = small_options();
  o.max_buffered = 64;
  server_connection c(o);
  CHECK(c.wants_input());
  receive(c, std::string(63, 'x'));
  CHECK(c.wants_input());
  receive(c, "y");
  CHECK_FALSE(c.wants_input());
  CHECK(c.buffered() == 64);
}

TEST_CASE("answer_bytes: keep-alive or close, HTTP/1.0 told, HEAD without its body, a Date") {
  response res;
  res.status = 201;
  res.set_content("made", "text/plain");
  res.set_header("X-Id", "7");
  std::string out = answer_bytes(res, answer_shape{}, true);
  CHECK(out.rfind("HTTP/1.1 201 Created\r\n", 0) == 0);
  CHECK(out.find("\r\nX-Id: 7\r\n") != std::string::npos);
  CHECK(out.find("\r\nContent-Type: text/plain\r\n") != std::string::npos);
  CHECK(out.find("\r\nContent-Length: 4\r\n") != std::string::npos);
  CHECK(out.find("\r\nDate: ") != std::string::npos);
  CHECK(out.find("Connection") == std::string::npos);
  CHECK(out.substr(out.size() - 8) == "\r\n\r\nmade");

  CHECK(answer_bytes(res, answer_shape{}, false).find("\r\nConnection: close\r\n") !=
        std::string::npos);
  answer_shape http10;
  http10.http10 = true;
  CHECK(answer_bytes(res, http10, true).find("\r\nConnection: keep-alive\r\n") !=
        std::string::npos);
  answer_shape head;
  head.head = true;
  out = answer_bytes(res, head, true);
  CHECK(out.find("\r\nContent-Length: 4\r\n") != std::string::npos);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
}

TEST_SUITE_END();

TEST_CASE("an absolute-form target is served as its origin-form") {
  // RFC 9112 3.2.2: a server must accept the form a client sends a proxy.
  server_connection c(small_options());
  receive(c, "GET http://example.com:8080/a%20b/c?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"
             "GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"
             "GET https://example.com?q=2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  answer_shape shape;
  REQUIRE(c.next(0) == event::request);
  request r = c.take_request(shape);
  CHECK(r.target == "http://example.com:8080/a%20b/c?x=1");
  CHECK(r.raw_path == "/a%20b/c");
  CHECK(r.path == "/a b/c");
  CHECK(r.params == medflow::net::fields{{"x", "1"}});
  REQUIRE(c.next(0) == event::request);
  r = c.take_request(shape);
  CHECK(r.raw_path == "/");
  CHECK(r.path == "/");
  REQUIRE(c.next(0) == event::request);
  r = c.take_request(shape);
  CHECK(r.path == "/");
  CHECK(r.params == medflow::net::fields{{"q", "2"}});
}

TEST_CASE("a request's body lease goes to whoever takes the request") {
  medflow::net::byte_budget budget(1000);
  auto o = small_options();
  o.limits.body_budget = &budget;
  server_connection c(o);
  receive(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  REQUIRE(c.next(0) == event::request);
  answer_shape shape;
  medflow::net::budget_lease lease;
  request r = c.take_request(shape, &lease);
  CHECK(r.body == "abc");
  CHECK(lease.held() == 3);
  CHECK(budget.used() == 3);
  lease.release();
  CHECK(budget.used() == 0);
  // Not taken: released with the request.
  receive(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab");
  REQUIRE(c.next(0) == event::request);
  c.take_request(shape);
  CHECK(budget.used() == 0);
}
