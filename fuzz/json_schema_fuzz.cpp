// libFuzzer target for the JSON Schema validator (src/core/json_schema.cpp): schemas compiled
// from arbitrary documents and instances validated against them, both read as medflowd reads
// JSON from outside (parse_json_limited, json.max_depth 256).
//
// Input: "<schema>\0<instance>", or just "<instance>", which is then validated against a fixed
// schema that uses every keyword the validator knows (recursion through "$ref": "#" included).
// A fuzzed schema loses its "pattern" and "patternProperties": schemas are medflowd's own, and
// arbitrary patterns would only find std::regex's exponential backtracking (a pattern like
// "(a*)*b"), which no request can reach. For the same reason a fuzzed schema meets instances at
// most 4 levels deep: the validator tries every branch of anyOf/oneOf, so a schema recursing
// through them costs branches^depth, which only a schema's author could bring about.
// These must hold:
// - compiling either succeeds or throws std::invalid_argument, nothing else;
// - validating twice gives the same violations; a valid instance has none;
// - every violation has an entry starting with "$", a rule and a description;
// - the instance validated against {} and {"not": {}} gives no / one violation.
#include "core/json.hpp"
#include "core/json_schema.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using json = nlohmann::json;
namespace js = medflow::json_schema;

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size() > 2000 ? 2000 : input.size()), input.data());
  std::abort();
}

const char* const fixed_schema_text = R"({
  "definitions": {
    "uuid": {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
    "coding": {"type": "object", "required": ["system", "code"],
               "properties": {"system": {"type": "string", "enum": ["eHealth/a", "eHealth/b"]},
                              "code": {"type": "string", "minLength": 1, "maxLength": 8}},
               "additionalProperties": false},
    "period": {"type": "object", "properties": {"start": {"type": "string", "format": "date"},
                                                 "end": {"type": "string", "format": "date-time"}}}
  },
  "type": "object",
  "required": ["id", "status"],
  "properties": {
    "id": {"$ref": "#/definitions/uuid"},
    "status": {"type": "string", "enum": ["active", "closed"]},
    "email": {"type": "string", "format": "email"},
    "ref": {"type": "string", "format": "uuid"},
    "count": {"type": "integer", "minimum": 0, "maximum": 100},
    "ratio": {"type": "number", "minimum": 0.5, "exclusiveMaximum": true, "maximum": 2},
    "codes": {"type": "array", "items": {"$ref": "#/definitions/coding"}, "minItems": 1,
              "maxItems": 4, "uniqueItems": true},
    "period": {"$ref": "#/definitions/period"},
    "either": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}]},
    "any": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
    "all": {"allOf": [{"type": "string"}, {"minLength": 2}]},
    "nope": {"not": {"type": "string"}},
    "tree": {"$ref": "#"},
    "list": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}
  },
  "patternProperties": {"^x-": {"type": "string"}},
  "minProperties": 2,
  "maxProperties": 20
})";

const js::schema& fixed_schema() {
  static const js::schema s = js::schema::compile(json::parse(fixed_schema_text));
  return s;
}

// Removes "pattern" and "patternProperties" everywhere, without recursion.
void drop_patterns(json& doc) {
  std::vector<json*> todo{&doc};
  while (!todo.empty()) {
    json* node = todo.back();
    todo.pop_back();
    if (node->is_object()) {
      node->erase("pattern");
      node->erase("patternProperties");
    }
    if (node->is_structured()) {
      for (auto& child : *node) todo.push_back(&child);
    }
  }
}

void check_violations(const std::vector<js::violation>& vs, std::string_view input) {
  for (const auto& v : vs) {
    require(!v.entry.empty() && v.entry[0] == '$', "violation entry does not start with $", input);
    require(!v.rule.empty(), "violation without a rule", input);
    require(!v.description.empty(), "violation without a description", input);
  }
}

void validate(const js::schema& s, const json& instance, std::string_view input) {
  auto first = s.validate(instance);
  auto second = s.validate(instance);
  require(first.size() == second.size(), "validation is not deterministic", input);
  for (std::size_t i = 0; i < first.size(); ++i) {
    require(first[i].entry == second[i].entry && first[i].rule == second[i].rule &&
                first[i].description == second[i].description,
            "validation is not deterministic", input);
  }
  check_violations(first, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view instance_text = nul == std::string_view::npos ? input : input.substr(nul + 1);

  const bool fixed = nul == std::string_view::npos;
  auto instance = medflow::parse_json_limited(instance_text, fixed ? 256 : 4);
  if (fixed) {
    if (instance.ok()) validate(fixed_schema(), *instance, input);
    return 0;
  }

  auto schema_doc = medflow::parse_json_limited(input.substr(0, nul), 256);
  if (!schema_doc.ok()) return 0;
  drop_patterns(*schema_doc);
  js::schema s;
  try {
    s = js::schema::compile(*schema_doc);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  if (!instance.ok()) return 0;
  validate(s, *instance, input);

  static const js::schema anything = js::schema::compile(json::object());
  static const js::schema nothing = js::schema::compile(json{{"not", json::object()}});
  require(anything.validate(*instance).empty(), "{} refused an instance", input);
  require(nothing.validate(*instance).size() == 1, "{\"not\": {}} did not refuse once", input);
  return 0;
}
