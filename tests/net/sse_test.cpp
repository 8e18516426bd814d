// The text/event-stream format as a client (WHATWG HTML 9.2.6) reads it back.
#include "net/sse.hpp"

#include <doctest/doctest.h>

using namespace medflow;

TEST_SUITE_BEGIN("sse");

TEST_CASE("an event is its id, type and data lines, then an empty line") {
  std::string out;
  net::append_sse_event(out, "Y3Vy", "ehealth.Appointment", R"({"a":1})");
  CHECK(out == "id: Y3Vy\nevent: ehealth.Appointment\ndata: {\"a\":1}\n\n");
  net::append_sse_event(out, "", "", "x");
  CHECK(out.substr(out.size() - 10) == "\ndata: x\n\n");
}

TEST_CASE("data with line breaks becomes one data line per line, as a client splits it") {
  std::string out;
  net::append_sse_event(out, "", "", "a\nb\r\nc\rd");
  CHECK(out == "data: a\ndata: b\ndata: c\ndata: d\n\n");
  out.clear();
  net::append_sse_event(out, "", "", "");
  CHECK(out == "data: \n\n");  // an empty data still dispatches an event
  out.clear();
  net::append_sse_event(out, "", "", "end\n");
  CHECK(out == "data: end\ndata: \n\n");
}

TEST_CASE("a line break in the id or type cannot forge another field") {
  std::string out;
  net::append_sse_event(out, "1\ndata: forged", "t\r\nid: 2", "ok");
  CHECK(out == "id: 1 data: forged\nevent: t  id: 2\ndata: ok\n\n");
  out.clear();
  net::append_sse_event(out, std::string_view("a\0b", 3), "", "ok");
  CHECK(out == "id: a b\ndata: ok\n\n");
}

TEST_CASE("a comment is a line starting with a colon") {
  std::string out;
  net::append_sse_comment(out, "keep-alive");
  CHECK(out == ": keep-alive\n\n");
}
