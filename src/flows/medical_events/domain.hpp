// The medical events flow (Ukraine's eHealth "medical events"), pure domain logic.
//
// A write request is checked synchronously (check_request: unknown patient 404, inactive
// person 409, schema 422, unknown target 404) and becomes a job; the job's command is later
// handled (handle) against a read view of the store, in per-patient order, and returns the
// effects to commit atomically: entity writes, the job's outcome, resource changes and records
// to publish. Nothing here touches SQLite, HTTP or CAF; the store and the worker apply effects.
#pragma once

#include "bus/log.hpp"
#include "core/error.hpp"
#include "core/json_schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medflow::flows::medical_events {

using json = nlohmann::json;

// -- topics -----------------------------------------------------------------------------------------

inline const char* jobs_topic = "medical_events";            // job messages, key = patient id
inline const char* dead_letter_topic = "medical_events.dead_letter";
inline const char* person_events_topic = "person_events";    // registry feed (MPI)
inline const char* person_dead_letter_topic = "person_events.dead_letter";
// Service request status changes (the reference's event manager topic).
inline const char* event_manager_topic = "event_manager_topic";
// Patient SMS (OTP codes, recalls), for an SMS gateway; written in the job's transaction.
inline const char* notifications_topic = "medical_events.notifications";

// -- job types and statuses ---------------------------------------------------------------------

enum class job_type {
  episode_create,
  episode_update,
  episode_close,
  episode_cancel,
  package_create,                    // encounter package
  package_cancel,
  diagnostic_report_package_create,
  diagnostic_report_package_cancel,
  service_request_create,
  service_request_use,
  service_request_release,
  service_request_process,
  service_request_complete,
  service_request_recall,
  service_request_cancel,
  service_request_close,
  approval_create,
  approval_resend,
};

// "episode_create_job", ... (the reference's message type names)
const char* wire_name(job_type t);
std::optional<job_type> parse_job_type(std::string_view name);

enum class job_status { pending = 0, processed = 1, failed = 2, failed_with_error = 3 };
const char* status_name(job_status s);  // pending, processed, failed, failed_with_error

// -- stored entities ------------------------------------------------------------------------------

enum class kind {
  episode,
  encounter,
  visit,
  condition,
  observation,
  immunization,
  allergy_intolerance,
  risk_assessment,
  device,
  medication_statement,
  diagnostic_report,
  service_request,
  approval,
};
const char* kind_name(kind k);    // "episode", "allergy_intolerance", ...
const char* kind_plural(kind k);  // "episodes", "allergy_intolerances", ... (route segment)
std::optional<kind> parse_kind_name(std::string_view name);  // "episode", ... (kind_name)
std::vector<std::string> kind_names();  // every kind's kind_name, in declaration order

// Registries the handlers consult (fed by the admin API and the person_events topic).
struct person {
  std::string id;
  std::string status;  // "active" or "inactive"
  json doc;            // everything given, e.g. authentication_methods [{type, phone_number}]
};
struct legal_entity {
  std::string id;
  std::string status;  // "ACTIVE", "CLOSED", ...
  json doc;
};
struct employee {
  std::string id;
  std::string legal_entity_id;
  std::string employee_type;  // "DOCTOR", ...
  std::string status;         // "APPROVED", ...
  std::string user_id;        // the x-consumer-id of the person acting as this employee
  std::string tax_id;
  json doc;
};

// Read access to the store, as of the job's transaction (so it sees every earlier job of the
// patient). Entities are JSON documents with at least "id"; see README for their shapes.
class view {
 public:
  virtual ~view() = default;
  virtual std::optional<json> get(kind k, const std::string& patient_id, const std::string& id) = 0;
  // Every entity of a kind of one patient, in insertion order.
  virtual std::vector<json> list(kind k, const std::string& patient_id) = 0;
  // An entity by id whoever it belongs to: (patient_id, document).
  virtual std::optional<std::pair<std::string, json>> find(kind k, const std::string& id) = 0;
  virtual std::optional<person> get_person(const std::string& id) = 0;
  // Cheap forms of get/get_person for checks that need no document (the request-time checks
  // run on every request: parsing a document only to test it exists is wasted).
  virtual bool exists(kind k, const std::string& patient_id, const std::string& id) {
    return get(k, patient_id, id).has_value();
  }
  virtual std::optional<std::string> person_status(const std::string& id) {
    auto p = get_person(id);
    return p ? std::optional<std::string>{p->status} : std::nullopt;
  }
  virtual std::optional<legal_entity> get_legal_entity(const std::string& id) = 0;
  virtual std::optional<employee> get_employee(const std::string& id) = 0;
  // Employees whose user_id is `user_id` (the acting user's employee records).
  virtual std::vector<employee> employees_of_user(const std::string& user_id) = 0;
  // The next value of a named sequence (1, 2, 3...), e.g. requisition numbers.
  virtual int64_t next_number(const std::string& sequence) = 0;
};

// -- requests (synchronous, at the HTTP edge) -----------------------------------------------------

