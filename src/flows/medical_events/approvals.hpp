// Approvals: a patient's consent, confirmed by an OTP code, that a doctor may read some of the
// patient's episodes and diagnostic reports. Create and resend are jobs; verify is synchronous.
#pragma once

#include "flows/medical_events/domain.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace medflow::flows::medical_events {

// APPROVAL_EXPIRATION: an approval grants access for this many minutes after its creation.
inline constexpr int64_t approval_expiration_minutes = 1440;

// (patient_id, approval_id) of the approvals still "new" whose inserted_at is more than
// `ttl_hours` (APPROVAL_TTL_HOURS) before now: never verified, the scheduler deletes them.
// Input: (patient_id, document) of approvals.
std::vector<std::pair<std::string, std::string>> expired_new_approvals(
    const std::vector<std::pair<std::string, json>>& approvals, int64_t now_ms, int64_t ttl_hours);

}  // namespace medflow::flows::medical_events
