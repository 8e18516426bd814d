// Schemas of the package routes: the outer request bodies and the signed content of encounter
// and diagnostic report packages (create and cancel), written after the reference's draft-04
// schemas. Every entity keeps its top-level fields, required lists, statuses, dates and
// references; deep optional substructures (sampled data, ranges, ratios, reference ranges,
// vaccination protocols, stages, evidences, risk predictions and bases) are only typed as
// objects. The four content schemas share one set of entity definitions; the variants differ
// where the reference's differ (see the patch functions below).
#include "flows/medical_events/package_content.hpp"

#include <algorithm>

namespace medflow::flows::medical_events {

namespace {

const char* const entity_definitions = R"({
  "uuid": {
    "type": "string",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
  },
  "date_time": {"type": "string", "format": "date-time"},
  "object": {"type": "object"},
  "coding": {
    "type": "array",
    "minItems": 1,
    "items": {
      "type": "object",
      "properties": {"system": {"type": "string"}, "code": {"type": "string"}},
      "required": ["code", "system"],
      "additionalProperties": false
    }
  },
  "codeable_concept": {
    "type": "object",
    "properties": {"coding": {"$ref": "#/definitions/coding"}, "text": {"type": "string"}},
    "required": ["coding"],
    "additionalProperties": false
  },
  "optional_codeable_concept": {
    "type": "object",
    "properties": {"coding": {"$ref": "#/definitions/coding"}, "text": {"type": "string"}},
    "additionalProperties": false
  },
  "identifier": {
    "type": "object",
    "properties": {
      "type": {"$ref": "#/definitions/codeable_concept"},
      "value": {"type": "string"}
    },
    "required": ["value"],
    "additionalProperties": false
  },
  "typed_identifier": {
    "type": "object",
    "properties": {
      "type": {"$ref": "#/definitions/optional_codeable_concept"},
      "value": {"type": "string"}
    },
    "required": ["type", "value"],
    "additionalProperties": false
  },
  "reference": {
    "type": "object",
    "properties": {"identifier": {"$ref": "#/definitions/identifier"}},
    "required": ["identifier"],
    "additionalProperties": false
  },
  "typed_reference": {
    "type": "object",
    "properties": {"identifier": {"$ref": "#/definitions/typed_identifier"}},
    "required": ["identifier"],
    "additionalProperties": false
  },
  "executor": {
    "type": "object",
    "properties": {"text": {"type": "string"}, "reference": {"$ref": "#/definitions/reference"}},
    "additionalProperties": false
  },
  "period": {
    "type": "object",
    "properties": {
      "start": {"$ref": "#/definitions/date_time"},
      "end": {"$ref": "#/definitions/date_time"}
    },
    "required": ["start"],
    "additionalProperties": false
  },
  "closed_period": {
    "type": "object",
    "properties": {
      "start": {"$ref": "#/definitions/date_time"},
      "end": {"$ref": "#/definitions/date_time"}
    },
    "required": ["start", "end"],
    "additionalProperties": false
  },
  "quantity": {
    "type": "object",
    "properties": {
      "value": {"type": "number"},
      "comparator": {"type": "string", "enum": [">", ">=", "=", "<=", "<"]},
      "unit": {"type": "string"},
      "system": {"type": "string", "enum": ["eHealth/ucum/units"]},
      "code": {"type": "string"}
    },
    "required": ["value", "unit"],
    "additionalProperties": false
  },
  "concepts": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/codeable_concept"}},
  "visit": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "period": {"$ref": "#/definitions/closed_period"}
    },
    "required": ["id", "period"],
    "additionalProperties": false
  },
  "diagnosis": {
    "type": "object",
    "properties": {
      "condition": {"$ref": "#/definitions/reference"},
      "role": {"$ref": "#/definitions/codeable_concept"},
      "rank": {"type": "number", "maximum": 10}
    },
    "required": ["condition", "role"],
    "additionalProperties": false
  },
  "encounter": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "status": {"type": "string", "enum": ["finished"]},
      "episode": {"$ref": "#/definitions/reference"},
      "visit": {"$ref": "#/definitions/reference"},
      "class": {
        "type": "object",
        "properties": {
          "system": {"type": "string", "enum": ["eHealth/encounter_classes"]},
          "code": {"type": "string"}
        },
        "required": ["code", "system"],
        "additionalProperties": false
      },
      "type": {"$ref": "#/definitions/codeable_concept"},
      "incoming_referral": {"$ref": "#/definitions/reference"},
      "performer": {"$ref": "#/definitions/reference"},
      "reasons": {"$ref": "#/definitions/concepts"},
      "diagnoses": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/diagnosis"}},
      "actions": {"$ref": "#/definitions/concepts"},
      "date": {"$ref": "#/definitions/date_time"},
      "division": {"$ref": "#/definitions/reference"},
      "prescriptions": {"type": "string"},
      "supporting_info": {"type": "array", "items": {"$ref": "#/definitions/reference"}}
    },
    "required": ["id", "status", "episode", "visit", "class", "type", "date", "performer",
                 "reasons", "diagnoses", "actions"],
    "additionalProperties": false
  },
  "condition": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "primary_source": {"type": "boolean"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "asserter": {"$ref": "#/definitions/reference"},
      "asserted_date": {"$ref": "#/definitions/date_time"},
      "context": {"$ref": "#/definitions/reference"},
      "code": {"$ref": "#/definitions/codeable_concept"},
      "clinical_status": {"type": "string"},
      "verification_status": {"type": "string"},
      "severity": {"$ref": "#/definitions/codeable_concept"},
      "body_sites": {"$ref": "#/definitions/concepts"},
      "onset_date": {"$ref": "#/definitions/date_time"},
      "stage": {"$ref": "#/definitions/object"},
      "evidences": {"type": "array", "items": {"$ref": "#/definitions/object"}}
    },
    "required": ["id", "context", "code", "clinical_status", "verification_status", "onset_date"],
    "additionalProperties": false
  },
  "observation": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "primary_source": {"type": "boolean"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "performer": {"$ref": "#/definitions/reference"},
      "status": {"type": "string"},
      "context": {"$ref": "#/definitions/reference"},
      "diagnostic_report": {"$ref": "#/definitions/reference"},
      "based_on": {
        "type": "array", "minItems": 1, "maxItems": 1,
        "items": {"$ref": "#/definitions/typed_reference"}
      },
      "categories": {
        "type": "array", "minItems": 1, "maxItems": 1,
        "items": {"$ref": "#/definitions/codeable_concept"}
      },
      "code": {"$ref": "#/definitions/codeable_concept"},
      "effective_date_time": {"$ref": "#/definitions/date_time"},
      "effective_period": {"$ref": "#/definitions/closed_period"},
      "issued": {"$ref": "#/definitions/date_time"},
      "interpretation": {"$ref": "#/definitions/optional_codeable_concept"},
      "comment": {"type": "string"},
      "body_site": {"$ref": "#/definitions/optional_codeable_concept"},
      "method": {"$ref": "#/definitions/optional_codeable_concept"},
      "value_quantity": {"$ref": "#/definitions/quantity"},
      "value_codeable_concept": {"$ref": "#/definitions/codeable_concept"},
      "value_sampled_data": {"$ref": "#/definitions/object"},
      "value_string": {"type": "string"},
      "value_boolean": {"type": "boolean"},
      "value_range": {"$ref": "#/definitions/object"},
      "value_ratio": {"$ref": "#/definitions/object"},
      "value_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"},
      "value_date_time": {"$ref": "#/definitions/date_time"},
      "value_period": {"$ref": "#/definitions/period"},
      "reference_ranges": {"type": "array", "items": {"$ref": "#/definitions/object"}},
      "components": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/object"}},
      "reaction_on": {"$ref": "#/definitions/reference"}
    },
    "required": ["id", "status", "context", "categories", "code", "issued", "primary_source"],
    "additionalProperties": false
  },
  "immunization": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "status": {"type": "string"},
      "not_given": {"type": "boolean"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "vaccine_code": {"$ref": "#/definitions/codeable_concept"},
      "context": {"$ref": "#/definitions/reference"},
      "date": {"$ref": "#/definitions/date_time"},
      "performer": {"$ref": "#/definitions/reference"},
      "primary_source": {"type": "boolean"},
      "legal_entity": {"$ref": "#/definitions/reference"},
      "manufacturer": {"type": "string", "minLength": 1},
      "lot_number": {"type": "string"},
      "expiration_date": {"$ref": "#/definitions/date_time"},
      "site": {"$ref": "#/definitions/codeable_concept"},
      "route": {"$ref": "#/definitions/codeable_concept"},
      "dose_quantity": {"$ref": "#/definitions/quantity"},
      "explanation": {
        "type": "object",
        "properties": {
          "reasons": {"$ref": "#/definitions/concepts"},
          "reasons_not_given": {"$ref": "#/definitions/concepts"}
        },
        "additionalProperties": false
      },
      "vaccination_protocols": {
        "type": "array", "minItems": 1, "items": {"$ref": "#/definitions/object"}
      }
    },
    "required": ["id", "status", "not_given", "vaccine_code", "context", "date",
                 "primary_source"],
    "additionalProperties": false
  },
  "allergy_intolerance": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "clinical_status": {"type": "string", "minLength": 1},
      "verification_status": {"type": "string", "minLength": 1},
      "type": {"type": "string", "minLength": 1},
      "category": {"type": "string", "minLength": 1},
      "criticality": {"type": "string", "minLength": 1},
      "context": {"$ref": "#/definitions/reference"},
      "code": {"$ref": "#/definitions/codeable_concept"},
      "onset_date_time": {"$ref": "#/definitions/date_time"},
      "asserted_date": {"$ref": "#/definitions/date_time"},
      "primary_source": {"type": "boolean"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "asserter": {"$ref": "#/definitions/reference"},
      "last_occurrence": {"$ref": "#/definitions/date_time"}
    },
    "required": ["id", "clinical_status", "verification_status", "type", "category",
                 "criticality", "context", "code", "onset_date_time", "asserted_date",
                 "primary_source"],
    "additionalProperties": false
  },
  "risk_assessment": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "status": {"type": "string"},
      "method": {"$ref": "#/definitions/object"},
      "code": {"$ref": "#/definitions/object"},
      "context": {"$ref": "#/definitions/typed_reference"},
      "asserted_date": {"$ref": "#/definitions/date_time"},
      "primary_source": {"type": "boolean"},
      "basis": {"$ref": "#/definitions/object"},
      "predictions": {"type": "array", "items": {"$ref": "#/definitions/object"}},
      "mitigation": {"type": "string"},
      "comment": {"type": "string"},
      "performer": {"$ref": "#/definitions/reference"},
      "reason_codes": {"type": "array", "items": {"$ref": "#/definitions/object"}},
      "reason_references": {"type": "array", "items": {"$ref": "#/definitions/typed_reference"}}
    },
    "required": ["id", "status", "code", "context", "asserted_date"],
    "additionalProperties": false
  },
  "device": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "status": {"type": "string"},
      "asserted_date": {"$ref": "#/definitions/date_time"},
      "usage_period": {"$ref": "#/definitions/period"},
      "context": {"$ref": "#/definitions/typed_reference"},
      "primary_source": {"type": "boolean"},
      "type": {"$ref": "#/definitions/optional_codeable_concept"},
      "lot_number": {"type": "string"},
      "manufacturer": {"type": "string"},
      "manufacture_date": {"$ref": "#/definitions/date_time"},
      "expiration_date": {"$ref": "#/definitions/date_time"},
      "model": {"type": "string"},
      "version": {"type": "string"},
      "note": {"type": "string"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "asserter": {"$ref": "#/definitions/reference"}
    },
    "required": ["id", "status", "asserted_date", "usage_period", "context", "primary_source",
                 "type"],
    "additionalProperties": false
  },
  "medication_statement": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "based_on": {"$ref": "#/definitions/typed_reference"},
      "asserted_date": {"$ref": "#/definitions/date_time"},
      "status": {"type": "string"},
      "context": {"$ref": "#/definitions/typed_reference"},
      "primary_source": {"type": "boolean"},
      "effective_period": {"type": "string"},
      "medication_code": {"$ref": "#/definitions/optional_codeable_concept"},
      "note": {"type": "string"},
      "dosage": {"type": "string"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "asserter": {"$ref": "#/definitions/reference"}
    },
    "required": ["id", "asserted_date", "status", "context", "primary_source", "medication_code"],
    "additionalProperties": false
  },
  "diagnostic_report": {
    "type": "object",
    "properties": {
      "id": {"$ref": "#/definitions/uuid"},
      "based_on": {"$ref": "#/definitions/typed_reference"},
      "status": {"type": "string", "enum": ["final"]},
      "category": {
        "type": "array", "items": {"$ref": "#/definitions/optional_codeable_concept"}
      },
      "effective_date_time": {"$ref": "#/definitions/date_time"},
      "effective_period": {"$ref": "#/definitions/period"},
      "issued": {"$ref": "#/definitions/date_time"},
      "code": {"$ref": "#/definitions/reference"},
      "conclusion": {"type": "string"},
      "conclusion_code": {"$ref": "#/definitions/optional_codeable_concept"},
      "recorded_by": {"$ref": "#/definitions/typed_reference"},
      "encounter": {"$ref": "#/definitions/typed_reference"},
      "primary_source": {"type": "boolean"},
      "managing_organization": {"$ref": "#/definitions/typed_reference"},
      "report_origin": {"$ref": "#/definitions/optional_codeable_concept"},
      "performer": {"$ref": "#/definitions/executor"},
      "results_interpreter": {"$ref": "#/definitions/executor"}
    },
    "required": ["id", "status", "code", "issued", "recorded_by", "encounter", "primary_source"],
    "additionalProperties": false
  }
})";

