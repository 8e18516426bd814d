// libFuzzer target for the JMS selector compiler and evaluator
// (src/flows/resource_events/selector.cpp, which depends on nothing else).
//
// Input: the selector text, optionally followed by a NUL byte and bytes that seed the property
// sets (a corpus file is just a selector). A text that does not compile must give an error
// inside the text. A text that compiles is evaluated against eight property sets derived from
// the input (every type, missing names, NaN, infinities, the long extremes, strings taken
// from the selector's own literals), and these must hold:
// - evaluating twice gives the same answer, matches() is evaluate() == TRUE, and the lookup is
//   asked only for the selector's identifiers;
// - "NOT (s)" is the three-valued negation of s; "(s) AND TRUE", "(s) OR FALSE" and
//   "(s) AND (s)" are s; "(s) OR NOT (s)" is TRUE unless s is UNKNOWN;
// - compiling the same text again gives a selector that answers the same.
//
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//     fuzz/selector_fuzz.cpp src/flows/resource_events/selector.cpp -o selector_fuzz
//   ./selector_fuzz fuzz/corpus/selector_fuzz
#include "flows/resource_events/selector.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace re = medflow::flows::resource_events;
using re::property_value;
using re::tri;

void require(bool ok, const char* what, std::string_view text) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\nselector: %.*s\n", what,
               static_cast<int>(text.size()), text.data());
  std::abort();
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::uint64_t hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

// Candidate string values: fixed ones, the contents of the selector's quoted literals (so that
// =, IN and LIKE sometimes match) and pieces of the seed bytes.
std::vector<std::string> string_pool(std::string_view text, std::string_view seed) {
  std::vector<std::string> pool = {"", "a", "x", "created", "ehealth-careplan", "%", "_", "ø"};
  for (std::size_t i = 0; i < text.size() && pool.size() < 64;) {
    std::size_t open = text.find('\'', i);
    if (open == std::string_view::npos) break;
    std::size_t close = text.find('\'', open + 1);
    if (close == std::string_view::npos) break;
    std::string literal(text.substr(open + 1, close - open - 1));
    pool.push_back(literal);
    // Variations around it: a LIKE pattern's wildcards as characters, one character more.
    pool.push_back(literal + "a");
    if (!literal.empty()) pool.push_back(literal.substr(1));
    i = close + 1;
  }
  for (std::size_t i = 0; i + 1 < seed.size() && pool.size() < 80; i += 7) {
    pool.emplace_back(seed.substr(i, 1 + static_cast<unsigned char>(seed[i]) % 8));
  }
  return pool;
}

const std::int64_t exact_pool[] = {0,
                                   1,
                                   -1,
                                   2,
                                   42,
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::numeric_limits<std::int64_t>::min()};
const double approximate_pool[] = {0.0,
                                   -0.0,
                                   0.5,
                                   2.0,
                                   -1e308,
                                   1e308,
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   4.9e-324};

struct property_set {
  const re::selector* s;
  const std::vector<std::string>* strings;
  std::uint64_t seed;
  std::string_view text;

  property_value operator()(std::string_view name) const {
    std::size_t index = s->identifier_count();
    for (std::size_t i = 0; i < s->identifier_count(); ++i) {
      if (s->identifier(i) == name) index = i;
    }
    require(index < s->identifier_count(), "the lookup is asked for a name not in the selector",
            text);
    std::uint64_t h = mix(seed ^ (index * 0x9E3779B97F4A7C15ULL));
    switch (h % 5) {
      case 0:
        return property_value::null();
      case 1:
        return property_value::string((*strings)[(h >> 8) % strings->size()]);
      case 2:
        return property_value::exact(exact_pool[(h >> 8) % std::size(exact_pool)]);
      case 3:
        return property_value::approximate(
            approximate_pool[(h >> 8) % std::size(approximate_pool)]);
      default:
        return property_value::boolean((h >> 8) & 1);
    }
  }
};

// The answer of `wrapped` (a selector built around the input's text) on the same property set
// into `out`; false when the wrapping made it nest too deep (the only way it may fail).
bool evaluate_wrapped(const std::string& wrapped, const property_set& props, tri& out) {
  re::compile_limits limits;
  limits.max_text_bytes = 4 * limits.max_text_bytes + 64;
  auto r = re::compile(wrapped, limits);
  if (!r.ok()) {
    require(r.err().message.rfind("nesting deeper than", 0) == 0,
            "wrapping a valid selector made it invalid other than by nesting", props.text);
    return false;
  }
  property_set same = props;
  same.s = &*r;
  out = r->evaluate(same);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view text = input.substr(0, nul);
  std::string_view seed =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  auto compiled = re::compile(text);
  if (!compiled.ok()) {
    const auto& e = compiled.err();
    require(e.offset <= text.size(), "error offset beyond the text", text);
    require(e.line >= 1 && e.column >= 1 && e.column <= e.offset + 1, "error position", text);
    require(!e.message.empty(), "empty error message", text);
    return 0;
  }
  const re::selector& s = *compiled;
  require(s.text() == text || s.empty(), "text() is not the compiled text", text);
  for (std::size_t i = 0; i < s.identifier_count(); ++i) {
    require(!s.identifier(i).empty(), "empty identifier", text);
    for (std::size_t j = 0; j < i; ++j) {
      require(s.identifier(i) != s.identifier(j), "identifier listed twice", text);
    }
  }
  auto again = re::compile(text);
  require(again.ok(), "compiling the same text again failed", text);

  std::vector<std::string> strings = string_pool(text, seed);
  std::uint64_t base = hash(seed) ^ hash(text);
  std::string body(text);
  for (std::uint64_t k = 0; k < 8; ++k) {
    property_set props{&s, &strings, mix(base + k), text};
    tri t = s.evaluate(props);
    require(s.evaluate(props) == t, "evaluation is not deterministic", text);
    require(s.matches(props) == (t == tri::true_), "matches() is not evaluate() == TRUE", text);
    property_set props_again = props;
    props_again.s = &*again;
    require(again->evaluate(props_again) == t, "a recompiled selector answers differently", text);
    if (s.empty()) {
      require(t == tri::true_, "no selector must match everything", text);
      continue;
    }
    tri w;
    if (evaluate_wrapped("NOT (" + body + ")", props, w)) {
      require(w == re::tri_not(t), "NOT (s) is not the negation of s", text);
    }
    if (evaluate_wrapped("(" + body + ") AND TRUE", props, w)) {
      require(w == t, "(s) AND TRUE is not s", text);
    }
    if (evaluate_wrapped("(" + body + ") OR FALSE", props, w)) {
      require(w == t, "(s) OR FALSE is not s", text);
    }
    if (evaluate_wrapped("(" + body + ") AND (" + body + ")", props, w)) {
      require(w == t, "(s) AND (s) is not s", text);
    }
    if (evaluate_wrapped("(" + body + ") OR NOT (" + body + ")", props, w)) {
      require(w == (t == tri::unknown ? tri::unknown : tri::true_), "(s) OR NOT (s)", text);
    }
  }
  return 0;
}