struct request {
  job_type type;
  std::string patient_id;  // from the URL; empty for SR use/release/process/complete
  std::string user_id;     // x-consumer-id
  std::string client_id;   // x-consumer-metadata.client_id (the legal entity)
  json params;             // path parameters, e.g. {"id": "..."}
  json body;
};

// A request that passed the synchronous checks: the patient whose partition the job goes to.
struct accepted {
  std::string patient_id;
};

// Failed checks are medflow::error values with status 404/409/422, code = the eHealth error
// type ("not_found", "request_conflict", "validation_failed") and, for 422, detail = the
// "invalid" list. The HTTP layer renders them in eHealth's envelope. No job is created.
result<accepted> check_request(const request& r, view& v);

// -- commands (asynchronous, in the job worker) ---------------------------------------------------

// What a job was asked to do, as its message carries it from the request to the handler.
struct job_input {
  std::string job_id;
  job_type type;
  std::string patient_id;
  std::string user_id;
  std::string client_id;
  json params;
  json body;
};

struct command : job_input {
  int64_t now_ms = 0;     // when the job is processed
  std::string nonce;      // random hex from the worker (e.g. for OTP codes), keeps handlers pure
};

enum class change_kind { created, updated, deleted };
const char* change_name(change_kind c);

// A change of one resource, published later as a resource event (the store numbers versions).
struct resource_change {
  kind k;
  std::string patient_id;
  std::string id;
  change_kind change;
  std::vector<std::string> references_added;    // "episode/<id>", "encounter/<id>", ...
  std::vector<std::string> references_removed;
};

// Upsert of a whole entity document.
struct entity_write {
  kind k;
  std::string patient_id;
  std::string id;
  json doc;
};

// How the job ends: 200 processed (response: {"links": [...]} or {"response_data": ...}),
// anything else failed (response: a string, or for 422 the validation body).
struct outcome {
  int status_code = 200;
  json response;
};

struct effects {
  outcome result;
  std::vector<entity_write> writes;        // only when result is 200
  std::vector<resource_change> changes;    // only when result is 200
  std::vector<bus::message> publish;       // e.g. SMS notifications, service request events
};

effects handle(const command& c, view& v);

// -- helpers shared by the handlers ----------------------------------------------------------------

// Outcomes.
effects processed_with_links(json links);          // 200 {"links": [...]}
effects processed_with_data(json response_data);   // 200 {"response_data": ...}
effects conflict(std::string message);             // 409, stored as the message
effects not_found(std::string message);            // 404, stored as the bare string
effects unprocessable(const std::vector<json_schema::violation>& vs);  // 422 EView body
effects unprocessable(const std::string& entry, const std::string& description,
                      const std::string& rule = "invalid");
effects internal_error(std::string message);       // 500

// {"entity": "episode", "href": "/api/patients/<pid>/episodes/<id>"}
json link(kind k, const std::string& patient_id, const std::string& id);

// eHealth's 422 body: {"type":"validation_failed","message":"Validation failed. ...","invalid":[
// {"entry":"$.id","entry_type":"json_data_property","rules":[{"description","params","rule"}]}]}
json validation_body(const std::vector<json_schema::violation>& vs);

// Request-time errors (see check_request).
error request_not_found(std::string message);    // 404 not_found
error request_conflict(std::string message);     // 409 request_conflict
error request_invalid(const std::vector<json_schema::violation>& vs);  // 422 validation_failed
error request_invalid(const std::string& entry, const std::string& description,
                      const std::string& rule = "invalid");

// The patient of a request must exist (404 "Person is not found") and be active
// (409 "Person is not active").
std::optional<error> check_patient(const std::string& patient_id, view& v);

// Decodes signed_data in signature-off mode: base64 of the JSON content. A value that is not
// base64 of a JSON object gives 422 at $.signed_data.
result<json> decode_signed_data(const json& body);

// ISO 8601 timestamps of documents: 2019-06-10T12:00:00.000000Z.
std::string timestamp(int64_t ms);

// The identifier value of a reference: {"identifier": {"value": "..."}} -> "...".
std::string reference_id(const json& ref);

// -- per group (episodes.cpp, packages.cpp, service_requests.cpp, approvals.cpp) -------------------

effects handle_episode_job(const command& c, view& v);
effects handle_package_job(const command& c, view& v);  // encounter and diagnostic report packages
effects handle_service_request_job(const command& c, view& v);
effects handle_approval_job(const command& c, view& v);

result<accepted> check_episode_request(const request& r, view& v);
result<accepted> check_package_request(const request& r, view& v);
result<accepted> check_service_request_request(const request& r, view& v);
result<accepted> check_approval_request(const request& r, view& v);

// Approval verify (synchronous, no job): new -> active after the OTP code check.
struct verify_result {
  json approval;                        // the updated approval
  std::vector<entity_write> writes;
  std::vector<resource_change> changes;
};
result<verify_result> verify_approval(const std::string& patient_id, const std::string& approval_id,
                                      const json& body, const std::string& user_id,
                                      const std::string& client_id, int64_t now_ms, view& v);

}  // namespace medflow::flows::medical_events
