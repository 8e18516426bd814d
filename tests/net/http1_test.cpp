// The Beast adapter's wire behaviour: what a request or response on the wire reads as (fed in
// every way a socket could split it), what errors it gets, and the bytes written.
#include "net/http1.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using medflow::net::request;
using medflow::net::request_reader;
using medflow::net::response;
using medflow::net::response_reader;
using medflow::net::write_answer;
using medflow::net::write_request;
using response_parser = response_reader;
using request_parser = request_reader;
using state = response_parser::state;
using req_state = request_parser::state;

namespace {

state feed_all(response_parser& p, const std::string& bytes) {
  return p.feed(bytes.data(), bytes.size());
}

// Feeds one byte at a time, until the parser is done or fails; done must come with the last.
state feed_bytewise(response_parser& p, const std::string& bytes) {
  state s = state::need_more;
  for (size_t i = 0; i < bytes.size(); ++i) {
    s = p.feed(bytes.data() + i, 1);
    if (s == state::done) CHECK(i + 1 == bytes.size());
    if (s != state::need_more) return s;
  }
  return s;
}

// Feeds one byte at a time through all of `bytes`, on past done. Returns how many bytes had
// been fed when done came (0: it never did), checking that excess() turns true with the first
// byte after that and not before.
size_t feed_bytewise_past_done(response_parser& p, const std::string& bytes) {
  size_t done_at = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    CAPTURE(i);
    state s = p.feed(bytes.data() + i, 1);
    if (done_at != 0) {
      CHECK(s == state::done);
      CHECK(p.excess());
      CHECK_FALSE(p.keep_alive());
    } else if (s == state::done) {
      done_at = i + 1;
      CHECK_FALSE(p.excess());
    } else {
      CHECK(s == state::need_more);
    }
  }
  return done_at;
}

// Parses `bytes` in pieces of every size from 1 to 17, checking each gives the same result.
void check_any_split(const std::string& bytes, int status, const std::string& body,
                     bool keep_alive) {
  for (size_t piece = 1; piece <= 17; ++piece) {
    CAPTURE(piece);
    response_parser p;
    p.reset(false);
    state s = state::need_more;
    for (size_t i = 0; i < bytes.size() && s == state::need_more; i += piece)
      s = p.feed(bytes.data() + i, std::min(piece, bytes.size() - i));
    CHECK(s == state::done);
    CHECK(p.status() == status);
    CHECK(p.body() == body);
    CHECK(p.keep_alive() == keep_alive);
    CHECK_FALSE(p.excess());
  }
}

}  // namespace

TEST_SUITE_BEGIN("http1");

TEST_CASE("http1: Content-Length body, in one piece and byte by byte") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
      "{\"ok\":\"yes\"}\n";
  response_parser whole;
  whole.reset(false);
  CHECK_FALSE(whole.received_any());
  CHECK(feed_all(whole, wire) == state::done);
  CHECK(whole.received_any());
  CHECK(whole.status() == 200);
  CHECK(whole.body() == "{\"ok\":\"yes\"}\n");
  CHECK(whole.keep_alive());
  CHECK_FALSE(whole.excess());
  CHECK(whole.error().empty());

  response_parser bytewise;
  bytewise.reset(false);
  CHECK(feed_bytewise(bytewise, wire) == state::done);
  CHECK(bytewise.status() == whole.status());
  CHECK(bytewise.body() == whole.body());
  CHECK(bytewise.keep_alive() == whole.keep_alive());

  check_any_split(wire, 200, "{\"ok\":\"yes\"}\n", true);

  // The body can be moved out after done.
  std::string taken = std::move(whole.body());
  CHECK(taken == "{\"ok\":\"yes\"}\n");
  // Calling feed or eof after done keeps the state; an empty feed is no excess.
  CHECK(whole.feed("", 0) == state::done);
  CHECK(whole.eof() == state::done);
  CHECK(whole.keep_alive());
  CHECK_FALSE(whole.excess());
}

TEST_CASE("http1: Content-Length 0 and a status line without a reason") {
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n") == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body().empty());
  CHECK(p.keep_alive());

  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 404 \r\ncontent-length:    2   \r\n\r\nno") == state::done);
  CHECK(p.status() == 404);
  CHECK(p.body() == "no");

  // Multi-word reason, header names in any case.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 503 Service Unavailable\r\nCONTENT-LENGTH: 1\r\n\r\nx") ==
        state::done);
  CHECK(p.status() == 503);
  CHECK(p.body() == "x");
}

TEST_CASE("http1: malformed status lines are errors") {
  for (const char* bad : {
           "HTTP/2 200 OK\r\n",
           "HTTP/1.1 20 OK\r\n",
           "HTTP/1.1 2000 OK\r\n",
           "HTTP/1.1 200OK\r\n",
           "HTTP/1.1  200 OK\r\n",
           "http/1.1 200 OK\r\n",
           "HTTP/1.1 abc OK\r\n",
           "HTTP/1.1 099 OK\r\n",
           "HTTP/1.1 600 OK\r\n",
           "HTTP/1.1 200 O\rK\r\n",
           "ICY 200 OK\r\n",
           "\r\n",
           "garbage\n",
       }) {
    CAPTURE(std::string(bad));
    response_parser p;
    p.reset(false);
    CHECK(p.feed(bad, std::string(bad).size()) == state::error);
    CHECK(p.error() == "malformed status line");
    CHECK_FALSE(p.keep_alive());
    // The state sticks.
    CHECK(feed_all(p, "HTTP/1.1 200 OK\r\n\r\n") == state::error);
    CHECK(p.eof() == state::error);
  }
}

TEST_CASE("http1: a malformed header line is an error, framing header or not") {
  // Beast holds every line to the grammar (libcurl skips lines it cannot read): a response we
  // read one way and another hop another is not used.
  struct bad_case {
    std::string lines;  // between the status line and the Content-Length
    const char* error;
  };
  for (const auto& [lines, error] : {
           // Whitespace before the colon, of a framing header or another.
           bad_case{"Content-Length : 3\r\n", "malformed header line"},
           bad_case{"content-length\t: 3\r\n", "malformed header line"},
           bad_case{"Transfer-Encoding : chunked\r\n", "malformed header line"},
           bad_case{"CONNECTION \t : close\r\n", "malformed header line"},
           bad_case{"Foo : 1\r\n", "malformed header line"},
           // Folded (obs-fold), SP or HT, any header; or a fold first after the status line.
           // (Beast reads a folded framing header joined: "3 3" is no length, "keep-alive
           // close" no token list.)
           bad_case{"Content-Length: 3\r\n 3\r\n", "invalid Content-Length"},
           bad_case{"Transfer-Encoding: gzip\r\n\tchunked\r\n", "malformed header line"},
           bad_case{"Connection: keep-alive\r\n close\r\n", "invalid header value"},
           bad_case{"Connection:\r\n close\r\n", "malformed header line"},
           bad_case{"X-A: 1\r\n folded\r\n", "malformed header line"},
           bad_case{"X-A: 1\r\n\tContent-Length: 5\r\n", "malformed header line"},
           bad_case{" folded first\r\n", "malformed header line"},
           // Lines that are not headers, names that are not tokens.
           bad_case{"no colon here\r\n", "malformed header line"},
           bad_case{"Content-Length 5\r\n", "malformed header line"},
           bad_case{": empty name\r\n", "malformed header line"},
           bad_case{"X Foo: 1\r\n", "malformed header line"},
           bad_case{"X-\xc3\xa4: 1\r\n", "malformed header line"},
           bad_case{"Set(Cookie): a=b\r\n", "malformed header line"},
           // NUL or CR in a value or a name.
           bad_case{"X-A: a\rb\r\n", "malformed header line"},
           bad_case{std::string("X-A: a\0b\r\n", 10), "invalid header value"},
           bad_case{std::string("X-A: \0\r\n", 8), "invalid header value"},
           bad_case{"X\rA: 1\r\n", "malformed header line"},
           bad_case{"\r\r\n", "malformed header line"},
           // A bare LF ends no line.
           bad_case{"X-A: 1\n", "invalid header value"},
       }) {
    CAPTURE(std::string(lines));
    const std::string wire = "HTTP/1.1 200 OK\r\n" + lines + "Content-Length: 3\r\n\r\nabc";
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, wire) == state::error);
    CHECK(p.error() == error);
    CHECK(p.status() == 200);
    CHECK_FALSE(p.keep_alive());

    response_parser bytewise;
    bytewise.reset(false);
    CHECK(feed_bytewise(bytewise, wire) == state::error);
    CHECK(bytewise.error() == error);
  }
}

