// Service requests (eHealth "направлення"): create, use, release, process, complete, recall,
// cancel and close jobs, the scheduler's auto-expiry and the status events; approvals.cpp reads
// a service request's expiry.
#pragma once

#include "flows/medical_events/domain.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace medflow::flows::medical_events {

// SERVICE_REQUEST_EXPIRATION_DAYS: a new service request expires at the end of the UTC day
// this many days after its creation.
inline constexpr int service_request_expiration_days = 7;

// The writes that recall every active service request whose expiration_date has passed, with
// status_reason eHealth/service_request_cancel_reasons|autoexpired and a status_history entry
// by `actor`. Input: (patient_id, document) of active service requests.
std::vector<entity_write> expire_service_requests(
    const std::vector<std::pair<std::string, json>>& active_srs, int64_t now_ms,
    const std::string& actor);

// The event manager's StatusChangeEvent for a service request (key = the service request id).
bus::message service_request_status_event(const std::string& id, const std::string& status,
                                          const std::string& changed_by, int64_t now_ms);

// An active service request is expired once its expiration_date has passed.
bool service_request_expired(const json& sr, int64_t now_ms);

}  // namespace medflow::flows::medical_events
