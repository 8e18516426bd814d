// What happens to the records of a stream's input topic: judged on the consumer's side (the
// batch they name, the validator's verdict), then taken by their batch (forwarded to .out,
// written to .invalid or dropped, counted, redeliveries recognised), or dead-lettered to
// .invalid when they kept failing. Pure: the batch's actor and the service commit the results.
#pragma once

#include "bus/log.hpp"
#include "flows/hri/domain.hpp"

#include <optional>
#include <string>

namespace medflow::flows::hri {

// One record of an input topic with what the consumer's side found out about it.
struct judged_record {
  std::string tenant;
  std::optional<std::string> batch_id;  // the record's batchId header, if any
  bus::record rec;
  std::optional<std::string> validator_failure;
};
// Only records that belong to a batch are worth validating: one without a batchId header is
// invalid whatever it holds.
judged_record judge(const std::string& tenant, const validator& v, bus::record r);

// What taking one record did to its batch.
struct record_step {
  // At or below the last offset counted for its input partition: delivered again after a
  // crash and handled already; nothing else changes (it only needs its completion).
  bool redelivered = false;
  std::optional<bus::message> output;  // to .out (forwarded) or .invalid
  bool batch_changed = false;          // the batch row must be written (seen offset, counts)
  bool counted = false;                // counted toward the batch: the tracker looks again
};
// Takes a record for `b` (nullopt: no such batch). Records of one input partition must come in
// offset order: the last one counted per partition is how a redelivery is recognised. The
// record moves into the output.
record_step take_record(std::optional<batch>& b, judged_record r);

// The .invalid record for an input record ({"batchId"?, "topic", "partition", "offset",
// "failure"}, header batchId when known).
bus::message invalid_output(const bus::record& r, const std::optional<std::string>& batch_id,
                            const std::string& failure);
// A record that kept failing is reported as invalid ("Bad Message - processing failed: <why>"),
// without counting for its batch.
bus::message dead_letter_output(const bus::record& r, const std::string& why);

}  // namespace medflow::flows::hri
