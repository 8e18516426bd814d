// Request schemas of the episode routes (create, update, close, cancel), written after the
// reference's draft-04 schemas: same fields, required lists, enums and formats.
#include "flows/medical_events/package_content.hpp"

namespace medflow::flows::medical_events {

namespace {

// Definitions every episode schema may refer to.
const char* const episode_definitions = R"({
  "uuid": {
    "type": "string",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
  },
  "legal_entity_reference": {
    "type": "object",
    "properties": {
      "identifier": {
        "type": "object",
        "properties": {
          "type": {
            "type": "object",
            "properties": {
              "coding": {
                "type": "array",
                "minItems": 1,
                "items": {
                  "type": "object",
                  "properties": {
                    "system": {"type": "string", "enum": ["eHealth/resources"]},
                    "code": {"type": "string", "enum": ["legal_entity"]}
                  },
                  "required": ["code", "system"],
                  "additionalProperties": false
                }
              },
              "text": {"type": "string"}
            },
            "required": ["coding"],
            "additionalProperties": false
          },
          "value": {"type": "string"}
        },
        "required": ["value"],
        "additionalProperties": false
      }
    },
    "required": ["identifier"],
    "additionalProperties": false
  },
  "employee_reference": {
    "type": "object",
    "properties": {
      "identifier": {
        "type": "object",
        "properties": {
          "type": {
            "type": "object",
            "properties": {
              "coding": {
                "type": "array",
                "minItems": 1,
                "items": {
                  "type": "object",
                  "properties": {
                    "system": {"type": "string", "enum": ["eHealth/resources"]},
                    "code": {"type": "string", "enum": ["employee"]}
                  },
                  "required": ["code", "system"],
                  "additionalProperties": false
                }
              },
              "text": {"type": "string"}
            },
            "required": ["coding"],
            "additionalProperties": false
          },
          "value": {"type": "string"}
        },
        "required": ["value"],
        "additionalProperties": false
      }
    },
    "required": ["identifier"],
    "additionalProperties": false
  },
  "closing_reason": {
    "type": "object",
    "properties": {
      "coding": {
        "type": "array",
        "minItems": 1,
        "items": {
          "type": "object",
          "properties": {
            "system": {"type": "string", "enum": ["eHealth/episode_closing_reasons"]},
            "code": {"type": "string"}
          },
          "required": ["code"],
          "additionalProperties": false
        }
      },
      "text": {"type": "string"}
    },
    "required": ["coding"],
    "additionalProperties": false
  },
  "cancellation_reason": {
    "type": "object",
    "properties": {
      "coding": {
        "type": "array",
        "minItems": 1,
        "items": {
          "type": "object",
          "properties": {
            "system": {"type": "string", "enum": ["eHealth/cancellation_reasons"]},
            "code": {"type": "string"}
          },
          "required": ["code"],
          "additionalProperties": false
        }
      },
      "text": {"type": "string"}
    },
    "required": ["coding"],
    "additionalProperties": false
  }
})";

const char* const episode_create = R"({
  "type": "object",
  "properties": {
    "id": {"$ref": "#/definitions/uuid"},
    "type": {
      "type": "object",
      "properties": {
        "system": {"type": "string", "enum": ["eHealth/episode_types"]},
        "code": {"type": "string"}
      },
      "required": ["code", "system"],
      "additionalProperties": false
    },
    "status": {"type": "string", "enum": ["active"]},
    "name": {"type": "string", "minLength": 1},
    "managing_organization": {"$ref": "#/definitions/legal_entity_reference"},
    "period": {
      "type": "object",
      "properties": {"start": {"type": "string", "format": "date"}},
      "required": ["start"],
      "additionalProperties": false
    },
    "care_manager": {"$ref": "#/definitions/employee_reference"}
  },
  "required": ["id", "type", "status", "name", "managing_organization", "period", "care_manager"],
  "additionalProperties": false
})";

const char* const episode_update = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1},
    "care_manager": {"$ref": "#/definitions/employee_reference"}
  },
  "anyOf": [{"required": ["name"]}, {"required": ["care_manager"]}],
  "additionalProperties": false
})";

const char* const episode_close = R"({
  "type": "object",
  "properties": {
    "period": {
      "type": "object",
      "properties": {"end": {"type": "string", "format": "date"}},
      "required": ["end"],
      "additionalProperties": false
    },
    "closing_summary": {"type": "string"},
    "status_reason": {"$ref": "#/definitions/closing_reason"}
  },
  "required": ["period", "status_reason"],
  "additionalProperties": false
})";

const char* const episode_cancel = R"({
  "type": "object",
  "properties": {
    "explanatory_letter": {"type": "string"},
    "status_reason": {"$ref": "#/definitions/cancellation_reason"}
  },
  "required": ["status_reason"],
  "additionalProperties": false
})";

json_schema::schema compile_episode_schema(const char* body) {
  auto doc = json::parse(body);
  doc["definitions"] = json::parse(episode_definitions);
  return json_schema::schema::compile(doc);
}

}  // namespace

const json_schema::schema& episode_create_schema() {
  static const auto s = compile_episode_schema(episode_create);
  return s;
}

const json_schema::schema& episode_update_schema() {
  static const auto s = compile_episode_schema(episode_update);
  return s;
}

const json_schema::schema& episode_close_schema() {
  static const auto s = compile_episode_schema(episode_close);
  return s;
}

const json_schema::schema& episode_cancel_schema() {
  static const auto s = compile_episode_schema(episode_cancel);
  return s;
}

}  // namespace medflow::flows::medical_events
