// libFuzzer target for the JSON entry point with its limits (src/core/json.cpp:
// parse_json_limited), which every body, record, token and answer from outside goes through.
//
// Input: one byte of options (bits 0-5: the nesting limit 0..63; bit 6: comments allowed),
// then the text. nlohmann's own parser is the oracle, and these must hold:
// - a document parsed within the limit equals what nlohmann parses, nests no deeper than the
//   limit, and dumps to a text that parses back (with the same limit) to the same value;
// - "nesting deeper than N levels" only when nlohmann parses a value deeper than N, or fails
//   later in the text than the too-deep bracket, and the position given is that bracket's;
// - "number out of range" only where nlohmann fails with out_of_range.406;
// - any other error is nlohmann's parse error, with the same text.
#include "core/json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using json = nlohmann::json;

void require(bool ok, const char* what, std::string_view text) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ntext (%zu bytes): %.*s\n", what, text.size(),
               static_cast<int>(text.size() > 2000 ? 2000 : text.size()), text.data());
  std::abort();
}

// Nesting depth without recursion ([] is 1, a scalar 0).
std::size_t depth_of(const json& v) {
  struct frame {
    const json* node;
    std::size_t depth;
  };
  std::size_t deepest = 0;
  std::vector<frame> todo{{&v, 0}};
  while (!todo.empty()) {
    frame f = todo.back();
    todo.pop_back();
    if (!f.node->is_structured()) continue;
    deepest = std::max(deepest, f.depth + 1);
    for (const auto& child : *f.node) todo.push_back({&child, f.depth + 1});
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max_depth = data[0] & 0x3f;
  const bool comments = (data[0] & 0x40) != 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  auto ours = medflow::parse_json_limited(text, max_depth, comments);

  // The oracle: nlohmann's DOM parser without a limit (iterative, so it takes any depth).
  json theirs;
  int their_error = 0;  // nlohmann exception id, 0 when it parsed
  std::string their_text;
  try {
    theirs = json::parse(text, nullptr, true, comments);
  } catch (const json::exception& e) {
    their_error = e.id;
    their_text = medflow::json_error_text(e);
  }

  if (ours.ok()) {
    require(their_error == 0, "parsed what nlohmann refuses", text);
    require(depth_of(*ours) <= max_depth, "parsed a value deeper than the limit", text);
    require(*ours == theirs, "parsed a different value than nlohmann", text);
    auto again = medflow::parse_json_limited(ours->dump(), max_depth);
    require(again.ok() && *again == *ours, "dump does not parse back to the same value", text);
    return 0;
  }

  const medflow::error& e = ours.err();
  require(e.status == 400 && e.code == "bad_request", "error is not a 400 bad_request", text);
  require(!e.message.empty(), "empty error message", text);
  if (e.detail.contains("max_depth")) {
    std::string prefix = medflow::json_nesting_text(max_depth) + " at line ";
    require(e.message.rfind(prefix, 0) == 0, "depth error text", text);
    unsigned long line = 0, column = 0;
    require(std::sscanf(e.message.c_str() + prefix.size(), "%lu, column %lu", &line, &column) == 2,
            "depth error position", text);
    std::size_t at = 0;
    for (unsigned long l = 1; l < line && at < text.size(); ++at) {
      if (text[at] == '\n') ++l;
    }
    at += column - 1;
    require(at < text.size() && (text[at] == '[' || text[at] == '{'),
            "depth error position is not a bracket", text);
    // Either nlohmann parsed it (and it is deeper) or nlohmann failed after the bracket: a
    // syntax error later in the text does not hide the depth.
    if (their_error == 0) {
      require(depth_of(theirs) > max_depth, "refused as too deep but is not", text);
    }
  } else if (e.detail.contains("field")) {
    require(their_error == 406, "out of range where nlohmann has no out_of_range", text);
    require(e.message.rfind("number out of range at ", 0) == 0, "out of range text", text);
  } else {
    require(their_error != 0, "syntax error where nlohmann parses", text);
    require(their_error != 406, "out_of_range reported as a syntax error", text);
    require(e.message == their_text, "syntax error text differs from nlohmann's", text);
  }
  return 0;
}
