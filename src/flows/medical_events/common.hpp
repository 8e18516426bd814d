// What the handlers of every group (episodes, packages, service requests, approvals) share
// beyond domain.hpp: reading untrusted job data, building violations, the references between
// patient entities, OTP phones and patient SMS, derived ids, and documents as clients see them.
// Pure: nothing here touches SQLite, HTTP or CAF.
#pragma once

#include "flows/medical_events/domain.hpp"

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::medical_events {

using violations = std::vector<json_schema::violation>;

// A step of a handler that may end the job: nothing (go on) or the job's failing outcome.
using failure = std::optional<effects>;

// -- reading jobs (data: never trust them) ----------------------------------------------------

// obj[key], or null when obj is not an object or has no such key.
const json& field(const json& obj, const char* key);
// obj[key] as a string, or "" when it is absent or not a string.
std::string text(const json& obj, const char* key);
// The code of a codeable concept's first coding (null when there is none).
const json& first_code(const json& codeable);
// A path parameter ("id") of a request or command; empty when absent.
std::string path_param(const json& params, const char* name);

// -- violations and outcomes ------------------------------------------------------------------

// A violation of rule "invalid" without params, the kind the reference's validators report.
json_schema::violation invalid(std::string entry, std::string description);
void append(violations& to, violations more);

// The reference's one-of rule over the fields of the object at `path` ("$" or "$.a.b"): more
// than one present is "Only one of the parameters must be present" at each; none present, when
// `required`, is "At least one of the parameters must be present" at `path` (rule "oneOf").
violations one_of_violations(const json& object, const std::string& path,
                             const std::vector<std::string>& fields, bool required);

// A request-time style error (e.g. from decode_signed_data) as a job outcome.
effects job_failure(const error& e);

// -- documents --------------------------------------------------------------------------------

// A document as clients see it: fields of stored documents that start with '_' are internal
// (e.g. verification code hashes) and never leave the store through the API.
json public_doc(const json& doc);

// A version-4 UUID derived from the command (job id and nonce) and a purpose, so that ids of
// new entities are unique per job while handlers stay pure.
std::string derived_uuid(const command& c, const std::string& purpose);

// -- references -------------------------------------------------------------------------------

// A reference to an eHealth resource, as documents hold them: {"identifier": {"type":
// {"coding": [{"system": "eHealth/resources", "code": <code>}]}, "value": <id>}}.
json reference_to(const std::string& code, const std::string& id);

// A reference {"identifier": {"type": {"coding": [{"code": ...}]}, "value": ...}} as the
// "<kind>/<id>" string resource changes carry; eHealth's "episode_of_care" is kind "episode".
// Empty for references to things medflow does not store (employees, legal entities...).
std::string reference_key(const json& ref);

// The reference_key of each reference in `groups` (each an array of references, or one
// reference), in order, without repeats and without the empty keys.
std::vector<std::string> reference_keys(std::initializer_list<const json*> groups);

// Checks that each reference of `refs` (an array of references, or one reference) names an
// entity of the patient that may be referenced, with the reference's texts ("Episode with such
// ID is not found", "Diagnostic report in \"entered_in_error\" status can not be referenced",
// ...) at "<path>[i].identifier.value" (arrays) or "<path>.identifier.value". With
// `active_episodes` an episode must also be active ("Episode is not active").
violations reference_violations(view& v, const std::string& patient_id, const json& refs,
                                const std::string& path, bool active_episodes);

// -- people -----------------------------------------------------------------------------------

// Whether the acting user works as this employee at the acting legal entity (the reference's
// employees_by_user_id_client_id check).
bool employee_of_user(view& v, const std::string& user_id, const std::string& client_id,
                      const std::string& employee_id);

// The person's current authentication method as MPI would report it: the first OTP method,
// else the first one; null when the person has none.
json current_auth_method(const person& p);
// The phone of an OTP authentication method, if `method` is one.
std::optional<std::string> otp_phone(const json& method);
// An SMS to a patient, on notifications_topic keyed by the patient id.
bus::message sms_message(const std::string& patient_id, const std::string& phone,
                         const std::string& body);

}  // namespace medflow::flows::medical_events
