#include "core/clock.hpp"

#include "support/time_zone.hpp"

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

TEST_CASE("compact_local_ts: yyyyMMddHHmmss in the process's TZ") {
  int64_t autumn = 1572438840123;  // 2019-10-30T12:34:00.123Z: CET, UTC+1
  int64_t summer = 1561982400000;  // 2019-07-01T12:00:00Z: CEST, UTC+2
  {
    medflow::test::time_zone tz{medflow::test::stockholm};
    CHECK(compact_local_ts(autumn) == "20191030133400");
    CHECK(compact_local_ts(summer) == "20190701140000");
    CHECK(compact_ts(autumn) == "20191030123400");  // the UTC one stays UTC
  }
  {
    medflow::test::time_zone tz{"UTC0"};
    CHECK(compact_local_ts(autumn) == "20191030123400");
  }
  {
    medflow::test::time_zone tz{"EST5"};
    CHECK(compact_local_ts(summer) == "20190701070000");
    CHECK(compact_local_ts(-1) == "19691231185959");  // before the epoch: the second before
  }
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

TEST_CASE("the calendar: leap years, days that exist, days since the epoch") {
  CHECK(leap_year(2020));
  CHECK(leap_year(2000));
  CHECK_FALSE(leap_year(1900));
  CHECK_FALSE(leap_year(2019));
  CHECK(valid_date(2020, 2, 29));
  CHECK_FALSE(valid_date(2019, 2, 29));
  CHECK_FALSE(valid_date(2019, 4, 31));
  CHECK_FALSE(valid_date(2019, 0, 1));
  CHECK_FALSE(valid_date(2019, 13, 1));
  CHECK_FALSE(valid_date(2019, 1, 0));
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(2000, 3, 1) == 11017);
  CHECK(days_from_civil(2019, 10, 30) * 86400 * 1000 == 1572393600000);
}

TEST_CASE("read_digits takes exactly n digits and never reads past the text") {
  int64_t v = -1;
  CHECK(read_digits("x2019", 1, 4, v));
  CHECK(v == 2019);
  CHECK_FALSE(read_digits("201", 0, 4, v));
  CHECK_FALSE(read_digits("20a9", 0, 4, v));
  CHECK_FALSE(read_digits("12", 5, 1, v));
}

TEST_CASE("RFC 3339 full-date and date-time checks (JSON Schema's formats)") {
  CHECK(is_rfc3339_date("2020-02-29"));
  CHECK_FALSE(is_rfc3339_date("2019-02-29"));
  CHECK_FALSE(is_rfc3339_date("2019-2-28"));
  CHECK_FALSE(is_rfc3339_date("2019-02-28T00:00:00Z"));
  CHECK(is_rfc3339_date_time("2019-10-30T12:34:00Z"));
  CHECK(is_rfc3339_date_time("2019-10-30t12:34:00.123456+02:00"));
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34Z"));        // seconds are required
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34:00"));      // so is the zone
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34:60Z"));
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34:00.Z"));
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34:00+0200"));
  CHECK_FALSE(is_rfc3339_date_time("2019-10-30T12:34:00+24:00"));
}