const char* const package_create_request = R"({
  "type": "object",
  "properties": {
    "visit": {"$ref": "#/definitions/visit"},
    "signed_data": {"type": "string", "minLength": 1}
  },
  "required": ["signed_data"],
  "additionalProperties": false
})";

const char* const signed_data_request = R"({
  "type": "object",
  "properties": {"signed_data": {"type": "string", "minLength": 1}},
  "required": ["signed_data"],
  "additionalProperties": false
})";

json ref(const char* definition) {
  return {{"$ref", std::string("#/definitions/") + definition}};
}

// A package document: one root entity and lists of up to 50 entities each.
json package_schema(json definitions, const char* root,
                    const std::vector<std::pair<const char*, const char*>>& lists) {
  json properties = {{root, ref(root)}};
  for (auto& [key, definition] : lists)
    properties[key] = {
        {"type", "array"}, {"minItems", 0}, {"maxItems", 50}, {"items", ref(definition)}};
  return {{"definitions", std::move(definitions)},
          {"type", "object"},
          {"properties", std::move(properties)},
          {"required", json::array({root})},
          {"additionalProperties", false}};
}

// Cancelled content states why (cancellation_reason, explanatory_letter) and may carry any
// status; the cancelling user repeats the rest of what was created.
void allow_cancellation_fields(json& entity) {
  entity["properties"]["status"] = {{"type", "string"}};
  entity["properties"]["explanatory_letter"] = {{"type", "string"}};
  entity["properties"]["cancellation_reason"] = ref("codeable_concept");
}

