// Fuzz target: the server side of an HTTP/1.1 connection (net::server_connection), without its
// socket. The input is both what a client sends and, read from its end, the decisions: how the
// bytes are split into reads, when the test's dispatcher answers (at once, or only after more
// bytes came), with what status and how large a body, and how time passes.
//
// Invariants: never more answers than requests; every request read is one the rest of medflowd
// may trust (a token method, a target without controls, limits kept); every answer, error
// answers included, is exactly one whole response to Beast's own parser, with the status, body
// and keep-alive it was given and a Date; an error sticks, and nothing is read after a
// connection's last answer.
#include "core/log.hpp"
#include "net/http1.hpp"
#include "net/server_connection.hpp"
#include "net/url.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace {

using namespace medflow::net;
namespace bhttp = boost::beast::http;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "http_server_fuzz: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define EXPECT(cond) \
  do {               \
    if (!(cond)) broken(#cond, __LINE__); \
  } while (0)

constexpr size_t max_line = 256;
constexpr size_t max_head = 1024;
constexpr size_t max_body = 4096;

bool has_control(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return true;
  return false;
}

// What the rest of medflowd relies on in a request the core lets through.
void check_request(const request& r) {
  EXPECT(is_token(r.method));
  EXPECT(!r.target.empty() && r.target.size() <= max_line && !has_control(r.target));
  EXPECT(r.version == 10 || r.version == 11);
  // raw_path is where the target's path is: at its start, or after the authority of an
  // absolute-form target ("/" when that has no path).
  size_t authority = r.target.find("://");
  EXPECT(r.target.compare(0, r.raw_path.size(), r.raw_path) == 0 ||
         (authority != std::string::npos &&
          (r.raw_path == "/" || r.target.find(r.raw_path, authority + 3) != std::string::npos)));
  std::string decoded;
  EXPECT(percent_decode(r.raw_path, decoded) && decoded == r.path);
  EXPECT(r.params.size() <= max_query_params);
  EXPECT(r.body.size() <= max_body);
  size_t head = 0;
  for (auto& [name, value] : r.headers) {
    EXPECT(is_token(name));
    EXPECT(!has_line_break(value));
    head += name.size() + value.size();
  }
  EXPECT(head <= max_head);
}

// `bytes` must be exactly one whole response to Beast's parser, as it was written.
void check_answer(const std::string& bytes, bool head, const response& res, bool keep_alive) {
  bhttp::response_parser<bhttp::string_body> p;
  p.header_limit(64 * 1024);
  p.body_limit(boost::none);
  p.eager(true);
  p.skip(head);
  boost::beast::error_code ec;
  size_t n = p.put(boost::asio::const_buffer(bytes.data(), bytes.size()), ec);
  EXPECT(!ec);
  EXPECT(p.is_done());
  EXPECT(n == bytes.size());
  const auto& m = p.get();
  EXPECT(static_cast<int>(m.result_int()) == res.status);
  bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
  EXPECT(m.body() == (head || bodiless ? std::string() : res.body));
  EXPECT(m.keep_alive() == keep_alive);
  EXPECT(m.count(bhttp::field::date) == 1);
  EXPECT(m.count(bhttp::field::content_length) == (bodiless ? 0u : 1u));
}

struct fuzz_connection {
  FuzzedDataProvider& in;
  server_connection conn;
  size_t requests = 0;
  size_t answers = 0;
  bool closed = false;
  int64_t now = 0;
  int64_t last_active = 0;
  std::optional<std::pair<request, answer_shape>> waiting;  // answered later

  fuzz_connection(FuzzedDataProvider& input, const server_connection::options& o)
      : in(input), conn(o) {}

