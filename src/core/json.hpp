// JSON from outside (request bodies, records, tokens, sources' answers, configuration files)
// parsed with a bound on nesting: nlohmann's parser is iterative, but dump(), copies and
// comparisons recurse once per level, so a value nested 60,000 deep parses and then overflows
// the stack of whatever walks it. Every such text goes through parse_json_limited, which stops
// at the first container past the limit (json.max_depth) and names it, and which turns a number
// out of a double's range (1e999) into an error naming the field instead of an exception.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace medflow {

constexpr std::size_t default_max_json_depth = 256;

// The process-wide limit (json.max_depth), set once at start-up from the configuration.
void set_max_json_depth(std::size_t depth);
std::size_t max_json_depth();

// "nesting deeper than 256 levels (json.max_depth)": how every refusal names the limit.
std::string json_nesting_text(std::size_t max_depth);

// Parses one JSON text whose containers nest at most max_depth deep ("[]" is depth 1, a scalar
// 0). The error (400 bad_request) says what is wrong:
// - syntax: nlohmann's text, e.g. "parse error at line 1, column 2: syntax error ..."; detail
//   is null;
// - nesting: "nesting deeper than 256 levels (json.max_depth) at line 1, column 257"; detail
//   {"max_depth": 256};
// - a number out of range: "number out of range at records[0].value.x: 1e999"; detail
//   {"field": "records[0].value.x"} ("" for the top level).
result<nlohmann::json> parse_json_limited(std::string_view text, std::size_t max_depth,
                                          bool ignore_comments = false);
// The same with the process-wide limit.
result<nlohmann::json> parse_json_limited(std::string_view text);

}  // namespace medflow
