// Approval jobs and verify (ME:core/approvals/producer.ex, consumer.ex, approvals.ex), with the
// reference's checks, order and texts. medflow has no OTP service: the code is derived from
// the job's nonce (handlers stay pure), only its hash is stored (field
// "_verification_code_hash", internal, never shown to clients) and the SMS carrying it is
// published with the job's transaction. Changes from the reference:
// - resend and verify only act on an approval of the URL's patient (resend looked approvals up
//   by id alone); verify answers 403 for another patient's approval before looking at status,
//   so it tells nothing about other patients' approvals;
// - a service request of another patient counts as not found on create.
// Resource changes name references "<kind>/<id>": granted resources ("episode/…",
// "diagnostic_report/…") and the reason ("service_request/…").
#include "flows/medical_events/approvals.hpp"

#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "flows/medical_events/common.hpp"
#include "flows/medical_events/schemas.hpp"
#include "flows/medical_events/service_requests.hpp"

#include <cstdio>

namespace medflow::flows::medical_events {

namespace {

// The reference's approval_create.json, with its one defect fixed: "resources" described its
// items under "properties" (which an array ignores); here they are "items".
json create_body() {
  using namespace schemas;
  return object_schema(
      {{"resources",
        array_of(resource_reference({"episode_of_care", "diagnostic_report"}), true)},
       {"service_request", resource_reference({"service_request"})},
       {"granted_to", resource_reference({"employee"})},
       {"access_level", string_enum({"read"})}},
      {"granted_to", "access_level"});
}

// -- OTP ---------------------------------------------------------------------------------------

// A 4-digit code derived from the command (its job id and nonce): random per job, yet the
// handler stays a pure function of its command.
std::string otp_code(const command& c) {
  auto h = crypto::sha256_hex("otp:" + c.job_id + ":" + c.nonce);
  char code[8];
  std::snprintf(code, sizeof code, "%04lu", std::stoul(h.substr(0, 8), nullptr, 16) % 10000);
  return code;
}

// Salted with the approval id so equal codes of different approvals hash differently.
std::string code_hash(const std::string& approval_id, const std::string& code) {
  return crypto::sha256_hex(approval_id + ":" + code);
}

std::string otp_sms(const std::string& code) {
  return "Код підтвердження доступу до ваших медичних даних: " + code;
}

// Sends a fresh code when the person's current method is OTP: its hash goes into `approval`.
void send_code(const command& c, const person& p, json& approval, effects& e) {
  auto phone = otp_phone(current_auth_method(p));
  if (!phone) return;
  auto code = otp_code(c);
  approval["_verification_code_hash"] = code_hash(approval["id"].get<std::string>(), code);
  e.publish.push_back(sms_message(c.patient_id, *phone, otp_sms(code)));
}

// The phone as the reference shows it: "+380931234585" -> "+38093*****85".
json masked(json method) {
  auto phone = otp_phone(method);
  if (!phone || phone->size() <= 8) return method;
  method["phone_number"] =
      phone->substr(0, 6) + std::string(phone->size() - 8, '*') + phone->substr(phone->size() - 2);
  return method;
}

// -- create ------------------------------------------------------------------------------------

// The permitted resources of the service request the body names: it must be the patient's,
// active, unexpired and permit something. A failure is the job's outcome.
std::optional<effects> service_request_resources(const command& c, view& v, json& resources) {
  auto id = reference_id(field(c.body, "service_request"));
  auto sr = v.get(kind::service_request, c.patient_id, id);
  if (!sr) return conflict("Service request is not found");
  if (text(*sr, "status") != "active") return conflict("Service request should be active");
  if (service_request_expired(*sr, c.now_ms))
    return unprocessable("$.service_request", "Service request is expired");
  auto& permitted = field(*sr, "permitted_resources");
  if (!permitted.is_array() || permitted.empty())
    return conflict("Service request does not contain resources references");
  resources = permitted;
  return std::nullopt;
}

violations granted_to_violations(const command& c, view& v) {
  violations out;
  auto id = reference_id(field(c.body, "granted_to"));
  auto path = "$.granted_to.identifier.value";
  auto e = v.get_employee(id);
  if (!e)
    out.push_back(invalid(path, "Employee with such ID is not found"));
  else if (e->employee_type != "DOCTOR" || e->status != "APPROVED")
    out.push_back(invalid(path, "Employee is not an active doctor"));
  else if (e->legal_entity_id != c.client_id)
    out.push_back(invalid(path, "Employee " + id + " doesn't belong to your legal entity"));
  if (!employee_of_user(v, c.user_id, c.client_id, id))
    out.push_back(invalid(path, "Employee does not related to user"));
  return out;
}

json new_approval(const command& c, const std::string& id, const json& resources,
                  const json& auth_method) {
  return {{"id", id},
          {"status", "new"},
          {"access_level", field(c.body, "access_level")},
          {"granted_resources", resources},
          {"granted_to", field(c.body, "granted_to")},
          {"granted_by", reference_to("patient", c.patient_id)},
          {"reason", field(c.body, "service_request")},
          {"urgent", {{"authentication_method_current", masked(auth_method)}}},
          {"expires_at", timestamp(c.now_ms + approval_expiration_minutes * 60000)},
          {"inserted_at", timestamp(c.now_ms)},
          {"updated_at", timestamp(c.now_ms)},
          {"inserted_by", c.user_id},
          {"updated_by", c.user_id}};
}

effects create(const command& c, view& v) {
  json resources = field(c.body, "resources");
  if (!field(c.body, "service_request").is_null())
    if (auto failure = service_request_resources(c, v, resources)) return *failure;
  auto p = v.get_person(c.patient_id);
  if (!p) return not_found("Person is not found");
  auto vs = granted_to_violations(c, v);
  append(vs, reference_violations(v, c.patient_id, resources, "$.granted_resources", false));
  if (!vs.empty()) return unprocessable(vs);
  auto id = derived_uuid(c, "approval");
  auto approval = new_approval(c, id, resources, current_auth_method(*p));
  effects e;
  send_code(c, *p, approval, e);
  e.result = {200, {{"response_data", public_doc(approval)}}};
  e.writes.push_back({kind::approval, c.patient_id, id, approval});
  // The reason (a service request) is never one of the granted resources: no key repeats.
  auto references = reference_keys({&approval["granted_resources"], &approval["reason"]});
  e.changes.push_back(
      {kind::approval, c.patient_id, id, change_kind::created, std::move(references), {}});
  return e;
}

// -- resend ------------------------------------------------------------------------------------

effects resend(const command& c, view& v) {
  auto id = path_param(c.params, "id");
  auto approval = v.get(kind::approval, c.patient_id, id);
  if (!approval) return not_found("Approval with id '" + id + "' is not found");
  auto status = text(*approval, "status");
  if (status != "new") return conflict("Approval in status " + status + " can not be resent");
  auto p = v.get_person(c.patient_id);
  if (!p) return not_found("Person is not found");
  auto e = processed_with_data("");
  send_code(c, *p, *approval, e);
  if (e.publish.empty()) return e;  // not an OTP person: nothing to send, nothing changes
  (*approval)["updated_at"] = timestamp(c.now_ms);
  (*approval)["updated_by"] = c.user_id;
  e.writes.push_back({kind::approval, c.patient_id, id, *approval});
  e.changes.push_back({kind::approval, c.patient_id, id, change_kind::updated, {}, {}});
  return e;
}

// -- verify ------------------------------------------------------------------------------------

// The code of a verify body: a string, or a number read as its 4 digits ("code": 123 is
// "0123"); empty when absent.
std::string code_of(const json& body) {
  auto& code = field(body, "code");
  if (code.is_string()) return code.get<std::string>();
  if (code.is_number_unsigned() || (code.is_number_integer() && code.get<int64_t>() >= 0)) {
    char digits[24];
    std::snprintf(digits, sizeof digits, "%04lld", static_cast<long long>(code.get<int64_t>()));
    return digits;
  }
  return {};
}

}  // namespace

effects handle_approval_job(const command& c, view& v) {
  switch (c.type) {
    case job_type::approval_create:
      return create(c, v);
    case job_type::approval_resend:
      return resend(c, v);
    default:
      return internal_error("not an approval job");
  }
}

result<accepted> check_approval_request(const request& r, view& v) {
  if (auto e = check_patient(r.patient_id, v)) return *e;
  if (r.type == job_type::approval_create) {
    auto vs = schemas::compiled<create_body>().validate(r.body);
    if (vs.empty()) vs = one_of_violations(r.body, "$", {"resources", "service_request"}, true);
    if (!vs.empty()) return request_invalid(vs);
    return accepted{r.patient_id};
  }
  auto id = path_param(r.params, "id");
  if (!v.exists(kind::approval, r.patient_id, id))
    return request_not_found("Approval with id '" + id + "' is not found");
  return accepted{r.patient_id};
}

// A person without an OTP method got no code, so their approval (no stored hash) is verified
// without one, as the reference's verify_auth accepted any non-OTP method.
result<verify_result> verify_approval(const std::string& patient_id, const std::string& approval_id,
                                      const json& body, const std::string& user_id,
                                      const std::string& client_id, int64_t now_ms, view& v) {
  if (auto e = check_patient(patient_id, v)) return *e;
  auto found = v.find(kind::approval, approval_id);
  if (!found) return request_not_found("Approval with id '" + approval_id + "' is not found");
  if (found->first != patient_id)
    return error{403, "forbidden", "Access denied - request to other patient's approval", {}};
  auto approval = std::move(found->second);
  auto status = text(approval, "status");
  if (status != "new")
    return request_conflict("Approval in status " + status + " can not be verified");
  auto& hash = field(approval, "_verification_code_hash");
  if (hash.is_string() && code_hash(approval_id, code_of(body)) != hash.get<std::string>())
    return request_invalid("$.code", "Invalid verification code");
  approval.erase("_verification_code_hash");  // a code confirms once
  approval["status"] = "active";
  approval["updated_at"] = timestamp(now_ms);
  approval["updated_by"] = user_id;
  verify_result r;
  r.approval = public_doc(approval);
  r.writes.push_back({kind::approval, patient_id, approval_id, approval});
  r.changes.push_back({kind::approval, patient_id, approval_id, change_kind::updated, {}, {}});
  return r;
}

std::vector<std::pair<std::string, std::string>> expired_new_approvals(
    const std::vector<std::pair<std::string, json>>& approvals, int64_t now_ms, int64_t ttl_hours) {
  std::vector<std::pair<std::string, std::string>> out;
  int64_t cutoff = now_ms - ttl_hours * 3600000;
  for (auto& [patient_id, doc] : approvals) {
    auto& id = field(doc, "id");
    auto& inserted_at = field(doc, "inserted_at");
    if (!id.is_string() || !inserted_at.is_string() || text(doc, "status") != "new") continue;
    auto at = clock::parse_iso8601(inserted_at.get<std::string>());
    if (at && *at < cutoff) out.emplace_back(patient_id, id.get<std::string>());
  }
  return out;
}

}  // namespace medflow::flows::medical_events