TEST_CASE("http1: chunked body with extensions and trailers") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A ; a=\"quoted;\"\r\n abcdefghijklmnopqrstuvwxy\r\n"
      "00a\r\n0123456789\r\n"
      "0\r\nX-Checksum: 1234\r\nX-Other: z\r\n\r\n";
  const std::string body = "hello abcdefghijklmnopqrstuvwxy0123456789";
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, wire) == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body() == body);
  CHECK(p.keep_alive());

  response_parser bytewise;
  bytewise.reset(false);
  CHECK(feed_bytewise(bytewise, wire) == state::done);
  CHECK(bytewise.body() == body);
  CHECK(bytewise.keep_alive());

  check_any_split(wire, 200, body, true);

  // Without trailers, and a lower-case hex size.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 201 Created\r\nTransfer-Encoding: Chunked\r\n\r\n"
                    "b\r\nhello world\r\n0\r\n\r\n") == state::done);
  CHECK(p.status() == 201);
  CHECK(p.body() == "hello world");
  // An empty chunked body.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") ==
        state::done);
  CHECK(p.body().empty());
}

TEST_CASE("http1: bad chunk framing is an error") {
  struct bad_case {
    const char* chunks;
    const char* error;
  };
  for (auto [chunks, error] : {
           bad_case{"x\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"-3\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3 x\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"0x3\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"10000000000000000\r\n", "malformed chunk"},  // 2^64: overflow
           bad_case{"fffffffffffffffff\r\n", "malformed chunk"},
           bad_case{"3\r\nabcd\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", "malformed header line"},
           bad_case{"3\r\nabc\r\n0\r\n folded: x\r\n\r\n", "malformed header line"},
       }) {
    CAPTURE(std::string(chunks));
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") +
                          chunks) == state::error);
    CHECK(p.error() == error);
    CHECK_FALSE(p.keep_alive());
  }

  // Just below 2^64 is a valid size, but far beyond any body limit.
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "ffffffffffffffff\r\n") == state::error);
  CHECK(p.error() == "response body too large");
}

TEST_CASE("http1: close-delimited body ends at eof") {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, wire) == state::need_more);
  CHECK(feed_all(p, " of it") == state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body() == "until the end of it");
  CHECK_FALSE(p.keep_alive());

  response_parser bytewise;
  bytewise.reset(false);
  CHECK(feed_bytewise(bytewise, wire) == state::need_more);
  CHECK(bytewise.eof() == state::done);
  CHECK(bytewise.body() == "until the end");
  CHECK_FALSE(bytewise.keep_alive());

  // An empty close-delimited body.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\n\r\n") == state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body().empty());
  CHECK_FALSE(p.keep_alive());

  // Transfer-Encoding not ending in chunked: also delimited by the close.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc") ==
        state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body() == "3\r\nabc");
  CHECK_FALSE(p.keep_alive());
}

TEST_CASE("http1: the last Transfer-Encoding coding decides, over several headers") {
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n") == state::done);
  CHECK(p.body() == "ab");
  CHECK(p.keep_alive());

  // A coding after chunked in another header: Beast refuses it (it would be close-delimited).
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: identity\r\n\r\n2\r\nab\r\n0\r\n\r\n") ==
        state::error);
  CHECK(p.error() == "invalid Transfer-Encoding");

  // No coding at all: not chunked, so delimited by the close (never reused).
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\nab") == state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body() == "ab");
  CHECK_FALSE(p.keep_alive());
}

TEST_CASE("http1: HEAD response with Content-Length has no body") {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  response_parser p;
  p.reset(true);
  CHECK(feed_all(p, wire) == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body().empty());
  CHECK(p.keep_alive());

  response_parser bytewise;
  bytewise.reset(true);
  CHECK(feed_bytewise(bytewise, wire) == state::done);
  CHECK(bytewise.body().empty());

  // Also chunked and huge lengths: the headers describe the GET's body, not this one.
  p.reset(true);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == state::done);
  CHECK(p.keep_alive());
  p.reset(true);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n") == state::done);

  // A body after a HEAD response is excess: ignored, and the connection is not reused.
  p.reset(true);
  CHECK(feed_all(p, wire + "abc") == state::done);
  CHECK(p.body().empty());
  CHECK(p.excess());
  CHECK_FALSE(p.keep_alive());
  CHECK(p.error().empty());
}

TEST_CASE("http1: 204 and 304 have no body whatever the headers say") {
  for (int status : {204, 304}) {
    CAPTURE(status);
    response_parser p;
    p.reset(false);
    std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 10\r\n\r\n";
    CHECK(feed_all(p, head) == state::done);
    CHECK(p.status() == status);
    CHECK(p.body().empty());
    CHECK(p.keep_alive());

    p.reset(false);
    CHECK(feed_all(p, "HTTP/1.1 " + std::to_string(status) + " X\r\n\r\n") == state::done);
    CHECK(p.keep_alive());
  }
}

TEST_CASE("http1: 1xx interim responses are skipped") {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: close\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, wire) == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body() == "ok");
  // The final response after an interim one in the same read is not excess.
  CHECK_FALSE(p.excess());
  // The interim response's Connection header does not apply to the final one.
  CHECK(p.keep_alive());
  check_any_split(wire, 200, "ok", true);

  // In separate reads, and an eof between the interim and the final response.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 100 Continue\r\n\r\n") == state::need_more);
  CHECK(p.status() == 100);
  CHECK(p.eof() == state::error);
  CHECK(p.error() == "connection closed before the response was complete");

  // A 1xx's Content-Length is not a body.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
                    "HTTP/1.1 204 No Content\r\n\r\n") == state::done);
  CHECK(p.status() == 204);
}

TEST_CASE("http1: 101 Switching Protocols is an error") {
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\n") == state::error);
  CHECK(p.error() == "unexpected 101 response");
  CHECK_FALSE(p.keep_alive());
}

TEST_CASE("http1: HTTP/1.0 keep-alive rules") {
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok") == state::done);
  CHECK(p.body() == "ok");
  CHECK_FALSE(p.keep_alive());

  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok") ==
        state::done);
  CHECK(p.keep_alive());

  // Keep-alive but delimited by the close: the connection is gone anyway.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nok") == state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body() == "ok");
  CHECK_FALSE(p.keep_alive());

  // Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 6.1): parsed, never reused.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked"
                    "\r\n\r\n1\r\na\r\n0\r\n\r\n") == state::done);
  CHECK(p.body() == "a");
  CHECK_FALSE(p.keep_alive());
}

TEST_CASE("http1: Connection: close is a case-insensitive token list") {
  for (const char* value : {"close", "Close", "CLOSE", "keep-alive, close", "foo ,close,bar",
                            "Upgrade,  close  "}) {
    CAPTURE(std::string(value));
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string("HTTP/1.1 200 OK\r\nConnection: ") + value +
                          "\r\nContent-Length: 1\r\n\r\nx") == state::done);
    CHECK(p.body() == "x");
    CHECK_FALSE(p.keep_alive());
  }
  for (const char* value : {"closed", "keep-alive", "not-close", "close-ish"}) {
    CAPTURE(std::string(value));
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string("HTTP/1.1 200 OK\r\nConnection: ") + value +
                          "\r\nContent-Length: 1\r\n\r\nx") == state::done);
    CHECK(p.keep_alive());
  }
  // A list that is not one of tokens is refused.
  {
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nConnection: clos e\r\nContent-Length: 1\r\n\r\nx") ==
          state::error);
    CHECK(p.error() == "invalid header value");
  }
  // In a second Connection header too.
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
                    "Content-Length: 0\r\n\r\n") == state::done);
  CHECK_FALSE(p.keep_alive());
}

