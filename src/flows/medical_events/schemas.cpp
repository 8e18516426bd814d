#include "flows/medical_events/schemas.hpp"

namespace medflow::flows::medical_events::schemas {

json ref(const char* definition) {
  return {{"$ref", std::string("#/definitions/") + definition}};
}

json string_type() {
  return {{"type", "string"}};
}

json non_empty_string() {
  return {{"type", "string"}, {"minLength", 1}};
}

json text_type(bool nullable) {
  if (nullable) return {{"type", json::array({"string", "null"})}};
  return string_type();
}

json string_enum(const std::vector<std::string>& values) {
  return {{"type", "string"}, {"enum", values}};
}

json date() {
  return {{"type", "string"}, {"format", "date"}};
}

json date_time() {
  return {{"type", "string"}, {"format", "date-time"}};
}

json uuid() {
  return {{"type", "string"},
          {"pattern", "^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"}};
}

json any_object() {
  return {{"type", "object"}};
}

json nullable(json schema) {
  schema["type"] = json::array({"null", schema["type"]});
  return schema;
}

json array_of(json items, bool non_empty) {
  json a = {{"type", "array"}, {"items", std::move(items)}};
  if (non_empty) a["minItems"] = 1;
  return a;
}

json object_schema(json properties, std::vector<std::string> required) {
  json o = {
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = std::move(required);
  return o;
}

json coding(json system, json code, bool system_required) {
  return object_schema({{"system", std::move(system)}, {"code", std::move(code)}},
                       system_required ? std::vector<std::string>{"code", "system"}
                                       : std::vector<std::string>{"code"});
}

json concept_of(json codings, json text, bool coding_required) {
  std::vector<std::string> required;
  if (coding_required) required.push_back("coding");
  return object_schema({{"coding", std::move(codings)}, {"text", std::move(text)}},
                       std::move(required));
}

json codeable_concept(const std::string& system, json code, bool nullable_text,
                      bool system_required) {
  auto one = coding(string_enum({system}), std::move(code), system_required);
  return concept_of(array_of(std::move(one), true), text_type(nullable_text));
}

json identifier(json type, bool type_required) {
  return object_schema({{"type", std::move(type)}, {"value", string_type()}},
                       type_required ? std::vector<std::string>{"type", "value"}
                                     : std::vector<std::string>{"value"});
}

json reference(json identifier) {
  return object_schema({{"identifier", std::move(identifier)}}, {"identifier"});
}

json resource_reference(const std::vector<std::string>& codes, bool stored_view) {
  json code = codes.empty() ? string_type() : string_enum(codes);
  auto r = reference(
      identifier(codeable_concept("eHealth/resources", std::move(code), stored_view), false));
  if (stored_view) r["properties"]["display_value"] = text_type(true);
  return r;
}

json period(json point, std::vector<std::string> required) {
  return object_schema({{"start", point}, {"end", point}}, std::move(required));
}

namespace {

json signed_data_body() {
  return object_schema({{"signed_data", non_empty_string()}}, {"signed_data"});
}

}  // namespace

const json_schema::schema& signed_data_schema() {
  return compiled<signed_data_body>();
}

}  // namespace medflow::flows::medical_events::schemas