  void answer(const request& r, const answer_shape& shape) {
    static const int statuses[] = {200, 201, 204, 304, 404, 418, 500, 503, 103};
    response res;
    res.status = statuses[in.ConsumeIntegralInRange<size_t>(0, std::size(statuses) - 1)];
    size_t body = in.ConsumeBool() ? in.ConsumeIntegralInRange<size_t>(0, 64)
                                   : (in.ConsumeBool() ? 100 * 1024 : 0);
    res.set_content(std::string(body, 'x'), "text/plain");
    // A header echoed from the request: whatever bytes a client sent go back out safely.
    if (!r.headers.empty() && in.ConsumeBool())
      res.headers.push_back(r.headers[in.ConsumeIntegralInRange<size_t>(0, r.headers.size() - 1)]);
    if (in.ConsumeBool()) res.set_header(in.ConsumeRandomLengthString(16), r.target);
    bool keep = shape.keep_alive && in.ConsumeBool();  // false: the server is stopping
    std::string bytes = answer_bytes(res, shape, keep);
    ++answers;
    EXPECT(answers <= requests);
    check_answer(bytes, shape.head, res, keep);
    last_active = now;
    if (!keep) closed = true;
  }

  void answer_error(int status) {
    EXPECT(status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
           status == 501 || status == 503 || status == 505);
    ++requests;  // the one that could not be read
    request r = conn.unread();
    EXPECT(r.method.empty() || is_token(r.method));
    response res;
    res.status = status;
    res.set_content("{\"error\":\"" + conn.error_text() + "\"}", "application/json");
    std::string bytes = answer_bytes(res, answer_shape{}, false);
    ++answers;
    EXPECT(answers <= requests);
    check_answer(bytes, false, res, false);
    closed = true;
  }

  // Takes what the buffered bytes make, while no answer is outstanding.
  void drive(bool answer_now) {
    while (!closed && !waiting) {
      switch (conn.next(now)) {
        case server_connection::event::request: {
          ++requests;
          answer_shape shape;
          request r = conn.take_request(shape);
          check_request(r);
          if (!answer_now && in.ConsumeBool()) waiting.emplace(std::move(r), shape);
          else answer(r, shape);
          break;
        }
        case server_connection::event::send_continue:
          EXPECT(conn.mid_request());
          break;
        case server_connection::event::error: {
          int status = conn.error_status();
          EXPECT(conn.next(now) == server_connection::event::error);  // it sticks
          answer_error(status);
          return;
        }
        case server_connection::event::idle:
          return;
      }
    }
  }

  void run() {
    while (!closed && in.remaining_bytes() > 0) {
      std::string read = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 128));
      now += in.ConsumeIntegralInRange<int64_t>(0, 2000);
      if (conn.wants_input()) {
        conn.received(read.data(), read.size());
        last_active = now;
      }
      if (waiting && in.ConsumeBool()) {
        auto [r, shape] = std::move(*waiting);
        waiting.reset();
        answer(r, shape);
      }
      drive(false);
      if (closed || waiting) continue;
      switch (conn.expired(now, last_active)) {
        case server_connection::expiry::read_timeout:
          answer_error(408);
          break;
        case server_connection::expiry::idle:
          EXPECT(!conn.mid_request());
          closed = true;
          break;
        case server_connection::expiry::none:
          break;
      }
    }
    if (waiting && !closed) {
      auto [r, shape] = std::move(*waiting);
      waiting.reset();
      answer(r, shape);
    }
    drive(true);  // what is left in the buffer, answered at once
  }
};

}  // namespace

// The engine's warnings (a header dropped from an answer) would be most of the run's time.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medflow::log::set_level(medflow::log::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  server_connection::options o;
  o.limits.max_request_line = max_line;
  o.limits.max_head = max_head;
  o.limits.max_body = max_body;
  o.keep_alive_max_count = in.ConsumeIntegralInRange<size_t>(1, 8);
  o.read_timeout_us = 5000;
  o.keep_alive_timeout_us = 20000;
  o.max_buffered = 8192;
  // Bodies lease from a budget smaller than one max_body at times (503), and give it all back.
  byte_budget budget(in.ConsumeIntegralInRange<size_t>(0, 2 * max_body));
  o.limits.body_budget = &budget;
  {
    fuzz_connection c(in, o);
    c.run();
  }
  EXPECT(budget.used() == 0);
  return 0;
}
