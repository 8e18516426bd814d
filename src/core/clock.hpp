// Wall-clock helpers. Domain logic never reads the clock itself: it is given `now` (ms since
// the epoch), so its tests are deterministic.
#pragma once

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
// YYYY-MM-DD
std::string date(int64_t ms);

// Parses RFC 3339 / ISO 8601 date-times ("2019-10-30T12:34:00Z", fractions, offsets) and plain
// dates ("2019-10-30", midnight UTC). Returns ms since the epoch.
std::optional<int64_t> parse_iso8601(std::string_view text);

}  // namespace medflow::clock