TEST_CASE("http1: Content-Length must be digits and agree with itself") {
  struct cl_case {
    const char* headers;
    const char* error;  // nullptr: accepted, body "abc"
  };
  for (auto [headers, error] : {
           cl_case{"Content-Length: 3\r\nContent-Length: 4\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3, 4\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3,3,4\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: +3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: -3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 0x3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3 3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3.0\r\n", "invalid Content-Length"},
           cl_case{"Content-Length:\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 99999999999999999999999\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3\r\nContent-Length: 3\r\n", nullptr},
           cl_case{"Content-Length: 3, 3\r\n", nullptr},
           cl_case{"Content-Length: 003\r\n", nullptr},
       }) {
    CAPTURE(std::string(headers));
    response_parser p;
    p.reset(false);
    state s = feed_all(p, std::string("HTTP/1.1 200 OK\r\n") + headers + "\r\nabc");
    if (error) {
      CHECK(s == state::error);
      CHECK(p.error() == error);
      CHECK_FALSE(p.keep_alive());
    } else {
      CHECK(s == state::done);
      CHECK(p.body() == "abc");
      CHECK(p.keep_alive());
    }
  }
}

TEST_CASE("http1: Transfer-Encoding with Content-Length is an error, in any order or coding") {
  // RFC 9112 6.3 frames such a body by the coding, Beast by the length when the coding is not
  // chunked: a server sending both is broken or lying, and the connection's next answer would
  // be read at the wrong place.
  for (const char* head : {
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n",
       }) {
    CAPTURE(std::string(head));
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string(head) + "5\r\nhello\r\n0\r\n\r\n") == state::error);
    CHECK(p.error() == "both Content-Length and Transfer-Encoding");
    CHECK_FALSE(p.keep_alive());
  }
}

TEST_CASE("http1: bytes after the response are ignored, and end the connection's reuse") {
  struct excess_case {
    std::string wire;
    bool head_request;
    int status;
    std::string body;
    size_t response_size;  // of `wire`, the rest is excess
  };
  const std::string cl = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "2\r\nok\r\n0\r\n\r\n";
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string no_content_cl = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
  const std::string not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n";
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  for (const auto& [wire, head_request, status, body, response_size] : {
           // A stray CRLF (or LF) after a Content-Length or chunked body.
           excess_case{cl + "\r\n", false, 200, "ok", cl.size()},
           excess_case{cl + "\n", false, 200, "ok", cl.size()},
           excess_case{chunked + "\r\n", false, 200, "ok", chunked.size()},
           // A Content-Length smaller than the body sent.
           excess_case{cl + "ay", false, 200, "ok", cl.size()},
           // A body on a response that has none.
           excess_case{no_content + "x", false, 204, "", no_content.size()},
           excess_case{no_content + "Content-Length: 5\r\n\r\nhello", false, 204, "",
                       no_content.size()},
           excess_case{no_content_cl + "hello", false, 204, "", no_content_cl.size()},
           excess_case{not_modified + "hello", false, 304, "", not_modified.size()},
           excess_case{head + "hello", true, 200, "", head.size()},
           // A second response we did not ask for.
           excess_case{cl + "HTTP/1.1 200 OK\r\n", false, 200, "ok", cl.size()},
       }) {
    CAPTURE(wire);
    REQUIRE(response_size < wire.size());
    // In one piece: done, with the body and status of the response.
    response_parser p;
    p.reset(head_request);
    CHECK(feed_all(p, wire) == state::done);
    CHECK(p.status() == status);
    CHECK(p.body() == body);
    CHECK(p.excess());
    CHECK_FALSE(p.keep_alive());
    CHECK(p.error().empty());
    CHECK(p.eof() == state::done);
    CHECK_FALSE(p.keep_alive());

    // Byte by byte: done with the response's last byte, excess with the next one.
    response_parser bytewise;
    bytewise.reset(head_request);
    CHECK(feed_bytewise_past_done(bytewise, wire) == response_size);
    CHECK(bytewise.status() == status);
    CHECK(bytewise.body() == body);
    CHECK(bytewise.excess());
    CHECK_FALSE(bytewise.keep_alive());

    // The response in one read, the rest in the next.
    response_parser split;
    split.reset(head_request);
    CHECK(split.feed(wire.data(), response_size) == state::done);
    CHECK_FALSE(split.excess());
    CHECK(split.feed("", 0) == state::done);
    CHECK_FALSE(split.excess());
    CHECK(split.feed(wire.data() + response_size, wire.size() - response_size) == state::done);
    CHECK(split.body() == body);
    CHECK(split.excess());
    CHECK_FALSE(split.keep_alive());
  }

  // reset() clears it.
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, cl + "\r\n") == state::done);
  CHECK(p.excess());
  p.reset(false);
  CHECK_FALSE(p.excess());
  CHECK(feed_all(p, cl) == state::done);
  CHECK_FALSE(p.excess());
  CHECK(p.keep_alive());

  // A close-delimited body takes every byte: never excess.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\n\r\nok\r\n") == state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body() == "ok\r\n");
  CHECK_FALSE(p.excess());

  // Bytes after an error change nothing.
  p.reset(false);
  CHECK(feed_all(p, "nonsense\r\n") == state::error);
  CHECK(feed_all(p, "more") == state::error);
  CHECK_FALSE(p.excess());
}

TEST_CASE("http1: eof before any byte and eof mid-response have distinct texts") {
  response_parser p;
  p.reset(false);
  CHECK_FALSE(p.received_any());
  CHECK(p.feed("", 0) == state::need_more);
  CHECK_FALSE(p.received_any());
  CHECK(p.eof() == state::error);
  CHECK(p.error() == "connection closed before any response");
  CHECK_FALSE(p.received_any());
  CHECK_FALSE(p.keep_alive());

  for (const char* partial : {
           "H",
           "HTTP/1.1 200 OK\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer: x\r\n",
       }) {
    CAPTURE(std::string(partial));
    p.reset(false);
    CHECK(feed_all(p, partial) == state::need_more);
    CHECK(p.received_any());
    CHECK(p.eof() == state::error);
    CHECK(p.error() == "connection closed before the response was complete");
    CHECK(p.received_any());
    CHECK_FALSE(p.keep_alive());
  }

  // reset() forgets the bytes of the previous response.
  p.reset(false);
  CHECK_FALSE(p.received_any());
  CHECK(p.error().empty());
  CHECK(p.status() == 0);
}

TEST_CASE("http1: a head beyond max_head is an error") {
  const std::string exact = "HTTP/1.1 200 OK\r\nX-Pad: 0123456789012345678901234\r\n"
                            "Content-Length: 0\r\n\r\n";
  REQUIRE(exact.size() == 72);
  // One byte over the limit, in one piece and byte by byte; exactly at the limit is fine.
  response_parser::limits l;
  l.max_head = 71;
  {
    response_parser p(l);
    p.reset(false);
    CHECK(feed_all(p, exact) == state::error);
    CHECK(p.error() == "response head too large");
    response_parser q(l);
    q.reset(false);
    CHECK(feed_bytewise(q, exact) == state::error);
    CHECK(q.error() == "response head too large");
  }
  l.max_head = 72;
  {
    response_parser p(l);
    p.reset(false);
    CHECK(feed_all(p, exact) == state::done);
    response_parser q(l);
    q.reset(false);
    CHECK(feed_bytewise(q, exact) == state::done);
  }

  // The default limit: 64 KiB; a single endless header line fails without an end of line.
  response_parser p;
  p.reset(false);
  std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a');
  CHECK(feed_all(p, head) == state::error);
  CHECK(p.error() == "response head too large");

  // Many small headers.
  p.reset(false);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10000; ++i) many += "X-H: v\r\n";
  CHECK(feed_all(p, many + "\r\n") == state::error);
  CHECK(p.error() == "response head too large");

  // Each 1xx head has its own allowance: the limit is per head.
  response_parser small(l);
  small.reset(false);
  std::string interim = "HTTP/1.1 100 Continue\r\nX-Pad: 01234567890123456789\r\n\r\n";
  CHECK(feed_all(small, interim + interim + exact) == state::done);
}

TEST_CASE("http1: a body beyond max_body is an error") {
  response_parser::limits l;
  l.max_body = 10;

  response_parser p(l);
  p.reset(false);
  // Announced: fails at the end of the head, before any body byte.
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n") == state::error);
  CHECK(p.error() == "response body too large");
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789") == state::done);
  CHECK(p.body() == "0123456789");

  // Chunked: the total counts, not each chunk.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\n012345\r\n5\r\n") == state::error);
  CHECK(p.error() == "response body too large");
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n") == state::done);
  CHECK(p.body() == "0123456789");

  // Close-delimited.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\n\r\n0123456789") == state::need_more);
  CHECK(feed_all(p, "a") == state::error);
  CHECK(p.error() == "response body too large");

  // The default limit: 256 MiB.
  response_parser d;
  d.reset(false);
  CHECK(feed_all(d, "HTTP/1.1 200 OK\r\nContent-Length: 268435457\r\n\r\n") == state::error);
  CHECK(d.error() == "response body too large");
}

