#include "core/http1.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

using medflow::http1::response_parser;
using medflow::http1::write_request;
using state = response_parser::state;

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
    CAPTURE(bad);
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

TEST_CASE("http1: malformed framing header lines, NUL and CR stay errors") {
  struct bad_case {
    std::string lines;  // between the status line and the Content-Length
    const char* error;
  };
  for (const auto& [lines, error] : {
           // Whitespace before the colon of a framing header, in any case.
           bad_case{"Content-Length : 3\r\n", "invalid header name"},
           bad_case{"content-length\t: 3\r\n", "invalid header name"},
           bad_case{"Transfer-Encoding : chunked\r\n", "invalid header name"},
           bad_case{"CONNECTION \t : close\r\n", "invalid header name"},
           // A folded framing header, SP or HT.
           bad_case{"Content-Length: 3\r\n 3\r\n", "obsolete header line folding"},
           bad_case{"Transfer-Encoding: gzip\r\n\tchunked\r\n", "obsolete header line folding"},
           bad_case{"Connection: keep-alive\r\n close\r\n", "obsolete header line folding"},
           bad_case{"Connection:\r\n close\r\n", "obsolete header line folding"},
           // NUL or CR: in a value, or anywhere in a line that would otherwise be skipped.
           bad_case{"X-A: a\rb\r\n", "invalid header value"},
           bad_case{std::string("X-A: a\0b\r\n", 10), "invalid header value"},
           bad_case{std::string("X-A: \0\r\n", 8), "invalid header value"},
           bad_case{std::string("no colon \0\r\n", 12), "invalid header line"},
           bad_case{"no colon \r here\r\n", "invalid header line"},
           bad_case{std::string("X-A: 1\r\n fold\0ed\r\n", 17), "invalid header line"},
           bad_case{std::string(" first\0\r\n", 9), "invalid header line"},
           bad_case{std::string("X A: \0\r\n", 8), "invalid header line"},
           bad_case{"X\rA: 1\r\n", "invalid header line"},
           bad_case{"\r\r\n", "invalid header line"},
       }) {
    CAPTURE(lines);
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

  // Skipped lines still count towards max_head.
  response_parser p;
  p.reset(false);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10000; ++i) many += "no colon\r\n";
  CHECK(feed_all(p, many + "\r\n") == state::error);
  CHECK(p.error() == "response head too large");
}

TEST_CASE("http1: malformed lines in other headers are skipped, as libcurl does") {
  for (const char* lines : {
           // obs-fold continuing a header we don't interpret, SP or HT, one line or several.
           "X-A: 1\r\n folded\r\n",
           "X-A: 1\r\n\tfolded\r\n",
           "X-A: 1\r\n folded\r\n\t and again \r\n",
           "X-A:\r\n folded\r\n",
           // ... even when it looks like a framing header: it is part of X-A's value.
           "X-A: 1\r\n Content-Length: 5\r\n",
           "X-A: 1\r\n\tTransfer-Encoding: chunked\r\n",
           "X-A: 1\r\n Connection: close\r\n",
           // A folded line first after the status line continues nothing.
           " folded first\r\n",
           "\tContent-Length: 5\r\n",
           " Connection: close\r\nX-A: 1\r\n",
           // After a skipped line, a fold continues that one.
           "no colon\r\n folded\r\n",
           "X Foo: 1\r\n folded\r\n",
           // Lines without a colon.
           "no colon here\r\n",
           "garbage\r\n",
           "Content-Length 5\r\n",
           "Connection close\r\n",
           // Names that are not tokens.
           ": empty name\r\n",
           ":\r\n",
           "X Foo: 1\r\n",
           "Foo : 1\r\n",
           "Foo\t: 1\r\n",
           "X Content-Length: 5\r\n",
           "Content-Lengthx : 5\r\n",
           "Content Length: 5\r\n",
           "X-\xc3\xa4: 1\r\n",
           "Set(Cookie): a=b\r\n",
           "\"X\": 1\r\n",
           // A framing header before the malformed lines, and a fold after a later header.
           "Content-Length: 3\r\nX-A: 1\r\n folded\r\nno colon\r\n",
       }) {
    CAPTURE(lines);
    const std::string wire =
        std::string("HTTP/1.1 200 OK\r\n") + lines + "Content-Length: 3\r\n\r\nabc";
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, wire) == state::done);
    CHECK(p.status() == 200);
    CHECK(p.body() == "abc");
    CHECK(p.keep_alive());
    CHECK(p.error().empty());

    response_parser bytewise;
    bytewise.reset(false);
    CHECK(feed_bytewise(bytewise, wire) == state::done);
    CHECK(bytewise.body() == "abc");
    CHECK(bytewise.keep_alive());

    check_any_split(wire, 200, "abc", true);
  }

  // The framing headers around skipped lines still count.
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nConnection: close\r\n"
                    "no colon\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n") ==
        state::done);
  CHECK(p.body() == "ab");
  CHECK_FALSE(p.keep_alive());

  // A fold first after the status line of the final response, after a 1xx whose last header
  // was a framing one: that head is over, so the fold continues nothing.
  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 100 Continue\r\nConnection: keep-alive\r\n\r\n"
                    "HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 1\r\n\r\nx") == state::done);
  CHECK(p.body() == "x");
  CHECK(p.keep_alive());
}

