// Service request jobs (ME:core/service_requests/producer.ex, consumer.ex): the checks run in the
// reference's order with its texts and codes. Defects fixed here:
// - recall and cancel only act on a service request of the URL's patient (the reference looked
//   it up by id alone, so any patient's request could be recalled through any patient's URL);
// - the SMS and the event manager's status event are published with the job's transaction
//   (the reference sent the SMS before and the event after its commit, so a crash between
//   could repeat or lose them);
// - every status change (process, complete, recall, cancel, close) is published, not only
//   recall and cancel.
// Resource changes name references "<kind>/<id>" (kind_name: "encounter/…", "episode/…",
// "diagnostic_report/…", "condition/…", "observation/…"); employees and legal entities are
// registries, not resources, and are not listed.
#include "flows/medical_events/service_requests.hpp"

#include "core/clock.hpp"
#include "flows/medical_events/common.hpp"
#include "flows/medical_events/schemas.hpp"

#include <algorithm>

namespace medflow::flows::medical_events {

namespace {

using namespace schemas;

constexpr int64_t day_ms = 86400000;

// -- schemas (draft-04, after the reference's json_schemas/service_requests) -------------------

json use_body() {
  return object_schema({{"used_by_employee", resource_reference({"employee"})},
                        {"used_by_legal_entity", resource_reference({"legal_entity"})}},
                       {"used_by_legal_entity"});
}

json complete_body() {
  return object_schema(
      {{"completed_with", resource_reference({"encounter", "diagnostic_report"})},
       {"status_reason", codeable_concept("eHealth/service_request_complete_reasons",
                                          non_empty_string(), true)}},
      {"completed_with"});
}

// The content a doctor signs to create a service request. Simplified from the reference: the
// dictionary value of category.coding.code is not checked (medflow has no dictionaries).
json create_content() {
  json resources = resource_reference({"episode_of_care", "diagnostic_report"});
  return object_schema(
      {{"status", string_enum({"active"})},
       {"intent", string_enum({"plan", "proposal", "order"})},
       {"category", codeable_concept("eHealth/SNOMED/service_request_categories",
                                     non_empty_string(), false)},
       {"code", resource_reference({"service_group", "service"})},
       {"context", resource_reference({"encounter"})},
       {"authored_on", date_time()},
       {"requester_employee", resource_reference({"employee"})},
       {"requester_legal_entity", resource_reference({"legal_entity"})},
       {"reason_reference", array_of(resource_reference({"observation", "condition"}), true)},
       {"supporting_info", array_of(resources, true)},
       {"note", text_type(false)},
       {"patient_instruction", text_type(false)},
       {"permitted_resources", array_of(resources, false)},
       {"occurrence_date_time", date_time()},
       {"occurrence_period", period(date_time(), {"start", "end"})},
       {"priority", text_type(true)}},
      {"status", "intent", "category", "code", "context", "authored_on", "requester_employee",
       "requester_legal_entity"});
}

// The stored service request as signed back on recall or cancel, with the new status_reason
// (a code of `reason_system`). Simplified from the reference: status_history items are only
// required to be objects, as there.
json withdrawal_content(const std::string& reason_system,
                        const std::vector<std::string>& statuses) {
  json resources = resource_reference({"episode_of_care", "diagnostic_report"}, true);
  json any_reference = nullable(resource_reference({}, true));
  return object_schema(
      {{"id", uuid()},
       {"status", string_enum(statuses)},
       {"intent", string_enum({"plan", "proposal", "order"})},
       {"category", codeable_concept("eHealth/SNOMED/service_request_categories",
                                     non_empty_string(), true)},
       {"code", resource_reference({"service_group", "service"}, true)},
       {"context", resource_reference({"encounter"}, true)},
       {"authored_on", date_time()},
       {"requester_employee", resource_reference({"employee"}, true)},
       {"requester_legal_entity", resource_reference({"legal_entity"}, true)},
       {"reason_reference",
        nullable(array_of(resource_reference({"observation", "condition"}, true), false))},
       {"supporting_info", nullable(array_of(resources, false))},
       {"note", text_type(true)},
       {"patient_instruction", text_type(true)},
       {"permitted_resources", nullable(array_of(resources, false))},
       {"occurrence_date_time", date_time()},
       {"occurrence_period", period(date_time(), {"start", "end"})},
       {"explanatory_letter", text_type(false)},
       {"status_reason", codeable_concept(reason_system, string_type(), true, false)},
       {"expiration_date", nullable(date_time())},
       {"requisition", text_type(false)},
       {"status_history", nullable(array_of(any_object(), false))},
       {"used_by_employee", any_reference},
       {"used_by_legal_entity", any_reference},
       {"subject", any_reference},
       {"inserted_at", date_time()},
       {"updated_at", date_time()},
       {"priority", text_type(true)},
       {"completed_with", any_reference}},
      {"id", "status", "intent", "category", "code", "context", "authored_on", "requester_employee",
       "requester_legal_entity", "status_reason", "expiration_date", "note", "patient_instruction",
       "reason_reference", "requisition", "status_history", "used_by_employee",
       "used_by_legal_entity", "subject"});
}

json recall_content() {
  return withdrawal_content("eHealth/service_request_recall_reasons", {"active", "in_progress"});
}

// "completed" is allowed here although the reference's cancel schema only had active and
// in_progress: its consumer cancels completed requests, which that schema made unreachable.
json cancel_content() {
  return withdrawal_content("eHealth/service_request_cancel_reasons",
                            {"active", "in_progress", "completed"});
}

// -- documents ---------------------------------------------------------------------------------

json status_history_entry(const std::string& status, const json& reason, int64_t now_ms,
                          const std::string& actor) {
  return {{"status", status},
          {"status_reason", reason},
          {"inserted_at", timestamp(now_ms)},
          {"inserted_by", actor}};
}

void set_status(json& doc, const std::string& status, const json& reason, int64_t now_ms,
                const std::string& actor) {
  doc["status"] = status;
  doc["updated_at"] = timestamp(now_ms);
  if (!doc["status_history"].is_array()) doc["status_history"] = json::array();
  doc["status_history"].push_back(status_history_entry(status, reason, now_ms, actor));
}

// The last second of the UTC day `days` after now, as the reference computes it.
int64_t end_of_day_after(int64_t now_ms, int days) {
  int64_t day = now_ms / day_ms;
  return (day + days + 1) * day_ms - 1000;
}

// eHealth's number generator gives 16 decimal digits in groups of four. medflow maps the
// requisition sequence onto 0..10^16-1 with an affine map whose multiplier is coprime to 10 (a
// bijection), so numbers stay unique without telling how many requests were issued.
std::string requisition_number(int64_t n) {
  using u128 = unsigned __int128;
  const u128 modulus = 10000000000000000ULL;
  u128 x = (static_cast<u128>(n) * 3141592653589793ULL + 2718281828459045ULL) % modulus;
  std::string digits(16, '0');
  for (int i = 15; i >= 0; --i, x /= 10)
    digits[i] = static_cast<char>('0' + static_cast<int>(x % 10));
  return digits.substr(0, 4) + "-" + digits.substr(4, 4) + "-" + digits.substr(8, 4) + "-" +
         digits.substr(12, 4);
}

// The subject as the reference's view shows it: a patient reference with an empty type text.
json patient_reference(const std::string& patient_id) {
  auto subject = reference_to("patient", patient_id);
  subject["identifier"]["type"]["text"] = "";
  return subject;
}

// A new active service request as clients read it back (the reference's ServiceRequestView):
// the signed content plus its id, subject, requisition, expiry and history; absent optional
// fields are null so the document can be signed back unchanged on recall or cancel.
json new_service_request(const command& c, const json& content, const std::string& id,
                         const std::string& requisition) {
  json doc = content;
  for (auto key : {"reason_reference", "supporting_info", "note", "patient_instruction",
                   "permitted_resources", "priority"})
    if (!doc.contains(key)) doc[key] = nullptr;
  doc["id"] = id;
  doc["subject"] = patient_reference(c.patient_id);
  doc["requisition"] = requisition;
  doc["expiration_date"] = timestamp(end_of_day_after(c.now_ms, service_request_expiration_days));
  doc["status_reason"] = nullptr;
  doc["used_by_employee"] = nullptr;
  doc["used_by_legal_entity"] = nullptr;
  doc["completed_with"] = nullptr;
  doc["inserted_at"] = timestamp(c.now_ms);
  doc["status_history"] = json::array();
  set_status(doc, text(content, "status"), nullptr, c.now_ms, c.user_id);
  return doc;
}

// -- the job's target --------------------------------------------------------------------------

// A service request a job acts on, with the patient it belongs to.
struct target {
  std::string patient_id;
  std::string id;
  json doc;
};

// use, release, process and complete have no patient in their URL: the request is found
// wherever it is. The others only act on a request of the URL's patient.
bool patient_scoped(job_type t) {
  return t == job_type::service_request_recall || t == job_type::service_request_cancel ||
         t == job_type::service_request_close;
}

std::optional<target> find_target(const command& c, view& v) {
  auto id = path_param(c.params, "id");
  if (patient_scoped(c.type)) {
    auto doc = v.get(kind::service_request, c.patient_id, id);
    if (!doc) return std::nullopt;
    return target{c.patient_id, id, std::move(*doc)};
  }
  auto found = v.find(kind::service_request, id);
  if (!found) return std::nullopt;
  return target{found->first, id, std::move(found->second)};
}

std::string not_found_text(const std::string& id) {
  return "Service request with id '" + id + "' is not found";
}

// The job succeeded: the request is saved, and its link is the job's response.
effects saved(const target& t, change_kind change, std::vector<std::string> references_added) {
  auto e = processed_with_links(json::array({link(kind::service_request, t.patient_id, t.id)}));
  e.writes.push_back({kind::service_request, t.patient_id, t.id, t.doc});
  e.changes.push_back(
      {kind::service_request, t.patient_id, t.id, change, std::move(references_added), {}});
  return e;
}

// A status change: the fields of `set`, the status with a status_history entry, and the event
// manager's StatusChangeEvent, all in the job's transaction.
effects change_status(const command& c, target t, const std::string& status,
                      const json& history_reason, const json& set = json::object(),
                      std::vector<std::string> references_added = {}) {
  for (auto& [key, value] : set.items()) t.doc[key] = value;
  set_status(t.doc, status, history_reason, c.now_ms, c.user_id);
  auto e = saved(t, change_kind::updated, std::move(references_added));
  e.publish.push_back(service_request_status_event(t.id, status, c.user_id, c.now_ms));
  return e;
}

std::optional<effects> check_not_expired(const target& t, int64_t now_ms) {
  if (service_request_expired(t.doc, now_ms)) return conflict("Service request is expired");
  return std::nullopt;
}

std::optional<effects> check_used_by_client(const command& c, const target& t) {
  if (reference_id(field(t.doc, "used_by_legal_entity")) != c.client_id)
    return conflict("Service request is used by another legal entity");
  return std::nullopt;
}

// -- the jobs ----------------------------------------------------------------------------------

violations create_violations(const command& c, view& v, const json& content) {
  violations out;
  auto& pid = c.patient_id;
  append(out, reference_violations(v, pid, field(content, "context"), "$.context", false));
  if (reference_id(field(content, "requester_legal_entity")) != c.client_id)
    out.push_back(
        invalid("$.requester_legal_entity.identifier.value", "Must be current legal enity"));
  append(out, reference_violations(v, pid, field(content, "reason_reference"), "$.reason_reference",
                                   false));
  append(out, reference_violations(v, pid, field(content, "supporting_info"), "$.supporting_info",
                                   true));
  auto& category = first_code(field(content, "category"));
  auto& permitted = field(content, "permitted_resources");
  if (category == "laboratory_procedure" && !permitted.is_null())
    out.push_back(invalid("$.permitted_resources",
                          "Permitted resources are not allowed for laboratory category of service "
                          "request"));
  else
    append(out, reference_violations(v, pid, permitted, "$.permitted_resources", true));
  auto authored_on = clock::parse_iso8601(text(content, "authored_on"));
  if (authored_on && *authored_on >= c.now_ms)
    out.push_back(invalid("$.authored_on", "must be a datetime less than " + timestamp(c.now_ms)));
  return out;
}

effects create(const command& c, view& v) {
  auto content = decode_signed_data(c.body);
  if (!content) return job_failure(content.err());
  auto vs = compiled<create_content>().validate(*content);
  if (vs.empty())
    vs = one_of_violations(*content, "$", {"occurrence_date_time", "occurrence_period"}, false);
  if (vs.empty()) vs = create_violations(c, v, *content);
  if (!vs.empty()) return unprocessable(vs);
  // The signer's DRFO is not compared with the requester's tax id: medflow runs in the
  // reference's signature-off mode, where signed_data carries no signer.
  auto requester = reference_id((*content)["requester_employee"]);
  if (!employee_of_user(v, c.user_id, c.client_id, requester))
    return conflict("Employees related to this party_id not in current MSP");
  auto id = derived_uuid(c, "service_request");
  auto requisition = requisition_number(v.next_number("requisition"));
  target t{c.patient_id, id, new_service_request(c, *content, id, requisition)};
  auto& doc = t.doc;
  return saved(t, change_kind::created,
               reference_keys({&doc["context"], &doc["reason_reference"], &doc["supporting_info"],
                               &doc["permitted_resources"]}));
}

violations use_violations(const command& c, view& v) {
  violations out;
  auto& employee_ref = field(c.body, "used_by_employee");
  if (!employee_ref.is_null()) {
    auto id = reference_id(employee_ref);
    auto path = "$.used_by_employee.identifier.value";
    auto e = v.get_employee(id);
    if (!e)
      out.push_back(invalid(path, "Employee with such ID is not found"));
    else if (e->employee_type != "DOCTOR")
      out.push_back(invalid(path, "Employee is not an active doctor"));
    else if (e->status != "APPROVED")
      out.push_back(invalid(path, "Employee is not approved"));
    else if (e->legal_entity_id != c.client_id)
      out.push_back(invalid(path, "Employee " + id + " doesn't belong to your legal entity"));
  }
  if (reference_id(field(c.body, "used_by_legal_entity")) != c.client_id)
    out.push_back(invalid("$.used_by_legal_entity.identifier.value",
                          "You can assign service request only to your legal entity"));
  return out;
}

effects use(const command& c, view& v) {
  auto t = find_target(c, v);
  if (!t) return not_found(not_found_text(path_param(c.params, "id")));
  if (auto e = check_not_expired(*t, c.now_ms)) return *e;
  if (text(t->doc, "status") != "active")
    return conflict("Can't use inactive service request");
  if (!field(t->doc, "used_by_legal_entity").is_null())
    return conflict("Service request is already used");
  auto vs = use_violations(c, v);
  if (!vs.empty()) return unprocessable(vs);
  t->doc["used_by_employee"] = field(c.body, "used_by_employee");
  t->doc["used_by_legal_entity"] = field(c.body, "used_by_legal_entity");
  t->doc["updated_at"] = timestamp(c.now_ms);
  return saved(*t, change_kind::updated, {});
}

// As in the reference, any legal entity may release a request (no used_by check).
effects release(const command& c, view& v) {
  auto t = find_target(c, v);
  if (!t) return not_found(not_found_text(path_param(c.params, "id")));
  if (auto e = check_not_expired(*t, c.now_ms)) return *e;
  auto status = text(t->doc, "status");
  if (status != "active")
    return conflict("Service request in status " + status + " cannot be released");
  t->doc["used_by_employee"] = nullptr;
  t->doc["used_by_legal_entity"] = nullptr;
  t->doc["updated_at"] = timestamp(c.now_ms);
  return saved(*t, change_kind::updated, {});
}

effects process(const command& c, view& v) {
  auto t = find_target(c, v);
  if (!t) return not_found(not_found_text(path_param(c.params, "id")));
  if (text(t->doc, "status") != "active") return conflict("Invalid service request status");
  if (auto e = check_used_by_client(c, *t)) return *e;
  return change_status(c, std::move(*t), "in_progress", nullptr);
}

effects complete(const command& c, view& v) {
  auto t = find_target(c, v);
  if (!t) return not_found(not_found_text(path_param(c.params, "id")));
  if (text(t->doc, "status") != "in_progress")
    return conflict("Invalid service request status");
  if (auto e = check_used_by_client(c, *t)) return *e;
  auto& completed_with = field(c.body, "completed_with");
  auto vs = reference_violations(v, t->patient_id, completed_with, "$.completed_with", false);
  if (!vs.empty()) return unprocessable(vs);
  auto& reason = field(c.body, "status_reason");
  json set = {{"status_reason", reason}, {"completed_with", completed_with}};
  return change_status(c, std::move(*t), "completed", reason, set,
                       reference_keys({&completed_with}));
}

// Recall and cancel differ only in these.
struct withdrawal {
  const char* status;                      // the new status
  std::vector<std::string> from;           // statuses it may be done from
  const char* verb;                        // "Service request in status {s} cannot be <verb>"
  const json_schema::schema& (*schema)();  // of the signed content
  const char* sms;                         // the SMS text before the requisition number
};

// The stored request and the signed content must agree on everything but what the action
// changes. Null fields count as absent (JSON producers differ on emitting them).
json comparable(const json& doc) {
  json out = json::object();
  auto visible = public_doc(doc);
  for (auto& [key, value] : visible.items()) {
    bool changed = key == "status_reason" || key == "explanatory_letter" || key == "inserted_at" ||
                   key == "updated_at";
    if (!changed && !value.is_null()) out[key] = value;
  }
  return out;
}

std::optional<bus::message> patient_sms(view& v, const std::string& patient_id,
                                        const std::string& body) {
  auto p = v.get_person(patient_id);
  if (!p) return std::nullopt;
  auto phone = otp_phone(current_auth_method(*p));
  if (!phone) return std::nullopt;
  return sms_message(patient_id, *phone, body);
}

effects withdraw(const command& c, view& v, const withdrawal& w) {
  auto content = decode_signed_data(c.body);
  if (!content) return job_failure(content.err());
  auto vs = w.schema().validate(*content);
  if (vs.empty())
    vs = one_of_violations(*content, "$", {"occurrence_date_time", "occurrence_period"}, false);
  if (!vs.empty()) return unprocessable(vs);
  auto t = find_target(c, v);
  if (!t) return not_found(not_found_text(path_param(c.params, "id")));
  auto status = text(t->doc, "status");
  if (std::find(w.from.begin(), w.from.end(), status) == w.from.end())
    return conflict("Service request in status " + status + " cannot be " + w.verb);
  if (comparable(*content) != comparable(t->doc))
    return unprocessable("$.signed_data",
                         "Signed content doesn't match with previously created service request");
  // The reference's Drfo check without its signature part (signature-off mode, see create).
  auto requester = reference_id(field(t->doc, "requester_employee"));
  if (!employee_of_user(v, c.user_id, c.client_id, requester))
    return conflict("Employees related to this party_id not in current MSP");
  auto& reason = (*content)["status_reason"];
  json set = {{"status_reason", reason}};
  if (content->contains("explanatory_letter"))
    set["explanatory_letter"] = (*content)["explanatory_letter"];
  auto requisition = text(t->doc, "requisition");
  auto patient_id = t->patient_id;
  auto e = change_status(c, std::move(*t), w.status, reason, set);
  if (auto sms = patient_sms(v, patient_id, w.sms + requisition + "."))
    e.publish.push_back(std::move(*sms));
  return e;
}

const withdrawal recall_action{
    "recalled", {"active"}, "recalled", &compiled<recall_content>, "Ваше направлення відкликано: "};
const withdrawal cancel_action{"entered_in_error",
                               {"active", "completed"},
                               "cancelled",
                               &compiled<cancel_content>,
                               "Ваше направлення скасовано: "};

effects close(const command& c, view& v) {
  auto t = find_target(c, v);
  auto id = path_param(c.params, "id");
  if (!t) return not_found("Service request " + id + " was not found");
  auto status = text(t->doc, "status");
  if (status != "active")
    return conflict("Service request with status " + status + " can't be closed");
  auto reason = field(t->doc, "status_reason");
  return change_status(c, std::move(*t), "completed", reason);
}

// -- request-time checks -------------------------------------------------------------------------

std::optional<error> body_errors(const json_schema::schema& schema, const json& body) {
  auto vs = schema.validate(body);
  if (vs.empty()) return std::nullopt;
  return request_invalid(vs);
}

// The patient whose partition a job on an existing service request goes to: the URL's patient
// when the route has one (the request must be that patient's), else the request's own.
result<accepted> existing(const request& r, view& v, bool patient_scoped_route) {
  auto id = path_param(r.params, "id");
  if (patient_scoped_route) {
    if (!v.exists(kind::service_request, r.patient_id, id))
      return request_not_found(not_found_text(id));
    return accepted{r.patient_id};
  }
  auto found = v.find(kind::service_request, id);
  if (!found) return request_not_found(not_found_text(id));
  return accepted{found->first};
}

}  // namespace

// -- public --------------------------------------------------------------------------------------

bool service_request_expired(const json& sr, int64_t now_ms) {
  auto at = clock::parse_iso8601(text(sr, "expiration_date"));
  return at && *at < now_ms;
}

bus::message service_request_status_event(const std::string& id, const std::string& status,
                                          const std::string& changed_by, int64_t now_ms) {
  json value = {{"event_type", "StatusChangeEvent"},
                {"entity_type", "ServiceRequest"},
                {"entity_id", id},
                {"properties", {{"status", {{"new_value", status}}}}},
                {"event_time", timestamp(now_ms)},
                {"changed_by", changed_by}};
  return {event_manager_topic, id, value.dump(), {}, std::nullopt};
}

std::vector<entity_write> expire_service_requests(
    const std::vector<std::pair<std::string, json>>& active_srs, int64_t now_ms,
    const std::string& actor) {
  const json reason = {
      {"coding", json::array({{{"system", "eHealth/service_request_cancel_reasons"},
                               {"code", "autoexpired"}}})}};
  std::vector<entity_write> out;
  for (auto& [patient_id, doc] : active_srs) {
    auto id = text(doc, "id");
    if (id.empty() || text(doc, "status") != "active") continue;
    if (!service_request_expired(doc, now_ms)) continue;
    json expired = doc;
    expired["status_reason"] = reason;
    set_status(expired, "recalled", reason, now_ms, actor);
    out.push_back({kind::service_request, patient_id, id, std::move(expired)});
  }
  return out;
}

effects handle_service_request_job(const command& c, view& v) {
  switch (c.type) {
    case job_type::service_request_create:
      return create(c, v);
    case job_type::service_request_use:
      return use(c, v);
    case job_type::service_request_release:
      return release(c, v);
    case job_type::service_request_process:
      return process(c, v);
    case job_type::service_request_complete:
      return complete(c, v);
    case job_type::service_request_recall:
      return withdraw(c, v, recall_action);
    case job_type::service_request_cancel:
      return withdraw(c, v, cancel_action);
    case job_type::service_request_close:
      return close(c, v);
    default:
      return internal_error("not a service request job");
  }
}

result<accepted> check_service_request_request(const request& r, view& v) {
  switch (r.type) {
    case job_type::service_request_create:
    case job_type::service_request_recall:
    case job_type::service_request_cancel:
    case job_type::service_request_close: {
      if (auto e = check_patient(r.patient_id, v)) return *e;
      if (r.type != job_type::service_request_close)
        if (auto e = body_errors(signed_data_schema(), r.body)) return *e;
      if (r.type == job_type::service_request_create) return accepted{r.patient_id};
      return existing(r, v, true);
    }
    case job_type::service_request_use:
      if (auto e = body_errors(compiled<use_body>(), r.body)) return *e;
      return existing(r, v, false);
    case job_type::service_request_complete:
      if (auto e = body_errors(compiled<complete_body>(), r.body)) return *e;
      return existing(r, v, false);
    case job_type::service_request_release:
    case job_type::service_request_process:
      return existing(r, v, false);
    default:
      return error::internal("not a service request job");
  }
}

}  // namespace medflow::flows::medical_events