TEST_CASE("http1: reset() between two responses on the same parser") {
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfirst") == state::done);
  CHECK(p.body() == "first");
  std::string first = std::move(p.body());
  CHECK(first == "first");

  p.reset(false);
  CHECK(p.status() == 0);
  CHECK(p.body().empty());
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        state::need_more);
  CHECK(feed_all(p, "6\r\nsecond\r\n0\r\n\r\n") == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body() == "second");
  CHECK(p.keep_alive());

  // After an error, reset makes the parser usable again.
  p.reset(false);
  CHECK(feed_all(p, "nonsense\r\n") == state::error);
  p.reset(true);
  CHECK(p.error().empty());
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n") == state::done);
  CHECK(p.body().empty());
  CHECK(p.keep_alive());

  // A partial line from before the reset is gone.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 2") == state::need_more);
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n") == state::done);
  CHECK(p.status() == 202);
}

TEST_CASE("http1: a large Content-Length body in many reads") {
  std::string body;
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) body += std::to_string(i) + ",";
  std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body;
  response_parser p;
  p.reset(false);
  state s = state::need_more;
  for (size_t i = 0; i < wire.size() && s == state::need_more; i += 16384)
    s = p.feed(wire.data() + i, std::min<size_t>(16384, wire.size() - i));
  CHECK(s == state::done);
  CHECK(p.body() == body);
  CHECK(p.keep_alive());
}

TEST_CASE("http1: write_request is byte-exact") {
  std::string out;
  CHECK(write_request(out, "GET", "/health?x=1", "example.com:8080", {}, "", false));
  CHECK(out == "GET /health?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");

  out.clear();
  CHECK(write_request(out, "POST", "/api/v1/events", "gw",
                      {{"Content-Type", "application/json"}, {"X-Empty", ""},
                       {"Authorization", "Bearer abc.def"}},
                      "{\"a\":1}", true));
  CHECK(out ==
        "POST /api/v1/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        "X-Empty: \r\nAuthorization: Bearer abc.def\r\nContent-Length: 7\r\n\r\n{\"a\":1}");

  // A length of 0 is still sent when asked for (a POST without a body).
  out.clear();
  CHECK(write_request(out, "POST", "/", "h", {}, "", true));
  CHECK(out == "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");

  // Without send_length no length is sent (a GET's empty body).
  out.clear();
  CHECK(write_request(out, "DELETE", "/x", "h", {}, "", false));
  CHECK(out == "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n");

  // It appends: a second request follows the first.
  std::string two = "prefix|";
  CHECK(write_request(two, "GET", "/", "h", {}, "", false));
  CHECK(write_request(two, "GET", "/b", "h", {}, "", false));
  CHECK(two == "prefix|GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");

  // A larger body and a length with several digits.
  out.clear();
  std::string big(123456, 'z');
  CHECK(write_request(out, "POST", "/big", "h", {}, big, true));
  CHECK(out == "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 123456\r\n\r\n" + big);
}

TEST_CASE("http1: write_request refuses CR and LF, leaving the output unchanged") {
  using headers = std::vector<std::pair<std::string, std::string>>;
  const std::string before = "unchanged";
  auto refused = [&](std::string_view method, std::string_view target, std::string_view host,
                     const headers& h) {
    std::string out = before;
    bool ok = write_request(out, method, target, host, h, "body", true);
    if (!ok) CHECK(out == before);
    return !ok;
  };
  CHECK(refused("GET", "/", "h", {{"X-A", "1\r\nX-Injected: 1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A", "1\nX-Injected: 1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A", "1\r"}}));
  CHECK(refused("GET", "/", "h", {{"X-A\r\nX-Injected", "1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A\n", "1"}}));
  CHECK(refused("GET", "/", "h", {{"X-Ok", "1"}, {"X-A", "\r\n\r\nGET /evil HTTP/1.1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A", std::string("a\0b", 3)}}));
  CHECK(refused("GET", "/", "h\r\nX-Injected: 1", {}));
  CHECK(refused("GET", "/ HTTP/1.1\r\nHost: x\r\nX-Injected: 1\r\n", "h", {}));
  CHECK(refused("GET\r\n", "/", "h", {}));
  // Names and the request line must stay parseable.
  CHECK(refused("GET", "/", "h", {{"", "1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A: 1", "2"}}));
  CHECK(refused("GET", "/", "h", {{"X A", "1"}}));
  CHECK(refused("GET", "/a b", "h", {}));
  CHECK(refused("", "/", "h", {}));
  CHECK(refused("GET", "", "h", {}));
  // The framing is ours: a caller's Content-Length or Transfer-Encoding could contradict it.
  CHECK(refused("POST", "/", "h", {{"Transfer-Encoding", "chunked"}}));
  CHECK(refused("POST", "/", "h", {{"content-length", "4"}}));
  // Values may hold anything else, ':' and spaces included.
  CHECK_FALSE(refused("GET", "/", "h", {{"X-A", " a: b\tc "}}));
}
TEST_CASE("http1: write_answer is byte-exact; the framing headers are the engine's") {
  const std::string date = "Sun, 06 Nov 1994 08:49:37 GMT";
  response res;
  res.status = 404;
  res.set_content("{}", "application/json");
  res.headers = {{"X-A", "1"},
                 {"Content-Length", "99"},
                 {"connection", "keep-alive"},
                 {"Date", "yesterday"},
                 {"Transfer-Encoding", "chunked"},
                 {"Content-Type", "text/plain"},  // set_content's type wins
                 {"Bad Name", "v"},               // would break the framing: dropped
                 {"X-B", "a\r\nInjected: 1"},
                 {"X-C", std::string("a\0b", 3)},
                 {"X-Empty", ""}};
  std::string out = "prefix|";
  write_answer(out, res, false, true, false, date);
  CHECK(out == "prefix|HTTP/1.1 404 Not Found\r\nX-A: 1\r\nX-Empty: \r\n"
               "Content-Type: application/json\r\nDate: " + date +
               "\r\nContent-Length: 2\r\n\r\n{}");

  // Closing; an HTTP/1.0 client kept; HEAD: the length of the body not sent.
  response ok;
  ok.set_content("abc", "text/plain");
  out.clear();
  write_answer(out, ok, false, false, false, date);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: " + date +
               "\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  out.clear();
  write_answer(out, ok, true, true, true, date);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: " + date +
               "\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");

  // No body and no length for 204, 304 and 1xx; a status outside 100-999 is a 500.
  for (int status : {204, 304, 103}) {
    CAPTURE(status);
    response none;
    none.status = status;
    none.body = "dropped";
    out.clear();
    write_answer(out, none, false, true, false, date);
    CHECK(out.find("Content-Length") == std::string::npos);
    CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
  }
  for (int status : {0, 99, 1000, -1}) {
    CAPTURE(status);
    response odd;
    odd.status = status;
    out.clear();
    write_answer(out, odd, false, true, false, date);
    CHECK(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0) == 0);
  }
  // A status the table does not name still goes out, with a placeholder reason.
  response teapot;
  teapot.status = 418;
  out.clear();
  write_answer(out, teapot, false, true, false, date);
  CHECK(out.rfind("HTTP/1.1 418 Unknown\r\n", 0) == 0);
}

// ---- request_parser