TEST_CASE("http1: bare LF line endings are accepted") {
  const std::string wire = "HTTP/1.1 200 OK\nContent-Length: 3\nX-A: b\n\nabc";
  response_parser p;
  p.reset(false);
  CHECK(feed_all(p, wire) == state::done);
  CHECK(p.status() == 200);
  CHECK(p.body() == "abc");
  CHECK(p.keep_alive());
  check_any_split(wire, 200, "abc", true);

  const std::string chunked =
      "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n2;x=y\nde\n0\nT: 1\n\n";
  check_any_split(chunked, 200, "abcde", true);
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
           bad_case{"x\r\nabc\r\n0\r\n\r\n", "invalid chunk size"},
           bad_case{"\r\nabc\r\n0\r\n\r\n", "invalid chunk size"},
           bad_case{"-3\r\nabc\r\n0\r\n\r\n", "invalid chunk size"},
           bad_case{"3 x\r\nabc\r\n0\r\n\r\n", "invalid chunk size"},
           bad_case{"0x3\r\nabc\r\n0\r\n\r\n", "invalid chunk size"},
           bad_case{"10000000000000000\r\n", "invalid chunk size"},  // 2^64: overflow
           bad_case{"fffffffffffffffff\r\n", "invalid chunk size"},
           bad_case{"3\r\nabcd\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\r\n0\r\n\r\n", "malformed chunk"},
           bad_case{"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", "malformed trailer line"},
           bad_case{"3\r\nabc\r\n0\r\n folded: x\r\n\r\n", "malformed trailer line"},
       }) {
    CAPTURE(chunks);
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

  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: identity\r\n\r\n2\r\nab\r\n0\r\n\r\n") ==
        state::need_more);
  CHECK(p.eof() == state::done);
  CHECK(p.body() == "2\r\nab\r\n0\r\n\r\n");

  p.reset(false);
  CHECK(feed_all(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n") == state::error);
  CHECK(p.error() == "invalid Transfer-Encoding");
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
    CAPTURE(value);
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string("HTTP/1.1 200 OK\r\nConnection: ") + value +
                          "\r\nContent-Length: 1\r\n\r\nx") == state::done);
    CHECK(p.body() == "x");
    CHECK_FALSE(p.keep_alive());
  }
  for (const char* value : {"closed", "keep-alive", "not-close", "clos e"}) {
    CAPTURE(value);
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string("HTTP/1.1 200 OK\r\nConnection: ") + value +
                          "\r\nContent-Length: 1\r\n\r\nx") == state::done);
    CHECK(p.keep_alive());
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
           cl_case{"Content-Length: 3\r\nContent-Length: 4\r\n", "conflicting Content-Length"},
           cl_case{"Content-Length: 3, 4\r\n", "conflicting Content-Length"},
           cl_case{"Content-Length: 3,3,4\r\n", "conflicting Content-Length"},
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
    CAPTURE(headers);
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

TEST_CASE("http1: Transfer-Encoding with Content-Length: chunked wins, no reuse") {
  for (const char* head : {
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       }) {
    CAPTURE(head);
    response_parser p;
    p.reset(false);
    CHECK(feed_all(p, std::string(head) + "5\r\nhello\r\n0\r\n\r\n") == state::done);
    CHECK(p.body() == "hello");
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
    CAPTURE(partial);
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
        "X-Empty:\r\nAuthorization: Bearer abc.def\r\nContent-Length: 7\r\n\r\n{\"a\":1}");

  // A length of 0 is still sent when asked for (a POST without a body).
  out.clear();
  CHECK(write_request(out, "POST", "/", "h", {}, "", true));
  CHECK(out == "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");

  // Without send_length the body is appended as is (the caller frames it).
  out.clear();
  CHECK(write_request(out, "PUT", "/x", "h", {{"Transfer-Encoding", "chunked"}},
                      "3\r\nabc\r\n0\r\n\r\n", false));
  CHECK(out == "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n0\r\n\r\n");

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
  CHECK(refused("GET", "/ HTTP/1.1\r\nX-Injected: 1\r\n", "h", {}));
  CHECK(refused("GET\r\n", "/", "h", {}));
  // Names and the request line must stay parseable.
  CHECK(refused("GET", "/", "h", {{"", "1"}}));
  CHECK(refused("GET", "/", "h", {{"X-A: 1", "2"}}));
  CHECK(refused("GET", "/", "h", {{"X A", "1"}}));
  CHECK(refused("GET", "/a b", "h", {}));
  CHECK(refused("", "/", "h", {}));
  CHECK(refused("GET", "", "h", {}));
  // Values may hold anything else, ':' and spaces included.
  CHECK_FALSE(refused("GET", "/", "h", {{"X-A", " a: b\tc "}}));
}
