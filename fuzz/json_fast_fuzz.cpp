// libFuzzer target for simdjson's fast path (src/core/json_fast.cpp) and its callers: the HRI
// record validators (src/flows/hri/validators.cpp) and the bus's record headers
// (bus::decode_headers). The fast path may only ever speed a caller up, never change what it
// decides, so these must hold for any text:
// - a text simdjson takes is one nlohmann takes too, and json_fast::to_json gives the value
//   nlohmann::json::parse does, to the type of every number (objects with a repeated key: the
//   last value, as nlohmann keeps it), nested no deeper than json.max_depth;
// - the "json" and "fhir" validators give the same outcome, error text included, with the fast
//   path and without it (nlohmann's SAX pass alone);
// - decode_headers gives the same headers, or throws the same error, with it and without it;
// - json_fast::dump writes nlohmann's dump() byte for byte, or throws its error.
//
// Input: one byte (bits 0-5: json.max_depth 1..64), then the text.
#include "bus/embedded_log.hpp"
#include "core/json.hpp"
#include "core/json_fast.hpp"
#include "flows/hri/domain.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

using json = nlohmann::json;
namespace hri = medflow::flows::hri;

void require(bool ok, const char* what, std::string_view text) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ntext (%zu bytes): %.*s\n", what, text.size(),
               static_cast<int>(text.size() > 2000 ? 2000 : text.size()), text.data());
  std::abort();
}

// Equal values of the same types all the way down (nlohmann's == takes 1u for 1 and 1.0).
bool same(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
      if (ia.key() != ib.key() || !same(*ia, *ib)) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  }
  if (a.is_number_float()) {
    double x = a.get<double>(), y = b.get<double>();
    return x == y && std::signbit(x) == std::signbit(y);
  }
  return a == b;
}

struct decoded {
  bool threw = false;
  std::string error;
  medflow::bus::headers h;
  bool operator==(const decoded& o) const {
    return threw == o.threw && error == o.error && h == o.h;
  }
};

decoded decode(std::string_view text) {
  decoded d;
  try {
    d.h = medflow::bus::decode_headers(text);
  } catch (const std::exception& e) {
    d.threw = true;
    d.error = e.what();
  }
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  medflow::set_max_json_depth((data[0] & 0x3f) + 1);
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  medflow::json_fast::set_enabled(true);
  if (auto mine = medflow::json_fast::to_json(text, 1 << 20)) {
    json theirs = json::parse(text, nullptr, false);
    require(!theirs.is_discarded(), "simdjson took a text nlohmann refuses", text);
    require(same(*mine, theirs), "simdjson's value differs from nlohmann's", text);
    require(mine->dump() == theirs.dump(), "simdjson's value prints unlike nlohmann's", text);
  }

  // json_fast::dump writes nlohmann's bytes: for the text's value when it parses, and for the
  // text as one string (any bytes: invalid UTF-8 goes to the error handler, which either throws
  // the same error or writes the same replacement).
  {
    json parsed = json::parse(text, nullptr, false);
    if (!parsed.is_discarded()) {
      require(medflow::json_fast::dump(parsed) == parsed.dump(), "dump differs from nlohmann's", text);
      auto ordered = nlohmann::ordered_json::parse(text);
      require(medflow::json_fast::dump(ordered) == ordered.dump(),
              "dump (ordered) differs from nlohmann's", text);
    }
    using h = json::error_handler_t;
    json as_string = text;
    for (auto handler : {h::strict, h::replace, h::ignore}) {
      std::string mine, theirs;
      try {
        mine = medflow::json_fast::dump(as_string, handler);
      } catch (const json::exception& e) {
        mine = std::string("threw ") + e.what();
      }
      try {
        theirs = as_string.dump(-1, ' ', false, handler);
      } catch (const json::exception& e) {
        theirs = std::string("threw ") + e.what();
      }
      require(mine == theirs, "dump of a string differs from nlohmann's", text);
    }
  }

  static const auto json_check = hri::make_validator("json");
  static const auto fhir_check = hri::make_validator("fhir");
  auto fast_json = json_check->check(text);
  auto fast_fhir = fhir_check->check(text);
  auto fast_headers = decode(text);
  medflow::json_fast::set_enabled(false);
  require(fast_json == json_check->check(text), "json validator: the paths differ", text);
  require(fast_fhir == fhir_check->check(text), "fhir validator: the paths differ", text);
  require(fast_headers == decode(text), "decode_headers: the paths differ", text);
  medflow::json_fast::set_enabled(true);
  return 0;
}