namespace {

// Feeds `wire` to `p` in reads of the given sizes, the way a server hands over what each socket
// read brought: what the reader leaves (an incomplete line) is offered again with the next read.
// Returns the bytes consumed.
size_t feed_reads(request_parser& p, const std::string& wire, const std::vector<size_t>& reads) {
  std::string held;
  size_t at = 0;
  size_t consumed = 0;
  for (size_t n : reads) {
    held.append(wire, at, n);
    at += n;
    size_t took = p.feed(held.data(), held.size());
    CHECK(took <= held.size());
    consumed += took;
    held.erase(0, took);
    if (p.current() != req_state::need_more) break;
  }
  return consumed;
}

// Two parsers fed the same bytes must agree on everything observable.
void check_same(request_parser& a, request_parser& b) {
  CHECK(a.current() == b.current());
  CHECK(a.head_complete() == b.head_complete());
  CHECK(a.received_any() == b.received_any());
  CHECK(a.error_status() == b.error_status());
  CHECK(a.error() == b.error());
  const request& x = a.req();
  const request& y = b.req();
  CHECK(x.method == y.method);
  CHECK(x.target == y.target);
  CHECK(x.version == y.version);
  CHECK(x.headers == y.headers);
  CHECK(x.body == y.body);
  CHECK(a.keep_alive() == b.keep_alive());
  CHECK(a.expect_continue() == b.expect_continue());
}

// Parses `wire` with fresh parsers fed in every way a socket could split it: whole, byte by
// byte, and in two reads at every split point; all must agree. Done, each must have consumed
// exactly `size` bytes (the request's length: the rest is the next request's). Returns the
// parser fed whole, for the caller's checks.
request_parser parse_every_way(const std::string& wire, size_t size = std::string::npos,
                               request_parser::limits l = {}) {
  if (size == std::string::npos) size = wire.size();
  auto check_consumed = [&](request_parser& p, size_t consumed) {
    if (p.current() == req_state::done) CHECK(consumed == size);
    CHECK(consumed <= wire.size());
  };
  request_parser whole(l);
  check_consumed(whole, feed_reads(whole, wire, {wire.size()}));
  request_parser bytewise(l);
  check_consumed(bytewise, feed_reads(bytewise, wire, std::vector<size_t>(wire.size(), 1)));
  check_same(whole, bytewise);
  for (size_t at = 0; at <= wire.size(); ++at) {
    CAPTURE(at);
    request_parser split(l);
    check_consumed(split, feed_reads(split, wire, {at, wire.size() - at}));
    check_same(whole, split);
  }
  return whole;
}

// `wire` fails, fed in every way, with this status and text; the error sticks.
void check_error(const std::string& wire, int status, const char* error,
                 request_parser::limits l = {}) {
  request_parser p = parse_every_way(wire, wire.size(), l);
  CHECK(p.current() == req_state::error);
  CHECK(p.error_status() == status);
  CHECK(p.error() == error);
  CHECK(p.feed(wire.data(), wire.size()) == 0);
  CHECK(p.current() == req_state::error);
}

using header_list = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("http1 request: GET without a body") {
  const std::string wire = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  request_parser p = parse_every_way(wire);
  REQUIRE(p.current() == req_state::done);
  CHECK(p.head_complete());
  CHECK(p.received_any());
  CHECK(p.req().method == "GET");
  CHECK(p.req().target == "/a/b?x=1");
  CHECK(p.req().version == 11);
  CHECK(p.req().headers == header_list{{"Host", "example.com"}, {"Accept", "*/*"}});
  CHECK(p.req().body.empty());
  CHECK(p.keep_alive());
  CHECK_FALSE(p.expect_continue());
  CHECK(p.error_status() == 0);
  CHECK(p.error().empty());
  // Done: nothing more is consumed.
  CHECK(p.feed(wire.data(), wire.size()) == 0);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().target == "/a/b?x=1");

  // Even a POST without Content-Length or Transfer-Encoding has an empty body.
  p = parse_every_way("POST /x HTTP/1.1\r\nHost: h\r\n\r\nnext", 29);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body.empty());
}

TEST_CASE("http1 request: POST with Content-Length, values trimmed of OWS") {
  const std::string wire =
      "POST /api/v1/events HTTP/1.1\r\nHost: h\r\ncontent-length:   11  \r\n"
      "X-Note:\t caf\xc3\xa9 \t au\tlait \r\nX-Empty:\r\n\r\nhello world";
  request_parser p = parse_every_way(wire);
  REQUIRE(p.current() == req_state::done);
  CHECK(p.req().method == "POST");
  CHECK(p.req().target == "/api/v1/events");
  CHECK(p.req().headers == header_list{{"Host", "h"},
                                       {"content-length", "11"},
                                       {"X-Note", "caf\xc3\xa9 \t au\tlait"},
                                       {"X-Empty", ""}});
  CHECK(p.req().body == "hello world");
  CHECK(p.keep_alive());

  // Content-Length 0: done with the head.
  p = parse_every_way("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body.empty());

  // Leading zeros, and the same value repeated in a list and in another header.
  p = parse_every_way("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 005, 5\r\nContent-Length: 5\r\n\r\n"
                      "abcde");
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "abcde");
}

TEST_CASE("http1 request: chunked body with extensions and trailers") {
  const std::string wire =
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1A ; a=\"quoted;\"\r\n abcdefghijklmnopqrstuvwxy\r\n"
      "00a\r\n0123456789\r\n"
      "0;last\r\nX-Checksum: 1234\r\nX-Other:z\r\n\r\n";
  request_parser p = parse_every_way(wire);
  REQUIRE(p.current() == req_state::done);
  CHECK(p.req().body == "hello abcdefghijklmnopqrstuvwxy0123456789");
  // The trailers are checked, not kept.
  CHECK(p.req().headers == header_list{{"Host", "h"}, {"Transfer-Encoding", "chunked"}});
  CHECK(p.keep_alive());

  // Any case for "chunked", a lower-case hex size, no trailers.
  p = parse_every_way("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
                      "b\r\nhello world\r\n0\r\n\r\n");
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "hello world");

  // An empty chunked body.
  p = parse_every_way("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body.empty());
}

TEST_CASE("http1 request: pipelined requests, each feed stops at the end of its request") {
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third =
      "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n";
  // A CRLF after a body, as some clients send, belongs to the next request (skipped there).
  const std::string fourth = "\r\nGET /4 HTTP/1.1\r\nHo";
  const std::string all = first + second + third + fourth;

  CHECK(parse_every_way(all, first.size()).req().target == "/1");
  CHECK(parse_every_way(second + third, second.size()).req().body == "abc");
  CHECK(parse_every_way(third + fourth, third.size()).req().body == "de");

  // One parser, reset between requests, as a server on a keep-alive connection does.
  request_parser p;
  size_t at = 0;
  for (const auto& [size, target, body] : {
           std::tuple{first.size(), "/1", ""},
           std::tuple{second.size(), "/2", "abc"},
           std::tuple{third.size(), "/3", "de"},
       }) {
    CAPTURE(target);
    p.reset();
    CHECK(p.feed(all.data() + at, all.size() - at) == size);
    CHECK(p.current() == req_state::done);
    CHECK(p.req().target == target);
    CHECK(p.req().body == body);
    CHECK(p.feed(all.data() + at + size, all.size() - at - size) == 0);
    at += size;
  }
  // The next one's empty line and request line are taken; its incomplete header line waits.
  p.reset();
  CHECK(p.feed(all.data() + at, all.size() - at) == fourth.size() - 2);
  CHECK(p.current() == req_state::need_more);
  CHECK_FALSE(p.head_complete());
  CHECK(p.received_any());
}

TEST_CASE("http1 request: empty lines before the request line are skipped, within max_head") {
  const std::string wire = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  request_parser p = parse_every_way(wire);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().method == "GET");
  CHECK(p.req().headers == header_list{{"Host", "h"}});

  // Only empty lines so far: nothing parsed, but bytes were received.
  request_parser q;
  CHECK(q.feed("\r\n", 2) == 2);
  CHECK(q.current() == req_state::need_more);
  CHECK(q.received_any());
  CHECK_FALSE(q.head_complete());

  // They count toward max_head.
  request_parser::limits l;
  l.max_head = wire.size();
  CHECK(parse_every_way(wire, wire.size(), l).current() == req_state::done);
  l.max_head = wire.size() - 1;
  check_error(wire, 431, "request header fields too large", l);
  // Even when it is the request line they leave too little room for: 431, not 414.
  l.max_head = 5 + 15;
  check_error(wire, 431, "request header fields too large", l);
  l.max_head = 64;
  check_error(std::string(100, '\n'), 431, "request header fields too large", l);
}

