// Resource events (the Danish eHealth Infrastructure's event model, reference Part B): every
// change medflowd commits to a clinical resource becomes bus records on topics named after the
// resource's profile, with the message properties as record headers, so subscribers can choose
// them with selectors (selector.hpp).
//
// Pure: the mapping from medflowd's resource kinds to eHealth profiles, elements and contexts
// is parsed from JSON (config/events.json) and a change is turned into messages; reading the
// file and appending the records is the service's (service.hpp).
//
// For one change of a resource of profile P (topics as in Part B.4):
// - EHealthSimpleEvent on topic P (and on each alias of P, e.g. ehealth-procedurerequest for
//   ehealth-servicerequest): eventType created / updated / deleted; resourceVersion is the
//   version after the change, the version before it for deleted.
// - EHealthReferenceEvent on P.<element> for each configured element whose references differ
//   between the document before and after (created: everything is added; deleted: none, the
//   simple event says it): one message reference_added with the added references and one
//   reference_removed with the removed ones, each only when not empty; resourceElement names
//   the element; references are absolute URLs.
// - EHealthContextEvent on P.<context> for each configured context whose value (the JSON at its
//   path) differs between before and after on an update: eventType updated, context its name,
//   status "" (as the IG's example; the IG gives it no other meaning).
// Every body value is a string, messageVersion "1.0"; resourceReference is
// <base_url>/<ResourceType>/<id>. Headers (one camelCase spelling, the same on both bus
// backends): eventType, messageType, messageVersion, resourceReference, messageClass,
// patientReference (only for a resource of a patient), resourceProfile (the base profile P even
// on element and context topics; an alias topic carries the alias), resourceElement (reference
// events), context (context events). The record key is the resourceReference: the events of
// one resource stay in order on each topic.
#pragma once

#include "bus/log.hpp"
#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::flows::resource_events {

using json = nlohmann::json;

inline const char* message_version = "1.0";
inline const char* simple_event = "EHealthSimpleEvent";
inline const char* reference_event = "EHealthReferenceEvent";
inline const char* context_event = "EHealthContextEvent";
// messageClass: the Java class of the message type in the eHealth publisher.
inline const char* message_class_prefix = "com.systematic.ehealth.event.event.";

// -- the mapping (config/events.json) -------------------------------------------------------------

// A dotted path into a document ("care_manager", "diagnoses[].condition"): "[]" after a segment
// walks every item of an array there.
struct path_segment {
  std::string name;
  bool each = false;
};
using doc_path = std::vector<path_segment>;

// An element holding references: its paths in medflowd's document and the kind of what they
// refer to (empty: the reference's own identifier.type.coding[0].code).
struct element_rule {
  std::string name;  // the topic suffix and resourceElement, e.g. "team"
  std::vector<doc_path> paths;
  std::string target;
};

// A context: an event when the value at `path` changes.
struct context_rule {
  std::string name;  // the topic suffix and context, e.g. "status"
  doc_path path;
};

struct resource_rule {
  std::string kind;           // medflowd's resource kind, e.g. "episode"
  std::string resource_type;  // in URLs, e.g. "EpisodeOfCare"
  std::string profile;        // e.g. "ehealth-episodeofcare"
  std::vector<std::string> aliases;  // more topics for the simple events, e.g. an old name
  std::vector<element_rule> elements;
  std::vector<context_rule> contexts;
};

struct mapping {
  std::map<std::string, std::string, std::less<>> resource_types;  // kind -> FHIR type
  std::map<std::string, resource_rule, std::less<>> resources;     // kind -> rule
};

struct mapping_limits {
  size_t max_rules = 1000;       // resources + elements + contexts + aliases + types
  size_t max_name_bytes = 200;   // a profile, element, context or type name, a path
};

// Parses and checks the mapping: unknown fields, wrong types, names that do not make valid
// topic names, kinds without a resource type, duplicate topics. Every kind of `known_kinds`
// (what the flows that publish record) must be mapped, so no change goes without its event;
// a kind not in `known_kinds` is refused (a typo would publish nothing). The error names the
// place: "resources.episode.elements.team.path: expected a string".
result<mapping> parse_mapping(const json& doc, const std::vector<std::string>& known_kinds,
                              const mapping_limits& limits = {});

// Every topic the mapping may publish to, sorted.
std::vector<std::string> topics(const mapping& m);

// -- changes --------------------------------------------------------------------------------------

enum class change_type { created, updated, deleted };
const char* change_type_name(change_type c);  // "created", "updated", "deleted"

// One committed change of a resource (views into the caller's data).
struct change {
  std::string_view kind;
  std::string_view id;
  std::string_view patient_id;  // empty: the resource belongs to no patient
  change_type type = change_type::updated;
  int64_t version_before = 0;   // 0: it did not exist
  int64_t version_after = 0;    // for deleted, the version of the deletion
  const json* before = nullptr; // the document before (null when created or unknown)
  const json* after = nullptr;  // the document after (null when deleted or unknown)
};

struct settings {
  std::string base_url;  // absolute, no trailing slash, e.g. "http://127.0.0.1:8080/fhir"
};

// The messages of one change, in order: simple event(s), reference events, context events.
// A kind the mapping does not have gives none.
std::vector<bus::message> build_events(const mapping& m, const settings& s, const change& c);

// The references at an element's paths in a document, as absolute URLs, in document order and
// without repeats.
std::vector<std::string> element_references(const mapping& m, const settings& s,
                                            const element_rule& e, const json* doc);

}  // namespace medflow::flows::resource_events
