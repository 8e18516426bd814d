#include "flows/medical_events/domain.hpp"

#include "core/base64.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"

#include <array>
#include <map>

namespace medflow::flows::medical_events {

namespace {

// The groups of jobs (per-group files): each checks its requests and handles its jobs.
struct job_group {
  result<accepted> (*check)(const request& r, view& v);
  effects (*handle)(const command& c, view& v);
};

const job_group episodes{check_episode_request, handle_episode_job};
const job_group packages{check_package_request, handle_package_job};
const job_group service_requests{check_service_request_request, handle_service_request_job};
const job_group approvals{check_approval_request, handle_approval_job};

struct job_type_info {
  job_type type;
  const char* wire;
  const job_group* group;
};

const job_type_info job_types[] = {
    {job_type::episode_create, "episode_create_job", &episodes},
    {job_type::episode_update, "episode_update_job", &episodes},
    {job_type::episode_close, "episode_close_job", &episodes},
    {job_type::episode_cancel, "episode_cancel_job", &episodes},
    {job_type::package_create, "package_create_job", &packages},
    {job_type::package_cancel, "package_cancel_job", &packages},
    {job_type::diagnostic_report_package_create, "diagnostic_report_package_create_job",
     &packages},
    {job_type::diagnostic_report_package_cancel, "diagnostic_report_package_cancel_job",
     &packages},
    {job_type::service_request_create, "service_request_create_job", &service_requests},
    {job_type::service_request_use, "service_request_use_job", &service_requests},
    {job_type::service_request_release, "service_request_release_job", &service_requests},
    {job_type::service_request_process, "service_request_process_job", &service_requests},
    {job_type::service_request_complete, "service_request_complete_job", &service_requests},
    {job_type::service_request_recall, "service_request_recall_job", &service_requests},
    {job_type::service_request_cancel, "service_request_cancel_job", &service_requests},
    {job_type::service_request_close, "service_request_close_job", &service_requests},
    {job_type::approval_create, "approval_create_job", &approvals},
    {job_type::approval_resend, "approval_resend_job", &approvals},
};

// The group of a job type; null only for a value outside the enum.
const job_group* group_of(job_type t) {
  for (auto& j : job_types)
    if (j.type == t) return j.group;
  return nullptr;
}

struct kind_info {
  kind k;
  const char* name;
  const char* plural;
};

const kind_info kinds[] = {
    {kind::episode, "episode", "episodes"},
    {kind::encounter, "encounter", "encounters"},
    {kind::visit, "visit", "visits"},
    {kind::condition, "condition", "conditions"},
    {kind::observation, "observation", "observations"},
    {kind::immunization, "immunization", "immunizations"},
    {kind::allergy_intolerance, "allergy_intolerance", "allergy_intolerances"},
    {kind::risk_assessment, "risk_assessment", "risk_assessments"},
    {kind::device, "device", "devices"},
    {kind::medication_statement, "medication_statement", "medication_statements"},
    {kind::diagnostic_report, "diagnostic_report", "diagnostic_reports"},
    {kind::service_request, "service_request", "service_requests"},
    {kind::approval, "approval", "approvals"},
};

const char* validation_message =
    "Validation failed. You can find validators description at our API Manifest: "
    "http://docs.apimanifest.apiary.io/#introduction/interacting-with-api/errors.";

}  // namespace

const char* wire_name(job_type t) {
  for (auto& j : job_types)
    if (j.type == t) return j.wire;
  return "unknown_job";
}

std::optional<job_type> parse_job_type(std::string_view name) {
  for (auto& j : job_types)
    if (name == j.wire) return j.type;
  return std::nullopt;
}

const char* status_name(job_status s) {
  switch (s) {
    case job_status::pending: return "pending";
    case job_status::processed: return "processed";
    case job_status::failed: return "failed";
    case job_status::failed_with_error: return "failed_with_error";
  }
  return "unknown";
}

std::vector<std::string> kind_names() {
  std::vector<std::string> out;
  for (auto& k : kinds) out.emplace_back(k.name);
  return out;
}

const char* kind_name(kind k) {
  for (auto& i : kinds)
    if (i.k == k) return i.name;
  return "unknown";
}

const char* kind_plural(kind k) {
  for (auto& i : kinds)
    if (i.k == k) return i.plural;
  return "unknown";
}

std::optional<kind> parse_kind_name(std::string_view name) {
  for (auto& i : kinds)
    if (name == i.name) return i.k;
  return std::nullopt;
}

const char* change_name(change_kind c) {
  switch (c) {
    case change_kind::created: return "created";
    case change_kind::updated: return "updated";
    case change_kind::deleted: return "deleted";
  }
  return "unknown";
}

// -- outcomes ---------------------------------------------------------------------------------------

effects processed_with_links(json links) {
  effects e;
  e.result = {200, {{"links", std::move(links)}}};
  return e;
}

effects processed_with_data(json response_data) {
  effects e;
  e.result = {200, {{"response_data", std::move(response_data)}}};
  return e;
}

effects conflict(std::string message) {
  effects e;
  e.result = {409, std::move(message)};
  return e;
}

effects not_found(std::string message) {
  effects e;
  e.result = {404, std::move(message)};
  return e;
}

effects unprocessable(const std::vector<json_schema::violation>& vs) {
  effects e;
  e.result = {422, validation_body(vs)};
  return e;
}

effects unprocessable(const std::string& entry, const std::string& description,
                      const std::string& rule) {
  return unprocessable(std::vector<json_schema::violation>{{entry, rule, description, json::array()}});
}

effects internal_error(std::string message) {
  effects e;
  e.result = {500, std::move(message)};
  return e;
}

json link(kind k, const std::string& patient_id, const std::string& id) {
  return {{"entity", kind_name(k)},
          {"href", "/api/patients/" + patient_id + "/" + kind_plural(k) + "/" + id}};
}

json validation_body(const std::vector<json_schema::violation>& vs) {
  // One entry per path, its rules in the order found.
  json invalid = json::array();
  std::map<std::string, size_t> at;
  for (auto& v : vs) {
    auto it = at.find(v.entry);
    if (it == at.end()) {
      it = at.emplace(v.entry, invalid.size()).first;
      invalid.push_back({{"entry", v.entry}, {"entry_type", "json_data_property"}, {"rules", json::array()}});
    }
    invalid[it->second]["rules"].push_back(
        {{"description", v.description},
         {"params", v.params.is_null() ? json::array() : v.params},
         {"rule", v.rule}});
  }
  return {{"type", "validation_failed"}, {"message", validation_message}, {"invalid", invalid}};
}

error request_not_found(std::string message) { return error::not_found(std::move(message)); }

error request_conflict(std::string message) {
  return {409, "request_conflict", std::move(message), {}};
}

error request_invalid(const std::vector<json_schema::violation>& vs) {
  return {422, "validation_failed", validation_message, validation_body(vs)["invalid"]};
}

error request_invalid(const std::string& entry, const std::string& description,
                      const std::string& rule) {
  return request_invalid(std::vector<json_schema::violation>{{entry, rule, description, json::array()}});
}

std::optional<error> check_patient(const std::string& patient_id, view& v) {
  auto status = v.person_status(patient_id);
  if (!status) return request_not_found("Person is not found");
  if (*status != "active") return request_conflict("Person is not active");
  return std::nullopt;
}

result<json> decode_signed_data(const json& body) {
  auto fail = [] {
    return request_invalid("$.signed_data", "Invalid signed content: expected base64 of a JSON object",
                           "invalid");
  };
  if (!body.is_object() || !body.contains("signed_data") || !body["signed_data"].is_string())
    return fail();
  auto raw = base64::decode(body["signed_data"].get<std::string>());
  if (!raw) return fail();
  auto j = parse_json_limited(*raw);
  if (!j && !j.err().detail.is_null()) {
    return request_invalid("$.signed_data", "Invalid signed content: " + j.err().message,
                           "invalid");
  }
  if (!j || !j->is_object()) return fail();
  return std::move(*j);
}

std::string timestamp(int64_t ms) { return clock::iso8601_us(ms * 1000); }

std::string reference_id(const json& ref) {
  if (!ref.is_object()) return {};
  auto it = ref.find("identifier");
  if (it == ref.end() || !it->is_object()) return {};
  auto v = it->find("value");
  if (v == it->end() || !v->is_string()) return {};
  return v->get<std::string>();
}

// -- dispatch ---------------------------------------------------------------------------------------

effects handle(const command& c, view& v) {
  if (auto* group = group_of(c.type)) return group->handle(c, v);
  return internal_error("unknown job type");
}

result<accepted> check_request(const request& r, view& v) {
  if (auto* group = group_of(r.type)) return group->check(r, v);
  return error::internal("unknown job type");
}

}  // namespace medflow::flows::medical_events