TEST_CASE("http1 request: a line ended by a lone LF or CR is 400, at once") {
  // RFC 9112 2.2 lets a server refuse a bare LF; Beast does. Refused as soon as the line ends,
  // not when (if ever) a CRLF CRLF ends the head.
  check_error("POST /x HTTP/1.1\nHost: h\r\n\r\n", 400, "malformed request line");
  check_error("POST /x HTTP/1.1\r\nHost: h\nContent-Length: 3\r\n\r\nabc", 400,
              "invalid header value");
  check_error("POST /x HTTP/1.1\r\nHost: h\n", 400, "invalid header value");
  check_error("POST /x HTTP/1.1\r\nHost: h\r\n\n", 400, "malformed line ending");
  check_error("POST /x HTTP/1.1\r\nHost: h\r\rX", 400, "malformed line ending");
  // A chunk-size line.
  check_error("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
              400, "malformed line ending");
}

TEST_CASE("http1 request: keep_alive by version and Connection tokens") {
  struct ka_case {
    const char* version;
    const char* lines;
    int minor;
    bool keep_alive;
  };
  for (auto [version, lines, minor, keep_alive] : {
           ka_case{"HTTP/1.1", "", 1, true},
           ka_case{"HTTP/1.1", "Connection: foo, Close\r\n", 1, false},
           ka_case{"HTTP/1.1", "Connection:close\r\n", 1, false},
           ka_case{"HTTP/1.1", "Connection: foo\r\nConnection: close\r\n", 1, false},
           ka_case{"HTTP/1.1", "Connection: closed, not-close\r\n", 1, true},
           ka_case{"HTTP/1.1", "Connection: keep-alive\r\n", 1, true},
           ka_case{"HTTP/1.1", "X-Connection: close\r\n", 1, true},
           ka_case{"HTTP/1.0", "", 0, false},
           ka_case{"HTTP/1.0", "Connection: keep-alive\r\n", 0, true},
           ka_case{"HTTP/1.0", "Connection: TE,  Keep-Alive \r\n", 0, true},
           ka_case{"HTTP/1.0", "Connection: keep-alive, close\r\n", 0, false},
           ka_case{"HTTP/1.1", "Proxy-Connection: close\r\n", 1, true},
           ka_case{"HTTP/1.0", "Connection: keep-alive-ish\r\n", 0, false},
       }) {
    CAPTURE(std::string(version));
    CAPTURE(std::string(lines));
    request_parser p = parse_every_way(std::string("GET / ") + version + "\r\nHost: x\r\n" + lines + "\r\n");
    CHECK(p.current() == req_state::done);
    CHECK(p.req().version == 10 + minor);
    CHECK(p.keep_alive() == keep_alive);
  }
}

TEST_CASE("http1 request: expect_continue only for HTTP/1.1 and 100-continue") {
  struct expect_case {
    const char* version;
    const char* lines;
    bool expect_continue;
  };
  for (auto [version, lines, expect_continue] : {
           expect_case{"HTTP/1.1", "Expect: 100-continue\r\n", true},
           expect_case{"HTTP/1.1", "expect:  100-Continue \r\n", true},
           expect_case{"HTTP/1.1", "", false},
           expect_case{"HTTP/1.0", "Expect: 100-continue\r\n", false},
           // Other expectations are the server's call: no error here.
           expect_case{"HTTP/1.1", "Expect: 100-continue-please\r\n", false},
           expect_case{"HTTP/1.1", "Expect: something\r\n", false},
           expect_case{"HTTP/1.1", "X-Expect: 100-continue\r\n", false},
       }) {
    CAPTURE(std::string(version));
    CAPTURE(std::string(lines));
    request_parser p = parse_every_way(std::string("POST / ") + version + "\r\nHost: x\r\n" + lines +
                                       "Content-Length: 2\r\n\r\nok");
    CHECK(p.current() == req_state::done);
    CHECK(p.req().body == "ok");
    CHECK(p.expect_continue() == expect_continue);
  }
}

TEST_CASE("http1 request: head_complete() before the body arrives") {
  const std::string head =
      "PUT /doc HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  // Fed in every way, the head alone: complete, waiting for the body.
  request_parser p = parse_every_way(head);
  CHECK(p.current() == req_state::need_more);
  CHECK(p.head_complete());
  CHECK(p.req().method == "PUT");
  CHECK(p.expect_continue());
  CHECK(p.feed("abc", 3) == 3);
  CHECK(p.current() == req_state::need_more);
  CHECK(p.feed("defg", 4) == 2);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "abcde");

  // Not before the empty line ending the head.
  request_parser q;
  CHECK(feed_reads(q, head, {head.size() - 2}) < head.size() - 2);
  CHECK_FALSE(q.head_complete());
  CHECK(feed_reads(q, head, {head.size() - 1}) < head.size() - 1);
  CHECK_FALSE(q.head_complete());
  q.reset();
  CHECK(feed_reads(q, head, {head.size() - 1, 1}) == head.size());
  CHECK(q.head_complete());
  CHECK(q.current() == req_state::need_more);

  // Chunked: the head, then the chunks (the CRLF after a chunk's data is read with the next
  // chunk-size line).
  const std::string chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc";
  p = parse_every_way(chunked);
  CHECK(p.head_complete());
  CHECK(p.current() == req_state::need_more);
  CHECK(p.req().body == "abc");
  CHECK(p.feed("\r\n0\r\n\r\n", 7) == 7);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "abc");
}

TEST_CASE("http1 request: malformed request lines are 400, other HTTP majors 505") {
  for (const char* line : {
           "GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1", "GET / HTTP/1.1 ",
           "GET /a b HTTP/1.1", "GET HTTP/1.1", "GET", "GET /", "G(T / HTTP/1.1",
           "G\xc3\x89T / HTTP/1.1", "GET\t/ HTTP/1.1", "GET /\t HTTP/1.1", "GET /\x01 HTTP/1.1",
           "GET /\x7f HTTP/1.1", "GET / HTTP/1", "GET / HTTP/1.", "GET / http/1.1",
           "GET / HTTP/1.1.1", "GET / HTTP/11.1", "GET / HTTP/1.x", "GET / HTTP/1,1",
           "GET / HTTPS/1.1",
       }) {
    CAPTURE(std::string(line));
    check_error(std::string(line) + "\r\nHost: h\r\n\r\n", 400, "malformed request line");
  }
  for (const char* line : {"GET / HTTP/2.0", "GET / HTTP/0.9", "GET / HTTP/3.1"}) {
    CAPTURE(std::string(line));
    check_error(std::string(line) + "\r\nHost: h\r\n\r\n", 505, "HTTP version not supported");
  }
  // The HTTP/2 connection preface, sent to an HTTP/1 port.
  check_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP version not supported");

  // Beast reads only HTTP/1.0 and 1.1: a higher 1.x is 505 too (RFC 9110 2.5 would read it as
  // 1.1; no such version exists, and a client sends the highest it speaks).
  for (const char* line : {"GET / HTTP/1.2", "GET / HTTP/1.9"}) {
    CAPTURE(std::string(line));
    check_error(std::string(line) + "\r\nHost: h\r\n\r\n", 505, "HTTP version not supported");
  }

  // Valid: any token is a method, case kept; targets of any form, with obs-text.
  struct ok_case {
    const char* line;
    const char* method;
    const char* target;
    int minor;
  };
  for (auto [line, method, target, minor] : {
           ok_case{"M-SEARCH * HTTP/1.1", "M-SEARCH", "*", 1},
           ok_case{"get /caf\xc3\xa9?q=\"x\" HTTP/1.0", "get", "/caf\xc3\xa9?q=\"x\"", 0},
           ok_case{"OPTIONS http://example.com:80/a HTTP/1.1", "OPTIONS",
                   "http://example.com:80/a", 1},
           ok_case{"CONNECT example.com:443 HTTP/1.1", "CONNECT", "example.com:443", 1},
       }) {
    CAPTURE(std::string(line));
    request_parser p = parse_every_way(std::string(line) + "\r\nHost: x\r\n\r\n");
    CHECK(p.current() == req_state::done);
    CHECK(p.req().method == method);
    CHECK(p.req().target == target);
    CHECK(p.req().version == 10 + minor);
  }
}