void unrequire(json& entity, const std::string& name) {
  auto& required = entity["required"];
  required.erase(std::remove(required.begin(), required.end(), json(name)), required.end());
}

// The reference's encounter package cancel: the encounter states why it is cancelled instead of
// its status; conditions and immunizations need no status.
json cancel_definitions() {
  auto d = json::parse(entity_definitions);
  allow_cancellation_fields(d["encounter"]);
  unrequire(d["encounter"], "status");
  d["encounter"]["required"].push_back("explanatory_letter");
  d["encounter"]["required"].push_back("cancellation_reason");
  unrequire(d["condition"], "verification_status");
  unrequire(d["immunization"], "status");
  allow_cancellation_fields(d["diagnostic_report"]);
  d["diagnostic_report"]["properties"]["origin_episode"] = ref("typed_reference");
  return d;
}

// The reference's diagnostic report package: a report of the legal entity with its own
// observations, outside any encounter, from a primary source only.
json diagnostic_report_package_definitions(bool cancel) {
  auto d = json::parse(entity_definitions);
  const json primary_source_only = {{"type", "boolean"}, {"enum", json::array({true})}};
  auto& observation = d["observation"];
  observation["properties"].erase("context");
  observation["properties"].erase("report_origin");
  observation["properties"]["primary_source"] = primary_source_only;
  observation["required"] = json::array(
      {"id", "status", "diagnostic_report", "categories", "code", "issued", "primary_source"});
  auto& report = d["diagnostic_report"];
  report["properties"].erase("encounter");
  report["properties"].erase("report_origin");
  report["properties"]["primary_source"] = primary_source_only;
  report["required"] = json::array(
      {"id", "status", "code", "issued", "recorded_by", "primary_source", "managing_organization"});
  if (cancel) {
    allow_cancellation_fields(report);
    report["required"].push_back("explanatory_letter");
    report["required"].push_back("cancellation_reason");
  }
  return d;
}

