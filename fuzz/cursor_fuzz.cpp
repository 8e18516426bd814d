// libFuzzer target for the subscription cursor decoder (src/flows/resource_events/cursor.cpp):
// the text a client hands back on POST /subscriptions/{id}/ack.
//
// Input: the bytes are tried twice: as the cursor text itself (the base64url layer), and
// base64url-encoded (so that the fuzzer reaches the "topic:partition:offset,..." grammar
// under it). For each, these must hold:
// - decoding never reads past its cap: a text longer than the cap is refused;
// - a refusal is a 400 whose message starts with "cursor: ";
// - what decodes has only valid entries (a topic of the bus's characters, 1..249 bytes;
//   partition and offset >= 0), and encoding it and decoding that gives the same positions.
//
//   ./build-fuzz/fuzz/cursor_fuzz fuzz/corpus/cursor_fuzz
#include "core/base64.hpp"
#include "flows/resource_events/cursor.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace re = medflow::flows::resource_events;

void require(bool ok, const char* what, std::string_view text) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ncursor: %.*s\n", what,
               static_cast<int>(text.size()), text.data());
  std::abort();
}

bool valid_topic(const std::string& t) {
  if (t.empty() || t.size() > 249) return false;
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void check(std::string_view text) {
  // A small cap too, so that the fuzzer hits it.
  for (std::size_t cap : {re::default_max_cursor_bytes, std::size_t{64}}) {
    auto r = re::decode_cursor(text, cap);
    if (!r.ok()) {
      require(r.err().status == 400, "a refusal that is not a 400", text);
      require(r.err().message.rfind("cursor: ", 0) == 0, "a refusal not naming the cursor", text);
      continue;
    }
    require(text.size() <= cap, "a cursor longer than the cap decoded", text);
    for (const auto& [key, offset] : *r) {
      require(valid_topic(key.first), "an entry with an invalid topic", text);
      require(key.second >= 0 && offset >= 0, "a negative partition or offset", text);
    }
    auto again = re::decode_cursor(re::encode_cursor(*r), SIZE_MAX);
    require(again.ok(), "an encoded cursor does not decode", text);
    require(*again == *r, "encode then decode changed the positions", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input);
  check(medflow::base64::encode_url(input));
  return 0;
}
