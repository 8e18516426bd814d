// libFuzzer target for the entries of HRI's internal topic (src/flows/hri/batch_topic.cpp):
// what the owner of a batch reads from `hri.batch_records`, which any Kafka client with access
// to the cluster can also write to.
//
// Input: lines. The first is the record's value; every further line is a header, "name=value"
// (a line without '=' is a header with an empty value). Names that start with '~' get the
// "hri." prefix, so that the fuzzer reaches the entry's own headers quickly.
// These must hold for whatever is decoded:
// - decoding never crashes and never throws (an entry that is not ours is an error text);
// - a judged record names a batch, and its source partition and offset are not negative; its
//   own headers are a prefix of the entry's headers;
// - an action has a request id;
// - a judged record encoded again (record_entry) decodes to the same record.
//
//   ./build-fuzz/fuzz/hri_batch_entry_fuzz fuzz/corpus/hri_batch_entry_fuzz
#include "flows/hri/batch_topic.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace hri = medflow::flows::hri;

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

medflow::bus::record record_of(std::string_view input) {
  medflow::bus::record r;
  r.topic = hri::batch_records_topic;
  size_t line = 0;
  while (true) {
    auto nl = input.find('\n');
    auto text = input.substr(0, nl);
    if (line++ == 0) {
      r.value = std::string(text);
    } else {
      auto eq = text.find('=');
      std::string name(text.substr(0, eq));
      if (!name.empty() && name[0] == '~') name = "hri." + name.substr(1);
      r.hdrs.emplace_back(name, eq == std::string_view::npos ? "" : std::string(text.substr(eq + 1)));
    }
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = record_of(std::string_view(reinterpret_cast<const char*>(data), size));
  auto e = hri::decode_entry(r);
  if (auto* j = std::get_if<hri::judged_record>(&e)) {
    require(j->batch_id && !j->batch_id->empty(), "a judged record without its batch");
    require(j->rec.partition >= 0 && j->rec.offset >= 0, "a negative source position");
    require(j->rec.hdrs.size() <= r.hdrs.size(), "more own headers than the entry has");
    for (size_t i = 0; i < j->rec.hdrs.size(); ++i)
      require(j->rec.hdrs[i] == r.hdrs[i], "own headers that are not the entry's first ones");
    auto m = hri::record_entry(*j);
    medflow::bus::record again;
    again.topic = r.topic;
    again.key = m.key;
    again.value = m.value;
    again.hdrs = m.hdrs;
    auto e2 = hri::decode_entry(again);
    auto* j2 = std::get_if<hri::judged_record>(&e2);
    require(j2 != nullptr, "a judged record encoded again does not decode");
    require(j2->tenant == j->tenant && j2->batch_id == j->batch_id &&
                j2->rec.topic == j->rec.topic && j2->rec.partition == j->rec.partition &&
                j2->rec.offset == j->rec.offset && j2->rec.key == j->rec.key &&
                j2->rec.value == j->rec.value && j2->rec.hdrs == j->rec.hdrs &&
                j2->validator_failure == j->validator_failure,
            "encode then decode changed the record");
  } else if (auto* a = std::get_if<hri::action_entry>(&e)) {
    require(!a->request_id.empty(), "an action without a request id");
  }
  return 0;
}
