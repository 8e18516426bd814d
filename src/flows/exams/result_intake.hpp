// Where the results inbox meets the exams service: a result file's outcome becomes its folder,
// and a processed result (from a file or from /exams/communicate) enqueues the patient's
// notification in the transaction that records it.
#pragma once

#include "flows/exams/notifications.hpp"
#include "flows/exams/results.hpp"
#include "flows/exams/service.hpp"

#include <memory>

namespace medflow::exams {

folder folder_of(result_outcome o);

// The notification a processed result asks for.
notification_request notification_for(const result_applied& r);

// A result_listener that enqueues the notification of a processed, first-time result (for
// apply_result_file's in_tx and settings::on_result). Clock: wall time in ms.
result_listener notify_on_result(std::shared_ptr<notifications> outbox,
                                 std::function<int64_t()> now_ms);

// The results workers' apply_fn over the service: apply_result_file with `on_result` in its
// transaction, the outcome as a folder.
apply_fn apply_with(service& svc, result_listener on_result);

}  // namespace medflow::exams