TEST_CASE("http1 request: malformed header lines are 400") {
  struct bad_case {
    const char* lines;  // between the request line and the end of the head
    const char* error;
  };
  for (auto [lines, error] : {
           // RFC 9112 5.1: a proxy may take "Content-Length : 5" as the real thing.
           bad_case{"Host : h\r\n", "malformed header line"},
           bad_case{"Host\t: h\r\n", "malformed header line"},
           bad_case{"Content-Length : 5\r\n", "malformed header line"},
           bad_case{"Host h\r\n", "malformed header line"},
           bad_case{": h\r\n", "malformed header line"},
           bad_case{":\r\n", "malformed header line"},
           bad_case{"Ho st: h\r\n", "malformed header line"},
           bad_case{"X-\xc3\xa4: 1\r\n", "malformed header line"},
           bad_case{"(X): 1\r\n", "malformed header line"},
           bad_case{"X-A: 1\r\n folded\r\n", "folded header line"},
           bad_case{"X-A: 1\r\n\tfolded\r\n", "folded header line"},
           bad_case{" Host: h\r\n", "folded header line"},  // continues the Host before
           bad_case{"X-A:\r\n folded\r\n", "folded header line"},
           bad_case{"Content-Length: 1\r\n 1\r\n", "invalid Content-Length"},  // "1 1"
           bad_case{"X-A: a\x01z\r\n", "invalid header value"},
           bad_case{"X-A: a\x7f\r\n", "invalid header value"},
           bad_case{"X-A: \x1b[31m\r\n", "invalid header value"},
           bad_case{"X-A: a\x0bz\r\n", "invalid header value"},
       }) {
    CAPTURE(std::string(lines));
    check_error(std::string("GET / HTTP/1.1\r\nHost: h\r\n") + lines + "\r\n", 400, error);
  }
}

TEST_CASE("http1 request: NUL or a bare CR anywhere in the head is 400") {
  using namespace std::string_literals;  // for the NULs
  struct bad_case {
    std::string wire;
    const char* error;
  };
  for (const auto& [wire, error] : {
           bad_case{"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s, "invalid header value"},
           bad_case{"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "malformed line ending"},
           bad_case{"GET / HTTP/1.1\r\nHost: x\r\nX\rA: 1\r\n\r\n", "malformed header line"},
           bad_case{"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\r\n\r\n", "malformed line ending"},
           bad_case{"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n", "malformed line ending"},
           bad_case{"GET / HTTP/1.1\r\r\n\r\n", "malformed request line"},
           bad_case{"GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n"s, "malformed request line"},
           bad_case{"\r\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed request line"},
           bad_case{"\0\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"s, "malformed request line"},
           // In the chunked framing too (a trailer line once the trailers end).
           bad_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\r\nabc\r\n",
                    "malformed line ending"},
           bad_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\rb\r\n\r\n",
                    "malformed line ending"},
       }) {
    CAPTURE(wire);
    check_error(wire, 400, error);
  }
}

TEST_CASE("http1 request: Content-Length must be digits and agree with itself") {
  struct cl_case {
    const char* lines;
    const char* error;  // nullptr: valid, a body of 3
  };
  for (auto [lines, error] : {
           cl_case{"Content-Length: 12a\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: -1\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: +3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length:\r\n", "invalid Content-Length"},
           cl_case{"Content-Length:   \r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 1 2\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 0x3\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3.0\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 99999999999999999999999\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 18446744073709551616\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3\r\nContent-Length: 4\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3, 4\r\n", "invalid Content-Length"},
           cl_case{"Content-Length: 3,3\r\n", nullptr},
           cl_case{"Content-Length: 3\r\nContent-Length: 3\r\n", nullptr},
           cl_case{"Content-Length: 003\r\n", nullptr},
       }) {
    CAPTURE(std::string(lines));
    const std::string wire = std::string("POST / HTTP/1.1\r\nHost: x\r\n") + lines + "\r\nabc";
    if (error) {
      check_error(wire, 400, error);
    } else {
      request_parser p = parse_every_way(wire);
      CHECK(p.current() == req_state::done);
      CHECK(p.req().body == "abc");
    }
  }
}

TEST_CASE("http1 request: Transfer-Encoding framing") {
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  struct te_case {
    const char* head;
    int status;
    const char* error;
  };
  for (auto [head, status, error] : {
           // Either header could be the one another hop frames by.
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400,
                   "both Content-Length and Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n", 400,
                   "both Content-Length and Transfer-Encoding"},
           te_case{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400,
                   "Transfer-Encoding in HTTP/1.0 request"},
           // Chunked not last, or more than once, or missing: no way to find the end.
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n", 400,
                   "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n", 400,
                   "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n", 400,
                   "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   "Transfer-Encoding: chunked\r\n", 400, "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n", 400,
                   "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n", 400, "invalid Transfer-Encoding"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n", 400,
                   "invalid Transfer-Encoding"},
           // Framed, but in a coding we don't decode; a list over several headers.
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n", 501,
                   "transfer coding not supported"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: deflate,chunked\r\n", 501,
                   "transfer coding not supported"},
           te_case{"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                   501, "transfer coding not supported"},
       }) {
    CAPTURE(std::string(head));
    // The error comes with the head (at its end, or at the second framing header), before the
    // body; the request line was read.
    request_parser p = parse_every_way(std::string(head) + "\r\n");
    CHECK(p.current() == req_state::error);
    CHECK(p.req().method == "POST");
    CHECK(p.error_status() == status);
    CHECK(p.error() == error);
    check_error(std::string(head) + "\r\n" + body, status, error);
  }
}

TEST_CASE("http1 request: bad chunk framing is 400") {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct bad_case {
    const char* chunks;
    const char* error;
  };
  for (auto [chunks, error] : {
           bad_case{"x\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{";ext\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"-3\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"+3\r\nabc\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3 x\r\nabc\r\n0\r\n\r\n", "invalid chunk extension"},
           bad_case{"3 \r\nabc\r\n0\r\n\r\n", "invalid chunk extension"},
           bad_case{"0x3\r\nabc\r\n0\r\n\r\n", "invalid chunk extension"},
           bad_case{"10000000000000000\r\n", "malformed chunk"},  // 2^64: overflow
           bad_case{"fffffffffffffffff\r\n", "malformed chunk"},
           bad_case{"3\r\nabcd\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", "malformed header line"},
           bad_case{"3\r\nabc\r\n0\r\n folded: x\r\n\r\n", "malformed header line"},
           bad_case{"3\r\nabc\r\n0\r\nT : x\r\n\r\n", "malformed header line"},
           bad_case{"3\r\nabc\r\n0\r\nT: x\r\n y\r\n\r\n", "folded header line"},
       }) {
    CAPTURE(std::string(chunks));
    check_error(head + chunks, 400, error);
  }

  // Each chunk-size line is bounded by max_request_line, extensions and all.
  request_parser::limits l;
  l.max_request_line = 16;
  std::string fits = head + "5;" + std::string(14, 'x') + "\r\nhello\r\n0\r\n\r\n";
  request_parser p = parse_every_way(fits, fits.size(), l);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "hello");
  check_error(head + "5;" + std::string(15, 'x') + "\r\nhello\r\n0\r\n\r\n", 400,
              "chunk size line too long", l);
  // Also before the line ends.
  std::string endless = head + "5;" + std::string(1000, 'x');
  request_parser q(l);
  CHECK(q.feed(endless.data(), endless.size()) <= head.size() + 16 + 2);
  CHECK(q.error() == "chunk size line too long");
}

TEST_CASE("http1 request: trailers beyond max_head are 431, with their own budget") {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  request_parser::limits l;
  l.max_head = 64;
  REQUIRE(head.size() == 56);
  // 64 bytes of trailers, their empty line included, after a 56-byte head.
  std::string fits = head + "0\r\nX-T: " + std::string(55, 'a') + "\r\n\r\n";
  CHECK(parse_every_way(fits, fits.size(), l).current() == req_state::done);
  check_error(head + "0\r\nX-T: " + std::string(56, 'a') + "\r\n\r\n", 431,
              "trailer fields too large", l);
  check_error(head + "0\r\nX-T: " + std::string(1000, 'a'), 431, "trailer fields too large", l);
}

TEST_CASE("http1 request: a body beyond max_body is 413") {
  request_parser::limits l;
  l.max_body = 10;
  // By Content-Length: at the end of the head, before any body byte.
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
  check_error(head, 413, "request body too large", l);
  check_error(head + "0123456789a", 413, "request body too large", l);
  request_parser p = parse_every_way("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
                                     std::string::npos, l);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "0123456789");

  // Chunked: the decoded total counts, checked at each chunk-size line.
  const std::string chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  check_error(chunked + "6\r\n012345\r\n5\r\n", 413, "request body too large", l);
  check_error(chunked + "b\r\n", 413, "request body too large", l);
  check_error(chunked + "ffffffffffffffff\r\n", 413, "request body too large", l);
  p = parse_every_way(chunked + "6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n", std::string::npos, l);
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "0123456789");

  // The default limit: 1 MiB.
  check_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413,
              "request body too large");
  request_parser d;
  std::string at_limit = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n";
  CHECK(d.feed(at_limit.data(), at_limit.size()) == at_limit.size());
  CHECK(d.current() == req_state::need_more);
}

