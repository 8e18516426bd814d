// A subscription's position: per (topic, partition) the next offset to deliver. The pull API
// hands it out as an opaque string with each event (`cursor`) and takes it back on ack; the
// store keeps the acked one per subscription.
//
// Encoding: base64url (no padding) of "topic:partition:offset" entries joined by ',' in
// (topic, partition) order. Decoding refuses anything else with a stable 400 message and
// never reads more than the given cap.
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace medflow::flows::resource_events {

using partition_key = std::pair<std::string, std::int32_t>;  // (topic, partition)
using positions = std::map<partition_key, std::int64_t>;      // next offset to deliver

// Longest cursor text accepted by default (config: subscriptions.max_cursor_bytes).
inline constexpr std::size_t default_max_cursor_bytes = 64 * 1024;

std::string encode_cursor(const positions& p);
// The positions, or 400 "cursor: ..." for text that encode_cursor cannot have produced.
result<positions> decode_cursor(std::string_view text,
                                std::size_t max_bytes = default_max_cursor_bytes);

}  // namespace medflow::flows::resource_events
