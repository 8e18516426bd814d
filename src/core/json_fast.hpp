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

// On by default. Off: parse() gives nullopt for every text (the tests and the fuzz targets
// compare both paths of a caller with it).
void set_enabled(bool on);
bool enabled();

}  // namespace medflow::json_fast
