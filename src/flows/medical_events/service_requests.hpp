// Service requests (eHealth "направлення"): create, use, release, process, complete, recall,
// cancel and close jobs, the scheduler's auto-expiry, and the pieces approvals.cpp shares with
// them (OTP phone lookup, SMS notifications, one-of checks, references to patient entities).
#pragma once

#include "flows/medical_events/domain.hpp"

#include <cstdint>
#include <optional>
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

// -- shared with approvals.cpp -----------------------------------------------------------------

// An active service request is expired once its expiration_date has passed.
bool service_request_expired(const json& sr, int64_t now_ms);

// A path parameter ("id") of a request or command; empty when absent.
std::string path_param(const json& params, const char* name);

// Whether the acting user works as this employee at the acting legal entity (the reference's
// employees_by_user_id_client_id check).
bool employee_of_user(view& v, const std::string& user_id, const std::string& client_id,
                      const std::string& employee_id);

// A document as clients see it: without the internal fields (names starting with "_").
json without_internal_fields(const json& doc);

// The person's current authentication method as MPI would report it: the first OTP method,
// else the first one; null when the person has none.
json current_auth_method(const person& p);
// The phone of an OTP authentication method, if `method` is one.
std::optional<std::string> otp_phone(const json& method);
// An SMS to a patient, on notifications_topic keyed by the patient id.
bus::message sms_message(const std::string& patient_id, const std::string& phone,
                         const std::string& body);

// The request schema of a reference to eHealth resources of the given types
// ({"identifier": {"type": {"coding": [{"system": "eHealth/resources", "code"}]}, "value"}}).
json reference_schema(const std::vector<std::string>& codes);

// The reference's one-of rule over the fields of the object at `path` ("$" or "$.a.b"): more
// than one present is "Only one of the parameters must be present" at each; none present, when
// `required`, is "At least one of the parameters must be present" at `path` (rule "oneOf").
std::vector<json_schema::violation> one_of_violations(const json& object, const std::string& path,
                                                      const std::vector<std::string>& fields,
                                                      bool required);

// A version-4 UUID derived from the command (job id and nonce) and a purpose, so that ids of
// new entities are unique per job while handlers stay pure.
std::string derived_uuid(const command& c, const std::string& purpose);

// A reference {"identifier": {"type": {"coding": [{"code": ...}]}, "value": ...}} as the
// "<kind>/<id>" string resource changes carry; eHealth's "episode_of_care" is kind "episode".
// Empty for references to things medflow does not store (employees, legal entities...).
std::string reference_key(const json& ref);

// Checks that each reference of `refs` (an array of references, or one reference) names an
// entity of the patient that may be referenced, with the reference's texts ("Episode with such
// ID is not found", "Diagnostic report in \"entered_in_error\" status can not be referenced",
// ...) at "<path>[i].identifier.value" (arrays) or "<path>.identifier.value". With
// `active_episodes` an episode must also be active ("Episode is not active").
std::vector<json_schema::violation> reference_violations(view& v, const std::string& patient_id,
                                                         const json& refs, const std::string& path,
                                                         bool active_episodes);

// A request-time style error (e.g. from decode_signed_data) as a job outcome.
effects job_failure(const error& e);

}  // namespace medflow::flows::medical_events
