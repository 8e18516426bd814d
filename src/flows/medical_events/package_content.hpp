// What the episode and package handlers share: their request schemas, how a document is stamped
// and recorded (entity write + resource change), the references a document holds, the
// managing-organization rule, and the comparison of signed content with stored documents.
#pragma once

#include "flows/medical_events/common.hpp"

#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::medical_events {

// -- schemas (episode_schemas.cpp, package_schemas.cpp), each compiled once -----------------------

const json_schema::schema& episode_create_schema();
const json_schema::schema& episode_update_schema();
const json_schema::schema& episode_close_schema();
const json_schema::schema& episode_cancel_schema();

const json_schema::schema& package_create_request_schema();  // {signed_data, visit?}
const json_schema::schema& package_create_content_schema();
const json_schema::schema& package_cancel_content_schema();
const json_schema::schema& diagnostic_report_package_create_content_schema();
const json_schema::schema& diagnostic_report_package_cancel_content_schema();

// -- documents ------------------------------------------------------------------------------------

// Adds inserted_at/updated_at (the job's time) and inserted_by/updated_by (the acting user).
json stamped_new(json doc, const command& c);
// Sets updated_at/updated_by.
void stamp_updated(json& doc, const command& c);

// The references a stored document holds, as "<kind>/<id>" strings, in a fixed order per kind.
// <kind> is kind_name() for medflow's own entities ("episode/…", "encounter/…", "visit/…",
// "condition/…", "diagnostic_report/…") and the eHealth resource name for what lives in other
// registries: "legal_entity/…" (managing organizations), "employee/…" (care managers,
// performers, asserters, recorders), "division/…", "service_request/…" (referrals, based_on).
std::vector<std::string> references_of(kind k, const json& doc);

// Records a new document: its write and a "created" change adding all its references.
void record_created(effects& e, kind k, const std::string& patient_id, json doc);
// Records a changed document: its write and an "updated" change with the references it gained
// and lost.
void record_updated(effects& e, kind k, const std::string& patient_id, const json& before,
                    json after);

// -- rules shared by episodes and packages --------------------------------------------------------

// What a client hears about an episode or report of another legal entity.
inline constexpr const char* foreign_organization =
    "Managing_organization does not correspond to user's legal_entity";

// eHealth's managing-organization rule: `value` must be the client's legal entity, and that legal
// entity ACTIVE. Returns the description of the violated rule.
std::optional<std::string> managing_organization_error(const std::string& value,
                                                       const std::string& client_id, view& v);

// The first path ("$.encounter.date", "$.conditions[0].code.coding[0].code") where submitted
// signed content differs from the stored document, or nullopt when they correspond. Statuses,
// display values, the cancellation fields and the server's stamps are not compared: a cancel
// changes exactly those. A missing stored document differs at `path` itself.
std::optional<std::string> first_difference(const json& submitted, const json& stored,
                                            const std::string& path);

}  // namespace medflow::flows::medical_events
