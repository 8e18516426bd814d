// libFuzzer target for the batches flow's reading of request bodies as HRI's Go server reads
// them (src/flows/hri/go_json.cpp: Go's scanner and decoder, Echo's binder) and the request
// parsers built on it (create batch, the batch actions, stream settings).
//
// Input: one byte (bits 0-5: the nesting limit 1..64), then the body. These must hold:
// - decoding twice gives the same answer; an error is one of Echo's texts, and a value nested
//   deeper than the limit is refused naming the limit;
// - a decoded document binds to any field list without throwing, and a top-level object's
//   members come in document order with a kind that matches their value;
// - the request parsers (with json.max_depth 256) answer a value or a 400 with a message.
#include "core/json.hpp"
#include "flows/hri/domain.hpp"
#include "flows/hri/go_json.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

namespace hri = medflow::flows::hri;
namespace go = hri::go;

void require(bool ok, const char* what, std::string_view body) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\nbody (%zu bytes): %.*s\n", what, body.size(),
               static_cast<int>(body.size() > 2000 ? 2000 : body.size()), body.data());
  std::abort();
}

bool kind_matches(go::kind k, const nlohmann::json& v) {
  switch (k) {
    case go::kind::null: return v.is_null();
    case go::kind::boolean: return v.is_boolean();
    case go::kind::number: return v.is_number();
    case go::kind::string: return v.is_string();
    case go::kind::array: return v.is_array();
    case go::kind::object: return v.is_object();
  }
  return false;
}

template <class T>
void check_result(const medflow::result<T>& r, std::string_view body) {
  if (r.ok()) return;
  require(r.err().status == 400, "a request parser answered other than 400", body);
  require(!r.err().message.empty(), "a request parser's error has no message", body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max_depth = (data[0] & 0x3f) + 1;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto first = go::decode(body, max_depth);
  auto second = go::decode(body, max_depth);
  require(first.index() == second.index(), "decoding is not deterministic", body);
  if (auto* err = std::get_if<std::string>(&first)) {
    require(*err == std::get<std::string>(second), "decoding is not deterministic", body);
    require(err->rfind("code=400, message=", 0) == 0 ||
                *err == "unable to parse request body due to unexpected EOF",
            "an error that is not Echo's", body);
    // The only refusal a larger limit can lift is the nesting one.
    auto relaxed = go::decode(body, 10000);
    if (std::holds_alternative<go::document>(relaxed)) {
      require(err->find(medflow::json_nesting_text(max_depth)) != std::string::npos,
              "refused under a limit without naming it", body);
    }
  } else {
    const auto& doc = std::get<go::document>(first);
    for (const auto& m : doc.members) {
      require(kind_matches(m.k, m.value), "a member's kind does not match its value", body);
    }
    std::vector<go::bound> out;
    const std::vector<go::field> fields = {{"name", go::go_type::string},
                                           {"count", go::go_type::int_ptr},
                                           {"total", go::go_type::int64},
                                           {"label", go::go_type::string_ptr},
                                           {"metadata", go::go_type::map},
                                           {"size", go::go_type::int_}};
    auto bind_error = go::bind(doc, "Fuzz", fields, out);
    require(out.size() == fields.size(), "bind does not answer every field", body);
    if (bind_error) require(!bind_error->empty(), "empty bind error", body);
  }

  std::string text(body);
  check_result(hri::parse_create_batch("tenant1", text), body);
  check_result(hri::parse_action(hri::action::send_complete, "tenant1", "batch1", text), body);
  check_result(hri::parse_action(hri::action::fail, "tenant1", "batch1", text), body);
  check_result(hri::parse_stream("tenant1", "stream1", text), body);
  return 0;
}
