#include "core/clock.hpp"

#include <doctest/doctest.h>

using namespace medflow::clock;

TEST_CASE("formats timestamps in the formats the flows use") {
  int64_t ms = 1572438840123;  // 2019-10-30T12:34:00.123Z
  CHECK(iso8601(ms) == "2019-10-30T12:34:00Z");
  CHECK(iso8601_ms(ms) == "2019-10-30T12:34:00.123Z");
  CHECK(iso8601_us(ms * 1000 + 456) == "2019-10-30T12:34:00.123456Z");
  CHECK(compact_ts(ms) == "20191030123400");
  CHECK(date(ms) == "2019-10-30");
}

TEST_CASE("parses ISO 8601 dates and date-times") {
  CHECK(parse_iso8601("2019-10-30T12:34:00Z") == 1572438840000);
  CHECK(parse_iso8601("2019-10-30T12:34:00.5Z") == 1572438840500);
  CHECK(parse_iso8601("2019-10-30T14:34:00+02:00") == 1572438840000);
  CHECK(parse_iso8601("2019-10-30") == 1572393600000);
  CHECK(parse_iso8601("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso8601("2020-02-29") == 1582934400000);
}

TEST_CASE("rejects malformed dates") {
  CHECK_FALSE(parse_iso8601(""));
  CHECK_FALSE(parse_iso8601("INVALID"));
  CHECK_FALSE(parse_iso8601("2019-13-01"));
  CHECK_FALSE(parse_iso8601("2019-02-30"));
  CHECK_FALSE(parse_iso8601("2019-02-29"));
  CHECK_FALSE(parse_iso8601("2019-10-30T12:34:00"));  // no zone
  CHECK_FALSE(parse_iso8601("2019-10-30T25:00:00Z"));
  CHECK_FALSE(parse_iso8601("2019-10-30T12:34:00Zjunk"));
}
