// The subscription stream's sink (http/subscription_stream) on the real engine, with the
// subscription's actor played by the test: what it asks for and when, what each batch becomes
// on the wire, and that it asks for nothing more while the client does not read.
#include "http/subscription_stream.hpp"

#include "http/server.hpp"
#include "net/http1.hpp"

#include <doctest/doctest.h>

#include "support/raw_http.hpp"

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

using namespace medflow;
namespace re = flows::resource_events;

TEST_SUITE_BEGIN("subscription_stream");

namespace {

// The subscription's actor, as the test plays it: the pulls asked for, answered by the test.
struct actor_double {
  struct pull {
    std::optional<re::positions> from;
    std::size_t max = 0;
    int64_t wait_ms = 0;
    http::subscriptions_api::reply_fn reply;
    std::function<bool()> gone;
  };
  std::mutex m;
  std::condition_variable cv;
  std::deque<pull> asked;
  size_t count = 0;

  http::subscriptions_api::pull_fn fn() {
    return [this](const std::string&, std::optional<re::positions> from, std::size_t max,
                  int64_t wait_ms, http::subscriptions_api::reply_fn reply,
                  std::function<bool()> gone) {
      std::lock_guard<std::mutex> g{m};
      asked.push_back({std::move(from), max, wait_ms, std::move(reply), std::move(gone)});
      ++count;
      cv.notify_all();
    };
  }
  // The next pull asked for (within ms), if any.
  std::optional<pull> next(int ms = 5000) {
    std::unique_lock<std::mutex> g{m};
    if (!cv.wait_for(g, std::chrono::milliseconds(ms), [&] { return !asked.empty(); }))
      return std::nullopt;
    auto p = std::move(asked.front());
    asked.pop_front();
    return p;
  }
};

re::positions at(int64_t offset) { return {{{"t", 0}, offset}}; }

// An event's text as the actor renders it (event_text's shape).
std::string event(int64_t offset, const std::string& body = "1") {
  return R"({"body":)" + body + R"(,"cursor":")" + re::encode_cursor(at(offset + 1)) +
         R"(","headers":{},"offset":)" + std::to_string(offset) +
         R"(,"partition":0,"topic":"t"})";
}

re::pull_batch batch(std::vector<std::string> events, int64_t next) {
  return {std::nullopt, std::move(events), at(next)};
}

struct stream_fixture {
  actor_double actor;
  std::unique_ptr<http::server> srv;
  int port = 0;
  static constexpr int64_t wait_ms = 300;

  stream_fixture() {
    http::server::options o;
    o.port = 0;
    o.threads = 2;
    o.stream_buffer_bytes = 64 * 1024;
    srv = std::make_unique<http::server>(o);
    srv->add_async(
        "GET", "/s",
        [this](const net::request&, const http::params&, http::responder respond) {
          http::start_subscription_stream(actor.fn(), wait_ms, "sub", std::nullopt,
                                          std::move(respond));
        }, true);
    port = srv->start();
  }
  ~stream_fixture() { srv->stop(); }
};

std::string body_of(const std::string& bytes) {
  net::response_reader reader;
  reader.reset(false);
  REQUIRE(reader.feed(bytes.data(), bytes.size()) == net::response_reader::state::done);
  return reader.body();
}

}  // namespace

TEST_CASE_FIXTURE(stream_fixture, "an error in the first batch is a JSON answer, not a stream") {
  int fd = test::connect_loopback(port);
  test::send_all(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  auto first = actor.next();
  REQUIRE(first);
  CHECK(first->wait_ms == 0);  // the first batch is what there is now
  CHECK_FALSE(first->from);    // from the acked position
  first->reply({error::not_found("subscription sub not found"), {}, {}});
  std::string rest;
  auto r = test::read_response(fd, rest);
  CHECK(r.status == 404);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(r.body.find("subscription sub not found") != std::string::npos);
  ::close(fd);
}

TEST_CASE_FIXTURE(stream_fixture, "batches become events; an empty waited batch a heartbeat; "
                                  "each next pull starts where the batch ended") {
  int fd = test::connect_loopback(port);
  test::send_all(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  actor.next()->reply(batch({event(0), event(1, R"({"a":"b"})")}, 2));
  std::string got;
  REQUIRE(test::read_until(fd, got, "\"offset\":1"));
  CHECK(got.find("Content-Type: text/event-stream\r\n") != std::string::npos);
  auto second = actor.next();
  REQUIRE(second);
  CHECK(second->from == at(2));
  CHECK(second->wait_ms == wait_ms);
  CHECK(second->max == 100);
  // Nothing came during the wait: a heartbeat, and the next pull from the same place.
  std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  second->reply(batch({}, 2));
  REQUIRE(test::read_until(fd, got, ": keep-alive\n\n"));
  auto third = actor.next();
  REQUIRE(third);
  CHECK(third->from == at(2));
  // Deleted meanwhile: the client hears why, and the stream ends.
  third->reply({error::not_found("subscription sub not found"), {}, {}});
  REQUIRE(test::read_until(fd, got, "\r\n0\r\n\r\n"));
  CHECK(body_of(got) ==
        "id: " + re::encode_cursor(at(1)) + "\nevent: t\ndata: " + event(0) + "\n\n" +
        "id: " + re::encode_cursor(at(2)) + "\nevent: t\ndata: " + event(1, R"({"a":"b"})") +
        "\n\n" + ": keep-alive\n\n" +
        "event: error\ndata: {\"error\":{\"code\":\"not_found\",\"message\":\"subscription sub "
        "not found\"}}\n\n");
  CHECK_FALSE(actor.next(300));  // nothing asked after the end
  ::close(fd);
}

TEST_CASE_FIXTURE(stream_fixture, "an empty batch long before its wait (a draining actor) ends "
                                  "the stream rather than spinning") {
  int fd = test::connect_loopback(port);
  test::send_all(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  actor.next()->reply(batch({}, 0));
  actor.next()->reply(batch({}, 0));  // at once, not after wait_ms
  std::string got;
  REQUIRE(test::read_until(fd, got, "\r\n0\r\n\r\n"));
  CHECK(body_of(got).empty());
  CHECK_FALSE(actor.next(300));
  ::close(fd);
}

TEST_CASE_FIXTURE(stream_fixture, "a client that does not read holds the next pull back; a "
                                  "client that leaves stops the pulls") {
  int fd = test::connect_loopback(port);
  test::send_all(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  // 100 events of 100 KB: far more than the socket buffers of a client that does not read
  // (its receive buffer does not grow; the sender's is at most tcp_wmem's 4 MB) and the
  // stream's 64 KB.
  std::string big = "\"" + std::string(100 * 1024, 'x') + "\"";
  std::vector<std::string> events;
  for (int i = 0; i < 100; ++i) events.push_back(event(i, big));
  actor.next()->reply(batch(std::move(events), 100));
  CHECK_FALSE(actor.next(1000));  // the batch is not all written: no next pull yet
  // The client reads it all: then the next pull is asked, from after the batch.
  std::string got;
  bool all = test::read_until(fd, got, "\"offset\":99,");
  INFO("read ", got.size(), " bytes");
  REQUIRE(all);
  auto second = actor.next();
  REQUIRE(second);
  CHECK(second->from == at(100));
  REQUIRE(second->gone);
  CHECK_FALSE(second->gone());  // the stream is on: the actor collects for it
  // The client leaves while the pull waits: the actor learns the pull is gone, its answer is
  // dropped, nothing more is asked.
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(second->gone());
  second->reply(batch({event(100)}, 101));
  CHECK_FALSE(actor.next(500));
}
