// libFuzzer target for simdjson's fast path (src/core/json_fast.cpp) and its callers: the HRI
// record validators (src/flows/hri/validators.cpp) and the bus's record headers
// (bus::decode_headers). The fast path may only ever speed a caller up, never change what it
// decides, so these must hold for any text:
// - a text simdjson takes is one nlohmann takes too, holding the same value (objects with a
//   repeated key: the last value, as nlohmann keeps it), nested no deeper than json.max_depth;
// - the "json" and "fhir" validators give the same outcome, error text included, with the fast
//   path and without it (nlohmann's SAX pass alone);
// - decode_headers gives the same headers, or throws the same error, with it and without it.
//
// Input: one byte (bits 0-5: json.max_depth 1..64), then the text.
#include "bus/embedded_log.hpp"
#include "core/json.hpp"
#include "core/json_fast.hpp"
#include "flows/hri/domain.hpp"

#include <nlohmann/json.hpp>

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

// simdjson's document as nlohmann's value (recursion bounded by json.max_depth, at most 64).
json to_nlohmann(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      simdjson::dom::array items;  // a local: a range over the result's value would dangle
      if (e.get_array().get(items) == simdjson::SUCCESS)
        for (auto v : items) out.push_back(to_nlohmann(v));
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      simdjson::dom::object fields;
      if (e.get_object().get(fields) == simdjson::SUCCESS)
        for (auto field : fields) out[std::string(field.key)] = to_nlohmann(field.value);
      return out;
    }
    case simdjson::dom::element_type::INT64: return e.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64: return e.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE: return e.get_double().value_unsafe();
    case simdjson::dom::element_type::STRING: return std::string(e.get_string().value_unsafe());
    case simdjson::dom::element_type::BOOL: return e.get_bool().value_unsafe();
    case simdjson::dom::element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
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
  if (auto doc = medflow::json_fast::parse(text, 1 << 20)) {
    json mine = to_nlohmann(*doc);
    json theirs = json::parse(text, nullptr, false);
    require(!theirs.is_discarded(), "simdjson took a text nlohmann refuses", text);
    require(mine == theirs, "simdjson's value differs from nlohmann's", text);
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
