// A JSON Schema (draft-04 subset) validator for request bodies: type, properties, required,
// additionalProperties, enum, const-like single enums, pattern, format (date, date-time, uuid,
// email), minLength/maxLength, minimum/maximum, items, minItems/maxItems, uniqueItems, oneOf,
// anyOf, allOf, not, $ref to "#/definitions/..." . Violations come back with a JSONPath-like
// entry ("$.period.end", "$.items[0].id") and a rule name, as eHealth's validation errors do.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace medflow::json_schema {

struct violation {
  std::string entry;        // "$.period.end"
  std::string rule;         // required, cast, inclusion, format, date, datetime, length, number,
                            // schema_does_not_allow_additional_properties, schemata, invalid...
  std::string description;  // human text, e.g. "required property name was not present"
  nlohmann::json params;    // rule parameters ([] when none)
};

class schema {
 public:
  // Compiles a schema document; throws std::invalid_argument naming what it cannot handle.
  static schema compile(const nlohmann::json& doc);
  std::vector<violation> validate(const nlohmann::json& instance) const;

 private:
  struct impl;
  std::shared_ptr<const impl> impl_;
};

}  // namespace medflow::json_schema
