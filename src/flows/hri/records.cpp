#include "flows/hri/records.hpp"

namespace medflow::flows::hri {

namespace {

std::optional<std::string> batch_id_of(const bus::record& r) {
  if (auto* id = r.header("batchId")) return *id;
  return std::nullopt;
}

}  // namespace

judged_record judge(const std::string& tenant, const validator& v, bus::record r) {
  judged_record j;
  j.tenant = tenant;
  j.batch_id = batch_id_of(r);
  if (j.batch_id) j.validator_failure = v.check(r.value);
  j.rec = std::move(r);
  return j;
}

record_step take_record(std::optional<batch>& b, judged_record r) {
  record_step step;
  std::string position = r.rec.topic + "/" + std::to_string(r.rec.partition);
  std::map<std::string, int64_t>::iterator seen;
  if (b) {
    seen = b->seen_offsets.find(position);
    if (seen != b->seen_offsets.end() && r.rec.offset <= seen->second) {
      step.redelivered = true;
      return step;
    }
  }
  auto decision = classify(r.batch_id.has_value(), b ? &*b : nullptr, r.validator_failure);
  switch (decision.f) {
    case fate::forward:
      step.output = bus::message{output_topic(r.rec.topic, "out"), std::move(r.rec.key),
                                 std::move(r.rec.value), std::move(r.rec.hdrs), std::nullopt};
      break;
    case fate::invalid: step.output = invalid_output(r.rec, r.batch_id, decision.failure); break;
    case fate::dropped: break;
  }
  if (b) {
    if (seen != b->seen_offsets.end()) seen->second = r.rec.offset;
    else b->seen_offsets.emplace(std::move(position), r.rec.offset);
    step.batch_changed = true;
    if (decision.counted) {
      if (decision.f == fate::forward) ++b->valid_count;
      else ++b->invalid_count;
      step.counted = true;
    }
  }
  return step;
}

bus::message invalid_output(const bus::record& r, const std::optional<std::string>& batch_id,
                            const std::string& failure) {
  bus::headers hs;
  if (batch_id) hs.emplace_back("batchId", *batch_id);
  return {output_topic(r.topic, "invalid"), std::nullopt,
          invalid_record(batch_id, r.topic, r.partition, r.offset, failure).dump(), std::move(hs),
          std::nullopt};
}

bus::message dead_letter_output(const bus::record& r, const std::string& why) {
  return invalid_output(r, batch_id_of(r), "Bad Message - processing failed: " + why);
}

}  // namespace medflow::flows::hri
