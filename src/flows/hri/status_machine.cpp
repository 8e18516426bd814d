// The batch status machine (HRI's management API actions) and the validation tracker's decisions
// (HRI's Flink job), as pure functions of a batch and the time.
#include "flows/hri/domain.hpp"

namespace medflow::flows::hri {

namespace {

error unauthorized(std::string message) {
  return {401, "unauthorized", std::move(message), {}};
}

bool allowed(action a, status s) {
  switch (a) {
    case action::send_complete:
    case action::terminate:
      return s == status::started;
    case action::processing_complete:
      return s == status::send_completed;
    // HRI's code (and its e2e tests) also fail a completed batch; only failed and terminated
    // batches are final.
    case action::fail:
      return s != status::failed && s != status::terminated;
  }
  return false;
}

std::string conflict_text(action a, status s) {
  // HRI quotes only the fail action's name ('fail' failed reads oddly otherwise).
  std::string name = a == action::fail ? "'fail'" : action_name(a);
  return name + " failed, batch is in '" + status_name(s) + "' state";
}

bool finished(status s) {
  return s == status::completed || s == status::failed || s == status::terminated;
}

}  // namespace

result<batch> apply_action(const batch& b, const action_request& r, const principal& p,
                           bool validation_enabled, int64_t now_ms) {
  // HRI's update script requires the owner and the state together; when it does nothing, a
  // foreign caller is told about ownership whatever the state.
  bool owned_action = r.a == action::send_complete || r.a == action::terminate;
  if (owned_action && !p.auth_disabled && p.sub != b.integrator_id) {
    return unauthorized(std::string(action_name(r.a)) + " requested by '" + p.sub +
                        "' but owned by '" + b.integrator_id + "'");
  }
  if (!allowed(r.a, b.st)) return error::conflict(conflict_text(r.a, b.st));
  batch n = b;
  switch (r.a) {
    case action::send_complete:
      n.expected_record_count = r.expected_record_count;
      if (!r.metadata.is_null()) n.metadata = r.metadata;  // replaced whole, never merged
      if (validation_enabled) {
        n.st = status::send_completed;  // the validation job completes it; no endDate yet
      } else {
        n.st = status::completed;
        n.end_ms = now_ms;
      }
      break;
    case action::terminate:
      n.st = status::terminated;
      n.end_ms = now_ms;
      if (!r.metadata.is_null()) n.metadata = r.metadata;
      break;
    case action::processing_complete:
      n.st = status::completed;
      n.end_ms = now_ms;
      n.actual_record_count = r.actual_record_count;
      n.invalid_record_count = r.invalid_record_count;
      break;
    case action::fail:
      n.st = status::failed;
      n.end_ms = now_ms;
      n.actual_record_count = r.actual_record_count;
      n.invalid_record_count = r.invalid_record_count;
      n.failure_message = r.failure_message;
      break;
  }
  n.status_changed_ms = now_ms;
  return n;
}

record_decision classify(bool has_batch_header, const batch* b,
                         const std::optional<std::string>& validator_failure) {
  if (!has_batch_header) return {fate::invalid, false, "Bad Message - No header or batchId node"};
  if (!b) return {fate::invalid, false, "Bad Message - Unknown batchId"};
  switch (b->st) {
    case status::terminated:
    case status::failed:
      return {fate::dropped, false, {}};
    case status::completed:
      return {fate::invalid, false, "Bad Message - batchId is already completed"};
    case status::started:
    case status::send_completed:
      break;
  }
  if (validator_failure) return {fate::invalid, true, *validator_failure};
  return {fate::forward, true, {}};
}

tracker_decision track(const batch& b, int64_t completion_delay_ms, int64_t stuck_timeout_ms,
                       int64_t now_ms) {
  tracker_decision d;
  // The status is the tracker's "finished" flag: the decision it produced has been applied.
  if (finished(b.st)) return d;
  const int64_t count = b.valid_count + b.invalid_count;
  // Reaching the threshold fails the batch, even while it is still being sent. HRI compares
  // with ==; >= only matters if a decision was lost (a crash before it was applied), and then the
  // message still states the count the batch has.
  if (b.invalid_threshold > -1 && b.invalid_count >= b.invalid_threshold) {
    d.k = tracker_decision::kind::fail;
    d.failure_message = "Failing Batch: " + b.id + ", too many invalid records invalidCount: " +
                        std::to_string(b.invalid_count) +
                        " == invalidThreshold: " + std::to_string(b.invalid_threshold);
    return d;
  }
  if (b.st != status::send_completed || !b.expected_record_count) return d;
  const int64_t expected = *b.expected_record_count;
  if (count == expected) {
    // Records that arrive within the delay still fail the batch (too many records).
    int64_t at = b.status_changed_ms + completion_delay_ms;
    d.k = now_ms >= at ? tracker_decision::kind::complete_now : tracker_decision::kind::complete_at;
    d.at_ms = at;
    return d;
  }
  if (count > expected) {
    d.k = tracker_decision::kind::fail;
    d.failure_message = "Failing batch: " + b.id +
                        ", received too many records, actualRecordCount: " + std::to_string(count) +
                        " > expectedRecordCount: " + std::to_string(expected);
    return d;
  }
  // medflow's addition: HRI leaves a batch with missing records in sendCompleted forever.
  if (stuck_timeout_ms > 0 && now_ms >= b.status_changed_ms + stuck_timeout_ms) {
    d.k = tracker_decision::kind::fail;
    d.failure_message = "Failing batch: " + b.id + ", only " + std::to_string(count) + " of " +
                        std::to_string(expected) + " expected records arrived within " +
                        std::to_string(stuck_timeout_ms) + " ms after sendComplete";
  }
  return d;
}

std::optional<int64_t> next_check_ms(const batch& b, int64_t completion_delay_ms,
                                     int64_t stuck_timeout_ms) {
  if (b.st != status::send_completed || !b.expected_record_count) return std::nullopt;
  if (b.invalid_threshold > -1 && b.invalid_count >= b.invalid_threshold) return std::nullopt;
  const int64_t count = b.valid_count + b.invalid_count;
  const int64_t expected = *b.expected_record_count;
  if (count == expected) return b.status_changed_ms + completion_delay_ms;
  if (count < expected && stuck_timeout_ms > 0) return b.status_changed_ms + stuck_timeout_ms;
  return std::nullopt;
}

action_request decision_request(const batch& b, const tracker_decision& d) {
  action_request r{d.k == tracker_decision::kind::fail ? action::fail : action::processing_complete,
                   {},
                   {},
                   {},
                   {},
                   {}};
  r.actual_record_count = b.valid_count + b.invalid_count;
  r.invalid_record_count = b.invalid_count;
  if (r.a == action::fail) r.failure_message = d.failure_message;
  return r;
}

}  // namespace medflow::flows::hri
