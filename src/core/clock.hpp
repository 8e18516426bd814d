// Wall-clock helpers. Domain logic never reads the clock itself: it is given `now` (ms since
// the epoch), so its tests are deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medflow::clock {

int64_t now_ms();
int64_t now_us();
int64_t steady_us();  // monotonic, for latencies

// 2019-10-30T12:34:00Z (seconds, literal Z): HRI's format.
std::string iso8601(int64_t ms);
// 2019-10-30T12:34:00.123Z
std::string iso8601_ms(int64_t ms);
// 2019-10-30T12:34:00.123456Z: eHealth's (Elixir) format.
std::string iso8601_us(int64_t us);
// yyyyMMddHHmmss in UTC: AgP's timestamp format.
std::string compact_ts(int64_t ms);
// yyyyMMddHHmmss in the process's local time (TZ), as AgP's ProcessingStatusUtil writes
// lastSuccessfulSynch / lastUnsuccessfulSynch.
std::string compact_local_ts(int64_t ms);
// YYYY-MM-DD
std::string date(int64_t ms);

// -- the proleptic Gregorian calendar: the one set every date parser and check uses -------------

bool leap_year(int64_t y);
// Whether year-month-day names a day that exists (month 1..12).
bool valid_date(int64_t y, int64_t m, int64_t d);
// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm; negative before 1970).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d);
// Reads exactly `n` ASCII digits of `s` at `pos` into `out`; false when the text is shorter or
// one of them is not a digit.
bool read_digits(std::string_view s, size_t pos, size_t n, int64_t& out);

// RFC 3339 full-date, YYYY-MM-DD naming a day that exists (JSON Schema's "date" format).
bool is_rfc3339_date(std::string_view s);
// RFC 3339 date-time: seconds required, fraction optional, zone (Z or +hh:mm) mandatory
// (JSON Schema's "date-time" format).
bool is_rfc3339_date_time(std::string_view s);

// Parses RFC 3339 / ISO 8601 date-times ("2019-10-30T12:34:00Z", fractions, offsets) and plain
// dates ("2019-10-30", midnight UTC). Returns ms since the epoch.
std::optional<int64_t> parse_iso8601(std::string_view text);

}  // namespace medflow::clock
