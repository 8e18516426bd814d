// Percent-decoding of a request target's path and query (RFC 3986 2.1, and the form encoding of
// query strings). Strict: a '%' not followed by two hex digits, or an escape that decodes to
// NUL, is an error, never passed on as it came; the server answers such a target 400.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medflow::net {

// Most parameters one query string may hold; more is an error (the request line's own limit
// already bounds the bytes).
constexpr size_t max_query_params = 1024;

// Appends the decoded `in` to `out`. `plus_is_space`: '+' stands for a space (query strings,
// application/x-www-form-urlencoded); in a path it is itself. False, with `out` unspecified,
// for a malformed escape or a "%00".
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

// Splits a query string ("a=1&b=&c") at '&' into decoded name/value pairs, in order; a piece
// without '=' has an empty value, empty pieces are skipped. False (and `out` unspecified) for
// a bad escape in any piece, or more than max_query_params pieces.
bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out);

}  // namespace medflow::net