TEST_CASE("http1 request: a request line beyond max_request_line is 414") {
  request_parser::limits l;
  l.max_request_line = 20;
  REQUIRE(std::string("GET /123456 HTTP/1.1").size() == 20);
  CHECK(parse_every_way("GET /123456 HTTP/1.1\r\nHost: x\r\n\r\n", std::string::npos, l).current() ==
        req_state::done);
  check_error("GET /1234567 HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request line too long", l);
  // Too long is too long, whatever ends it.
  check_error("GET /1234567 HTTP/1.1\n\r\n", 414, "request line too long", l);
  // Without waiting for the line's end: at most the limit and a CRLF are held.
  const std::string endless = "GET /" + std::string(1000, 'a');
  request_parser p(l);
  CHECK(p.feed(endless.data(), endless.size()) <= 22);
  CHECK(p.error_status() == 414);
  request_parser bytewise(l);
  size_t consumed = feed_reads(bytewise, endless, std::vector<size_t>(endless.size(), 1));
  CHECK(consumed <= 22);
  CHECK(bytewise.error_status() == 414);
  CHECK(bytewise.error() == "request line too long");

  // The default limit: 8 KiB.
  const std::string suffix = " HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string fits = "GET /" + std::string(8192 - 5 - 9, 'a') + suffix;
  request_parser d;
  CHECK(feed_reads(d, fits, {fits.size()}) == fits.size());
  CHECK(d.current() == req_state::done);
  const std::string over = "GET /" + std::string(8192 - 5 - 9 + 1, 'a') + suffix;
  d.reset();
  feed_reads(d, over, std::vector<size_t>(over.size(), 1));
  CHECK(d.error_status() == 414);
}

TEST_CASE("http1 request: a head beyond max_head is 431") {
  const std::string exact = "GET / HTTP/1.1\r\nX-Pad: 0123456789\r\nHost: h\r\n\r\n";
  REQUIRE(exact.size() == 46);
  request_parser::limits l;
  l.max_head = 46;
  CHECK(parse_every_way(exact, exact.size(), l).current() == req_state::done);
  l.max_head = 45;
  check_error(exact, 431, "request header fields too large", l);

  // The default limit, 64 KiB: an endless header line fails before its end.
  const std::string endless = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a');
  request_parser p;
  CHECK(p.feed(endless.data(), endless.size()) <= 64 * 1024);
  CHECK(p.error_status() == 431);
  CHECK(p.error() == "request header fields too large");

  // Many small headers.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 10000; ++i) many += "X-H: v\r\n";
  many += "\r\n";
  p.reset();
  feed_reads(p, many, {many.size()});
  CHECK(p.error_status() == 431);
}

TEST_CASE("http1 request: after done or error nothing is consumed; reset() starts afresh") {
  request_parser p;
  CHECK_FALSE(p.received_any());
  CHECK(p.feed("", 0) == 0);
  CHECK_FALSE(p.received_any());
  CHECK(p.current() == req_state::need_more);

  const std::string first = "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst";
  CHECK(p.feed(first.data(), first.size()) == first.size());
  CHECK(p.received_any());
  CHECK(p.current() == req_state::done);
  CHECK(p.feed("GET", 3) == 0);
  // The body can be moved out; reset() clears everything.
  std::string body = std::move(p.req().body);
  CHECK(body == "first");
  p.reset();
  CHECK_FALSE(p.received_any());
  CHECK_FALSE(p.head_complete());
  CHECK(p.current() == req_state::need_more);
  CHECK(p.req().method.empty());
  CHECK(p.req().headers.empty());
  CHECK(p.req().body.empty());

  // A partial line is left to the caller (it comes again with its end); a reset forgets the
  // rest.
  CHECK(p.feed("DELETE /x HT", 12) == 0);
  CHECK(p.received_any());
  p.reset();
  const std::string second = "GET /second HTTP/1.0\r\n\r\n";
  CHECK(p.feed(second.data(), second.size()) == second.size());
  CHECK(p.current() == req_state::done);
  CHECK(p.req().method == "GET");
  CHECK(p.req().target == "/second");
  CHECK_FALSE(p.keep_alive());

  // After an error: nothing consumed, until reset().
  p.reset();
  CHECK(p.feed("BAD\r\n", 5) == 0);
  CHECK(p.current() == req_state::error);
  CHECK(p.error_status() == 400);
  CHECK(p.feed(second.data(), second.size()) == 0);
  p.reset();
  CHECK(p.error_status() == 0);
  CHECK(p.error().empty());
  CHECK(p.feed(second.data(), second.size()) == second.size());
  CHECK(p.current() == req_state::done);
  CHECK_FALSE(p.keep_alive());
  CHECK(p.req().version == 10);
}

TEST_SUITE_END();

TEST_CASE("http1 request: Host is required in HTTP/1.1, once, and must be a host") {
  // RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to any
  // request with more than one or with an invalid one.
  check_error("GET / HTTP/1.1\r\n\r\n", 400, "missing Host header");
  check_error("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing Host header");
  check_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header");
  check_error("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "more than one Host header");
  check_error("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header");
  check_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host header");
  check_error("GET / HTTP/1.1\r\nHost: user@host\r\n\r\n", 400, "invalid Host header");
  check_error("GET / HTTP/1.1\r\nHost: host/path\r\n\r\n", 400, "invalid Host header");
  // Refused with the head: the body is not read.
  check_error("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400, "missing Host header");
  // What a host may be: a name, an address, an IP literal, with a port; or empty (RFC 9110
  // 7.2, a target without an authority). HTTP/1.0 may leave it out.
  for (const char* host : {"example.com", "example.com:8080", "127.0.0.1:80", "[::1]:8080",
                           "xn--bcher-kva.example", "h_1.local", ""}) {
    CAPTURE(host);
    auto p = parse_every_way(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    CHECK(p.current() == req_state::done);
  }
  CHECK(parse_every_way("GET / HTTP/1.0\r\n\r\n").current() == req_state::done);
  // A Host in the trailers is not a second Host.
  auto p = parse_every_way(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\nHost: other\r\n\r\n");
  CHECK(p.current() == req_state::done);
  CHECK(p.req().body == "a");
}

TEST_CASE("http1 request: a body leases its bytes from the shared budget before it is read") {
  medflow::net::byte_budget budget(100);
  request_parser::limits l;
  l.body_budget = &budget;
  {
    request_parser p(l);
    std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\n" +
                       std::string(60, 'x');
    p.feed(wire.data(), wire.size());
    REQUIRE(p.current() == req_state::done);
    CHECK(budget.used() == 60);
    // Another body of 60 does not fit beside it: refused with its head, 503.
    request_parser q(l);
    std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\n";
    q.feed(head.data(), head.size());
    CHECK(q.current() == req_state::error);
    CHECK(q.error_status() == 503);
    CHECK(q.error() == "too many request bodies in flight");
    CHECK(budget.used() == 60);
    // The lease goes with the body to whoever keeps it; reset() no longer returns it.
    auto lease = p.take_lease();
    p.reset();
    CHECK(budget.used() == 60);
    lease.release();
    CHECK(budget.used() == 0);
  }
  // Chunked: each chunk leases its size as its header comes; a chunk over the rest is 503.
  request_parser c(l);
  std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "32\r\n" + std::string(50, 'y');
  c.feed(wire.data(), wire.size());
  CHECK(c.current() == req_state::need_more);
  CHECK(budget.used() == 50);
  std::string more = "\r\n33\r\n";
  c.feed(more.data(), more.size());
  CHECK(c.current() == req_state::error);
  CHECK(c.error_status() == 503);
  // A reader dropped (or reset) mid-body gives its lease back.
  c.reset();
  CHECK(budget.used() == 0);
  {
    request_parser d(l);
    std::string part = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 90\r\n\r\nabc";
    d.feed(part.data(), part.size());
    CHECK(budget.used() == 90);
  }
  CHECK(budget.used() == 0);
}
