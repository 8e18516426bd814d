// HRI batches across instances: the internal topic that brings a batch's records and actions to
// the one instance owning the batch (README "HRI batches across instances"). The owner of an
// input partition judges each record and appends it here keyed by "<tenant>/<batchId>", its
// source position in headers; an HTTP action on a batch is appended to the same key, so the
// batch's owner sees both in one order. Pure: encoding and decoding of those entries.
#pragma once

#include "bus/log.hpp"
#include "flows/hri/domain.hpp"
#include "flows/hri/records.hpp"

#include <optional>
#include <string>
#include <variant>

namespace medflow::flows::hri {

// The internal topic and its consumer groups.
inline const char* batch_records_topic = "hri.batch_records";
inline const char* batches_group = "hri-batches";

// The key of a batch on the internal topic (and of its actor): "<tenant>/<batchId>".
std::string batch_key_of(const std::string& tenant, const std::string& batch_id);

// A judged record of an input topic as an entry of the internal topic: the original record's
// headers first, then ours (hri.*), its value as it is. Only for records that name a batch.
bus::message record_entry(const judged_record& j);

// An action on a batch received over HTTP, to be applied by the batch's owner; its outcome is
// written under `request_id` (store: hri_action_outcomes).
struct action_entry {
  std::string tenant;
  std::string batch_id;
  std::string request_id;
  action_request request;
  principal who;
};
bus::message action_message(const action_entry& a);

// What an entry of the internal topic holds; an error text for one that is not ours (written
// by something else, or damaged): it is skipped.
using batch_entry = std::variant<judged_record, action_entry, std::string>;
batch_entry decode_entry(const bus::record& r);

}  // namespace medflow::flows::hri
