// libFuzzer target for what the exams flow reads from outside (src/flows/exams/domain.cpp): a
// result file from the inbox (through the depth-limited JSON parser, as apply_result_file reads
// it), a token's claims, a patient manager's answer, a patient body and an exam type catalog.
//
// Input, by its first byte: 'R' result file, 'E' exam token claims, 'T' result token claims,
// 'P' a Patient as an external manager answers it, 'I' a POST /patients body, 'C' a catalog;
// the rest is the JSON text. These must hold:
// - nothing throws; every refusal is a 400 "bad_request" with a message;
// - an accepted result file has both tokens of 1..8192 bytes and content that re-encodes (base64)
//   to a text decoding to the same bytes;
// - accepted claims have ids of 1..64 characters of [A-Za-z0-9._-];
// - an accepted patient body passes A.10's checks again; a patient's wire form reads back.
#include "core/base64.hpp"
#include "core/json.hpp"
#include "flows/exams/domain.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace ex = medflow::exams;

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size() > 2000 ? 2000 : input.size()), input.data());
  std::abort();
}

template <class T>
bool refused_well(const medflow::result<T>& r, std::string_view input) {
  if (r.ok()) return false;
  require(r.err().status == 400 && r.err().code == "bad_request", "refusal is not a 400", input);
  require(!r.err().message.empty(), "refusal without a message", input);
  return true;
}

bool id_text(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto doc = medflow::parse_json_limited(input.substr(1), 64);
  if (refused_well(doc, input)) return 0;
  const auto& j = *doc;
  switch (input[0]) {
    case 'R': {
      auto f = ex::read_result_file(j, true);
      if (refused_well(f, input)) return 0;
      require(!f->exam_token.empty() && f->exam_token.size() <= 8192, "exam_token size", input);
      require(!f->result_token.empty() && f->result_token.size() <= 8192, "result_token size",
              input);
      require(medflow::base64::decode(medflow::base64::encode(f->content)) == f->content,
              "content round trip", input);
      break;
    }
    case 'E': {
      auto c = ex::read_exam_claims(j);
      if (refused_well(c, input)) return 0;
      require(id_text(c->exam_id) && id_text(c->patient_id) && id_text(c->jti), "exam claim ids",
              input);
      break;
    }
    case 'T': {
      auto c = ex::read_result_claims(j);
      if (refused_well(c, input)) return 0;
      require(id_text(c->exam_id) && id_text(c->result_id), "result claim ids", input);
      require(!c->issued_by.empty() && c->issued_by.size() <= 200, "issued_by", input);
      break;
    }
    case 'P': {
      auto p = ex::patient_from_json(j);
      if (refused_well(p, input)) return 0;
      auto again = ex::patient_from_json(ex::to_json(*p));
      require(again.ok() && again->id == p->id && again->status == p->status,
              "a patient's wire form does not read back", input);
      break;
    }
    case 'I': {
      auto in = ex::read_patient_input(j);
      if (refused_well(in, input)) return 0;
      require(ex::check_name(in->name).ok(), "accepted a bad name", input);
      require(in->email.empty() || ex::check_email(in->email).ok(), "accepted a bad email", input);
      require(in->cellphone.empty() || ex::check_cellphone(in->cellphone).ok(),
              "accepted a bad phone", input);
      break;
    }
    case 'C': {
      auto c = ex::parse_catalog(j);
      if (refused_well(c, input)) return 0;
      for (auto& [code, t] : c->types)
        require(code == t.code && !t.name.empty() && t.result_validity_days >= 1, "catalog entry",
                input);
      break;
    }
    default:
      break;
  }
  return 0;
}
