// Episodes: create, update, close and cancel (reference: ME core/patients/episodes/producer.ex,
// consumer.ex, core/patients/episode.ex). Requests are checked in the reference's order (patient,
// target episode, schema); jobs apply the reference's consumer rules and store the episode in
// the reference's episode show format.
#include "flows/medical_events/package_content.hpp"

#include <algorithm>

namespace medflow::flows::medical_events {

namespace {

const char* const status_active = "active";
const char* const status_closed = "closed";
const char* const status_entered_in_error = "entered_in_error";

const json_schema::schema& request_schema(job_type t) {
  switch (t) {
    case job_type::episode_update:
      return episode_update_schema();
    case job_type::episode_close:
      return episode_close_schema();
    case job_type::episode_cancel:
      return episode_cancel_schema();
    default:
      return episode_create_schema();
  }
}

// The care manager rule of the reference's employee changeset: an approved doctor of the client.
std::optional<std::string> care_manager_error(const std::string& employee_id,
                                              const std::string& client_id, view& v) {
  auto e = v.get_employee(employee_id);
  if (!e) return "Employee with such ID is not found";
  if (e->employee_type != "DOCTOR") return "Employee submitted as a care_manager is not a doctor";
  if (e->status != "APPROVED") return "Doctor submitted as a care_manager is not active";
  if (e->legal_entity_id != client_id)
    return "Employee " + employee_id + " doesn't belong to your legal entity";
  return std::nullopt;
}

std::string managing_organization_of(const json& episode) {
  return reference_id(field(episode, "managing_organization"));
}

json status_entry(const json& episode, const command& c) {
  json entry = {{"status", field(episode, "status")},
                {"inserted_at", timestamp(c.now_ms)},
                {"inserted_by", c.user_id}};
  const json& reason = field(episode, "status_reason");
  if (!reason.is_null()) entry["status_reason"] = reason;
  return entry;
}

// Ends a job that wrote `after` (`before` is null for a new episode).
effects saved(const command& c, const json& before, json after) {
  auto e =
      processed_with_links(json::array({link(kind::episode, c.patient_id, text(after, "id"))}));
  if (before.is_null())
    record_created(e, kind::episode, c.patient_id, std::move(after));
  else
    record_updated(e, kind::episode, c.patient_id, before, std::move(after));
  return e;
}

effects create_episode(const command& c, view& v) {
  const json& b = c.body;
  violations vs;
  if (auto err = managing_organization_error(managing_organization_of(b), c.client_id, v))
    vs.push_back(invalid("$.managing_organization.identifier.value", *err));
  if (auto err = care_manager_error(reference_id(field(b, "care_manager")), c.client_id, v))
    vs.push_back(invalid("$.care_manager.identifier.value", *err));
  if (!vs.empty()) return unprocessable(vs);
  // Ids are unique across patients: the store keys entities by kind and id.
  if (v.find(kind::episode, text(b, "id")))
    return unprocessable("$.id", "Episode with such id already exists");

  json episode = {
      {"id", field(b, "id")},
      {"name", field(b, "name")},
      {"status", field(b, "status")},
      {"type", field(b, "type")},
      {"period", field(b, "period")},
      {"managing_organization", field(b, "managing_organization")},
      {"care_manager", field(b, "care_manager")},
      {"status_reason", nullptr},
      {"closing_summary", nullptr},
      {"explanatory_letter", nullptr},
      {"current_diagnoses", json::array()},
      {"diagnoses_history", json::array()},
  };
  episode["status_history"] = json::array({status_entry(episode, c)});
  return saved(c, nullptr, stamped_new(std::move(episode), c));
}

// Update. The reference lets any legal entity rename another's episode (only a new care manager
// is checked); medflow requires the managing organization, as close and cancel do.
effects update_episode(const command& c, view& v, const json& episode) {
  auto status = text(episode, "status");
  if (status != status_active)
    return conflict("Episode in status " + status + " can not be updated");
  if (managing_organization_of(episode) != c.client_id) return conflict(foreign_organization);
  const json& care_manager = field(c.body, "care_manager");
  if (!care_manager.is_null())
    if (auto err = care_manager_error(reference_id(care_manager), c.client_id, v))
      return unprocessable("$.care_manager.identifier.value", *err);

  json after = episode;
  if (c.body.contains("name")) after["name"] = field(c.body, "name");
  if (!care_manager.is_null()) after["care_manager"] = care_manager;
  stamp_updated(after, c);
  return saved(c, episode, std::move(after));
}

effects close_episode(const command& c, const json& episode) {
  auto status = text(episode, "status");
  if (status != status_active)
    return conflict("Episode in status " + status + " can not be closed");
  if (managing_organization_of(episode) != c.client_id) return conflict(foreign_organization);
  auto start = text(field(episode, "period"), "start").substr(0, 10);
  auto end = text(field(c.body, "period"), "end").substr(0, 10);
  if (start > end)
    return unprocessable("$.period.end", "End date must be greater or equal than start date");

  json after = episode;
  after["status"] = status_closed;
  after["status_reason"] = field(c.body, "status_reason");
  if (c.body.contains("closing_summary"))
    after["closing_summary"] = field(c.body, "closing_summary");
  after["period"]["end"] = end;
  after["status_history"].push_back(status_entry(after, c));
  stamp_updated(after, c);
  return saved(c, episode, std::move(after));
}

bool has_live_encounters(const command& c, view& v, const std::string& episode_id) {
  auto encounters = v.list(kind::encounter, c.patient_id);
  return std::any_of(encounters.begin(), encounters.end(), [&](const json& e) {
    return reference_id(field(e, "episode")) == episode_id &&
           text(e, "status") != status_entered_in_error;
  });
}

effects cancel_episode(const command& c, view& v, const json& episode) {
  auto status = text(episode, "status");
  if (status != status_active && status != status_closed)
    return conflict("Episode in status " + status + " can not be canceled");
  if (managing_organization_of(episode) != c.client_id) return conflict(foreign_organization);
  if (has_live_encounters(c, v, text(episode, "id")))
    return conflict("Episode can not be canceled while it has not canceled encounters");

  json after = episode;
  after["status"] = status_entered_in_error;
  after["status_reason"] = field(c.body, "status_reason");
  if (c.body.contains("explanatory_letter"))
    after["explanatory_letter"] = field(c.body, "explanatory_letter");
  after["status_history"].push_back(status_entry(after, c));
  stamp_updated(after, c);
  return saved(c, episode, std::move(after));
}

}  // namespace

result<accepted> check_episode_request(const request& r, view& v) {
  if (auto err = check_patient(r.patient_id, v)) return *err;
  if (r.type != job_type::episode_create &&
      !v.exists(kind::episode, r.patient_id, text(r.params, "id")))
    return request_not_found("Episode is not found");
  auto vs = request_schema(r.type).validate(r.body);
  if (!vs.empty()) return request_invalid(vs);
  return accepted{r.patient_id};
}

effects handle_episode_job(const command& c, view& v) {
  if (c.type == job_type::episode_create) return create_episode(c, v);
  auto episode = v.get(kind::episode, c.patient_id, text(c.params, "id"));
  if (!episode) return not_found("Failed to get episode");
  switch (c.type) {
    case job_type::episode_update:
      return update_episode(c, v, *episode);
    case job_type::episode_close:
      return close_episode(c, *episode);
    case job_type::episode_cancel:
      return cancel_episode(c, v, *episode);
    default:
      return internal_error(std::string("not an episode job: ") + wire_name(c.type));
  }
}

}  // namespace medflow::flows::medical_events