const std::vector<std::pair<const char*, const char*>> encounter_package_lists = {
    {"conditions", "condition"},
    {"observations", "observation"},
    {"allergy_intolerances", "allergy_intolerance"},
    {"immunizations", "immunization"},
    {"risk_assessments", "risk_assessment"},
    {"devices", "device"},
    {"medication_statements", "medication_statement"},
    {"diagnostic_reports", "diagnostic_report"},
};

json_schema::schema compile_request(const char* body) {
  auto doc = json::parse(body);
  doc["definitions"] = json::parse(entity_definitions);
  return json_schema::schema::compile(doc);
}

}  // namespace

const json_schema::schema& package_create_request_schema() {
  static const auto s = compile_request(package_create_request);
  return s;
}

const json_schema::schema& signed_data_request_schema() {
  static const auto s = compile_request(signed_data_request);
  return s;
}

const json_schema::schema& package_create_content_schema() {
  static const auto s = json_schema::schema::compile(
      package_schema(json::parse(entity_definitions), "encounter", encounter_package_lists));
  return s;
}

const json_schema::schema& package_cancel_content_schema() {
  static const auto s = json_schema::schema::compile(
      package_schema(cancel_definitions(), "encounter", encounter_package_lists));
  return s;
}

const json_schema::schema& diagnostic_report_package_create_content_schema() {
  static const auto s = json_schema::schema::compile(
      package_schema(diagnostic_report_package_definitions(false), "diagnostic_report",
                     {{"observations", "observation"}}));
  return s;
}

const json_schema::schema& diagnostic_report_package_cancel_content_schema() {
  static const auto s = json_schema::schema::compile(
      package_schema(diagnostic_report_package_definitions(true), "diagnostic_report",
                     {{"observations", "observation"}}));
  return s;
}

}  // namespace medflow::flows::medical_events
