// Request schemas of the episode routes (create, update, close, cancel), written after the
// reference's draft-04 schemas: same fields, required lists, enums and formats.
#include "flows/medical_events/package_content.hpp"
#include "flows/medical_events/schemas.hpp"

namespace medflow::flows::medical_events {

namespace {

using namespace schemas;

// The reference's schemas refer to these definitions, so every episode schema carries them.
json with_definitions(json schema) {
  schema["definitions"] = {{"uuid", uuid()},
                           {"legal_entity_reference", resource_reference({"legal_entity"})},
                           {"employee_reference", resource_reference({"employee"})},
                           {"closing_reason", codeable_concept("eHealth/episode_closing_reasons",
                                                               string_type(), false, false)},
                           {"cancellation_reason", codeable_concept("eHealth/cancellation_reasons",
                                                                    string_type(), false, false)}};
  return schema;
}

json episode_create() {
  return with_definitions(object_schema(
      {{"id", ref("uuid")},
       {"type", coding(string_enum({"eHealth/episode_types"}), string_type())},
       {"status", string_enum({"active"})},
       {"name", non_empty_string()},
       {"managing_organization", ref("legal_entity_reference")},
       {"period", object_schema({{"start", date()}}, {"start"})},
       {"care_manager", ref("employee_reference")}},
      {"id", "type", "status", "name", "managing_organization", "period", "care_manager"}));
}

json episode_update() {
  auto schema = object_schema(
      {{"name", non_empty_string()}, {"care_manager", ref("employee_reference")}}, {});
  schema["anyOf"] = json::array({{{"required", {"name"}}}, {{"required", {"care_manager"}}}});
  return with_definitions(std::move(schema));
}

json episode_close() {
  return with_definitions(object_schema({{"period", object_schema({{"end", date()}}, {"end"})},
                                         {"closing_summary", string_type()},
                                         {"status_reason", ref("closing_reason")}},
                                        {"period", "status_reason"}));
}

json episode_cancel() {
  return with_definitions(object_schema(
      {{"explanatory_letter", string_type()}, {"status_reason", ref("cancellation_reason")}},
      {"status_reason"}));
}

}  // namespace

const json_schema::schema& episode_create_schema() {
  return compiled<episode_create>();
}

const json_schema::schema& episode_update_schema() {
  return compiled<episode_update>();
}

const json_schema::schema& episode_close_schema() {
  return compiled<episode_close>();
}

const json_schema::schema& episode_cancel_schema() {
  return compiled<episode_cancel>();
}

}  // namespace medflow::flows::medical_events
