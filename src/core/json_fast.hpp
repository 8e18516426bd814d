// A fast path for reading JSON on hot paths (issue 20): simdjson (Debian libsimdjson-dev,
// fuzzed upstream in OSS-Fuzz) parses a text into a read-only document several times faster
// than nlohmann's lexer. It is only ever a fast path, never the one that decides:
// - it accepts no text nlohmann rejects (both follow RFC 8259; simdjson's nesting limit,
//   json.max_depth, is if anything stricter than parse_json_limited's: a container at the
//   last level must be empty there), and the document it gives holds what nlohmann's would
//   (fuzz/json_fast_fuzz.cpp holds it to both);
// - it rejects some texts nlohmann accepts (an integer beyond 64 bits, a byte-order mark, bytes
//   after a NUL, which nlohmann takes for the end), and its error texts are its own.
// So a caller that gets no document decides the way it did without this, with nlohmann: what
// is accepted, what is refused and every error text stay nlohmann's.
#pragma once

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstddef>
#include <optional>
#include <string_view>

namespace medflow::json_fast {

// The document of `text`, or nullopt: simdjson refused it, the text is longer than max_bytes
// (the parser of a thread keeps the buffers of the longest text it parsed, so the cap bounds
// that memory), or the fast path is off. The document lives in the calling thread's parser:
// it is valid until the next parse on the same thread.
std::optional<simdjson::dom::element> parse(std::string_view text, std::size_t max_bytes);

// The same text as nlohmann's value, or nullopt (then parse it with nlohmann, as before). The
// value is nlohmann::json::parse's for the same text, to the type of every number (an integer
// of no sign is number_unsigned, a negative one number_integer, one with a fraction or an
// exponent number_float) and the last value of a repeated key. A text that may hold a
// negative zero gets nullopt: nlohmann reads "-0" as a signed integer 0 and "-0.0" as the float
// -0.0, simdjson the first as the integer 0 (which "0" is too, unsigned for nlohmann). For
// documents read back on hot paths (issue 20: a stored episode is parsed by every job that
// changes it), several times faster than nlohmann's parser.
std::optional<nlohmann::json> to_json(std::string_view text, std::size_t max_bytes);

// nlohmann's dump() of a value, byte for byte (no indent, ensure_ascii off, the same error
// handler), written faster: nlohmann escapes every string byte by byte through a UTF-8 decoder
// and appends structural characters one call each (7.6 % of medflowd's CPU in the jobs profile,
// issue 20). Here a string with nothing to escape (no control character, '"' or '\\') that is
// valid UTF-8 (simdjson's validator) is copied whole; any other string, and every float, is
// written by nlohmann itself. Invalid UTF-8 with error_handler_t::strict throws nlohmann's
// type_error 316, as dump() does. Not switched by set_enabled: it has no other path.
std::string dump(const nlohmann::json& j,
                 nlohmann::json::error_handler_t on_error = nlohmann::json::error_handler_t::strict);
std::string dump(const nlohmann::ordered_json& j,
                 nlohmann::json::error_handler_t on_error = nlohmann::json::error_handler_t::strict);

// On by default. Off: parse() gives nullopt for every text (the tests and the fuzz targets
// compare both paths of a caller with it).
void set_enabled(bool on);
bool enabled();

}  // namespace medflow::json_fast
