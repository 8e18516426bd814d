// Building blocks of the flow's request schemas (draft-04, after the reference's
// json_schemas): eHealth's shapes (codings, codeable concepts, identifiers, references to
// eHealth resources, periods) are written once here and assembled by episode_schemas.cpp,
// package_schemas.cpp, service_requests.cpp and approvals.cpp.
#pragma once

#include "flows/medical_events/domain.hpp"

#include <string>
#include <vector>

namespace medflow::flows::medical_events::schemas {

// {"$ref": "#/definitions/<definition>"}
json ref(const char* definition);

json string_type();             // {"type": "string"}
json non_empty_string();        // {"type": "string", "minLength": 1}
json text_type(bool nullable);  // free text: a string, or also null
json string_enum(const std::vector<std::string>& values);
json date();        // {"type": "string", "format": "date"}
json date_time();   // {"type": "string", "format": "date-time"}
json uuid();        // a lowercase UUID (versions 1 to 5)
json any_object();  // {"type": "object"}
// `schema` that also accepts null.
json nullable(json schema);
// An array of `items`, with at least one when `non_empty`.
json array_of(json items, bool non_empty);
// An object of exactly these properties; "required" is left out when `required` is empty.
json object_schema(json properties, std::vector<std::string> required);

// One coding: {"system", "code"}, both required unless `system_required` is false.
json coding(json system, json code, bool system_required = true);
// A codeable concept {"coding", "text"} over a schema of the codings list.
json concept_of(json codings, json text, bool coding_required = true);
// A codeable concept of one code system; `nullable_text` as stored documents have it.
json codeable_concept(const std::string& system, json code, bool nullable_text,
                      bool system_required = true);
// An identifier {"type": <type>, "value"}.
json identifier(json type, bool type_required);
// A reference {"identifier": <identifier>}.
json reference(json identifier);
// A reference to eHealth resources of the given types ({"identifier": {"type": {"coding":
// [{"system": "eHealth/resources", "code": <one of codes>}], "text"}, "value"}}); an empty
// `codes` allows any type. Stored views (what a client reads back and signs on recall and
// cancel) also carry display_value and null texts.
json resource_reference(const std::vector<std::string>& codes, bool stored_view = false);
// {"start", "end"} of `point` (a date-time or a $ref to one), with these required.
json period(json point, std::vector<std::string> required);

// The schema `Build` returns, compiled on first use.
template <json (*Build)()>
const json_schema::schema& compiled() {
  static const auto schema = json_schema::schema::compile(Build());
  return schema;
}

// The body of the jobs whose content is signed: {"signed_data": "<base64>"}.
const json_schema::schema& signed_data_schema();

}  // namespace medflow::flows::medical_events::schemas
