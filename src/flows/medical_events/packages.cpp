// Encounter packages and diagnostic report packages, create and cancel (reference: ME
// core/patients/patients.ex, encounters/cancel.ex, diagnostic_reports/consumer.ex and cancel.ex).
//
// signed_data is base64 of the JSON content: medflow runs in the reference's signature-off mode
// (DIGITAL_SIGNATURE_ENABLED=false), where there is no signer, so the DRFO checks ("Invalid
// drfo", "Does not match the signer drfo") are skipped. The performer checks that need no
// signature (the performer is the acting user, in the client's legal entity) are kept, and the
// signed content is not archived (the reference's media storage and its 500 "Failed to save
// signed content" do not exist here).
#include "core/clock.hpp"
#include "flows/medical_events/package_content.hpp"
#include "flows/medical_events/schemas.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace medflow::flows::medical_events {

namespace {

const char* const entered_in_error = "entered_in_error";
// ENCOUNTER_MAX_DAYS_PASSED of the reference (default 7): how many days back an encounter may be
// submitted.
constexpr int64_t encounter_max_days_passed = 7;
constexpr int64_t day_ms = 86400000;

// -- the entities a package carries -------------------------------------------------------------

struct entity_kind {
  kind k;
  const char* key;           // its place in the signed content
  const char* title;         // "Allergy intolerance" in "… with id '<id>' already exists"
  const char* label;         // "allergy intolerance" in "Submitted context is not allowed for …"
  const char* status_field;  // what a cancel sets to entered_in_error
  const char* owner_field;   // its reference to the encounter (or report) it belongs to
};

// clang-format off
const entity_kind encounter_root{kind::encounter, "encounter", "Encounter", "encounter",
                                 "status", ""};
const entity_kind report_root{kind::diagnostic_report, "diagnostic_report", "Diagnostic report",
                              "diagnostic report", "status", ""};
const entity_kind condition_list{kind::condition, "conditions", "Condition", "condition",
                                 "verification_status", "context"};
const entity_kind observation_list{kind::observation, "observations", "Observation",
                                   "observation", "status", "context"};
const entity_kind immunization_list{kind::immunization, "immunizations", "Immunization",
                                    "immunization", "status", "context"};
const entity_kind allergy_list{kind::allergy_intolerance, "allergy_intolerances",
                               "Allergy intolerance", "allergy intolerance",
                               "verification_status", "context"};
const entity_kind risk_list{kind::risk_assessment, "risk_assessments", "Risk assessment",
                            "risk assessment", "status", "context"};
const entity_kind device_list{kind::device, "devices", "Device", "device", "status", "context"};
const entity_kind medication_list{kind::medication_statement, "medication_statements",
                                  "Medication statement", "medication statement", "status",
                                  "context"};
const entity_kind report_list{kind::diagnostic_report, "diagnostic_reports", "Diagnostic report",
                              "diagnostic report", "status", "encounter"};
// The observations of a diagnostic report package belong to the report.
const entity_kind report_observation_list{kind::observation, "observations", "Observation",
                                          "observation", "status", "diagnostic_report"};
// clang-format on

using kinds = std::vector<const entity_kind*>;

// The reference's orders: entities are built (and checked) around the encounter…
const kinds built_before_encounter = {&report_list, &observation_list, &condition_list};
const kinds built_after_encounter = {&immunization_list, &allergy_list, &risk_list, &device_list,
                                     &medication_list};
// … linked after it in the job's response…
const kinds linked_after_encounter = {&immunization_list, &allergy_list,    &risk_list,
                                      &device_list,       &medication_list, &report_list,
                                      &condition_list,    &observation_list};
// … and checked after it on cancel.
const kinds cancelled_with_encounter = {&allergy_list,    &risk_list,        &immunization_list,
                                        &condition_list,  &observation_list, &device_list,
                                        &medication_list, &report_list};
const kinds cancelled_with_report = {&report_observation_list};

const json& items(const json& content, const entity_kind& k) {
  static const json none = json::array();
  const json& list = field(content, k.key);
  return list.is_array() ? list : none;
}

std::string item_path(const entity_kind& k, size_t i) {
  return std::string("$.") + k.key + "[" + std::to_string(i) + "]";
}

const json* find_by_id(const json& list, const std::string& id) {
  if (!list.is_array()) return nullptr;
  for (auto& item : list)
    if (text(item, "id") == id) return &item;
  return nullptr;
}

// -- signed content ----------------------------------------------------------------------------

// The reference's one-of rules: of `params`, an entity (or a field of it) carries exactly one
// (`required`) or at most one.
struct one_of_rule {
  const char* entity;  // a list (or the root object) of the content
  const char* nested;  // "" for the entity itself, else one of its fields (object or list)
  std::vector<std::string> params;
  bool required;
};

const std::vector<std::string> observation_values = {"value_quantity",     "value_codeable_concept",
                                                     "value_sampled_data", "value_string",
                                                     "value_boolean",      "value_range",
                                                     "value_ratio",        "value_time",
                                                     "value_date_time",    "value_period"};
const std::vector<std::string> observation_effective = {"effective_date_time", "effective_period"};
const std::vector<std::string> executor = {"reference", "text"};

const std::vector<one_of_rule> encounter_package_one_of = {
    {"conditions", "", {"report_origin", "asserter"}, true},
    {"observations", "", {"report_origin", "performer"}, true},
    {"observations", "", observation_effective, false},
    {"observations", "", observation_values, true},
    {"observations", "components", observation_values, true},
    {"immunizations", "", {"report_origin", "performer"}, true},
    {"immunizations", "explanation", {"reasons", "reasons_not_given"}, false},
    {"allergy_intolerances", "", {"report_origin", "asserter"}, true},
    {"risk_assessments", "predictions", {"probability_range", "probability_decimal"}, false},
    {"risk_assessments", "predictions", {"when_range", "when_period"}, false},
    {"devices", "", {"report_origin", "asserter"}, true},
    {"medication_statements", "", {"report_origin", "asserter"}, true},
    {"diagnostic_reports", "results_interpreter", executor, true},
    {"diagnostic_reports", "performer", executor, true},
};

const std::vector<one_of_rule> report_package_one_of = {
    {"observations", "", observation_effective, false},
    {"observations", "", observation_values, true},
    {"observations", "components", observation_values, true},
    {"diagnostic_report", "results_interpreter", executor, true},
    {"diagnostic_report", "performer", executor, true},
};

// Calls visit(item, path) for an object, or for each item of a list.
template <class F>
void each(const json& node, const std::string& path, F&& visit) {
  if (node.is_object()) return visit(node, path);
  if (!node.is_array()) return;
  for (size_t i = 0; i < node.size(); ++i) visit(node[i], path + "[" + std::to_string(i) + "]");
}

violations rule_violations(const json& content, const std::vector<one_of_rule>& rules) {
  violations out;
  for (auto& rule : rules) {
    auto check = [&](const json& node, const std::string& path) {
      append(out, one_of_violations(node, path, rule.params, rule.required));
    };
    each(field(content, rule.entity), std::string("$.") + rule.entity,
         [&](const json& item, const std::string& path) {
           if (!*rule.nested) return check(item, path);
           each(field(item, rule.nested), path + "." + rule.nested, check);
         });
  }
  return out;
}

// Decodes the signed content and checks its schema, then the one-of rules (all 422).
failure read_content(const command& c, const json_schema::schema& schema,
                     const std::vector<one_of_rule>& rules, json& content) {
  auto decoded = decode_signed_data(c.body);
  if (!decoded) return job_failure(decoded.err());
  auto vs = schema.validate(*decoded);
  if (vs.empty()) vs = rule_violations(*decoded, rules);
  if (!vs.empty()) return unprocessable(vs);
  content = std::move(decoded).value();
  return std::nullopt;
}

// The reference's signer checks that need no signature: the performer belongs to the client's
// legal entity and is one of the acting user's employee records.
failure check_performer(const std::string& employee_id, const command& c, view& v) {
  auto performer = v.get_employee(employee_id);
  if (performer && performer->legal_entity_id != c.client_id)
    return conflict("Performer does not belong to current legal entity");
  if (!performer || !employee_of_user(v, c.user_id, c.client_id, employee_id))
    return conflict("Employee is not performer of encounter");
  return std::nullopt;
}

// -- create ------------------------------------------------------------------------------------

// A package being created: what its checks read, and the ids seen so far ("<kind>/<id>"), so
// that one package cannot carry an entity twice.
struct package {
  const command& c;
  view& v;
  const json& content;
  std::set<std::string> seen;
};

std::string owner_message(const entity_kind& k) {
  std::string owner = k.owner_field;
  std::replace(owner.begin(), owner.end(), '_', ' ');
  return "Submitted " + owner + " is not allowed for the " + k.label;
}

// An encounter package observation may cite a report of the same package or a stored one.
std::optional<std::string> report_reference_error(const package& p, const std::string& id) {
  if (find_by_id(field(p.content, report_list.key), id)) return std::nullopt;
  auto report = p.v.get(kind::diagnostic_report, p.c.patient_id, id);
  if (!report) return "Diagnostic report with such id is not found";
  if (text(*report, "status") == entered_in_error)
    return "Diagnostic report in \"entered_in_error\" status can not be referenced";
  return std::nullopt;
}

// Each entity of kind k belongs to `owner_id`; then none exists yet (the first one that does
// ends the job).
failure check_entities(package& p, const entity_kind& k, const std::string& owner_id) {
  const json& list = items(p.content, k);
  violations vs;
  for (size_t i = 0; i < list.size(); ++i) {
    auto path = item_path(k, i);
    if (reference_id(field(list[i], k.owner_field)) != owner_id)
      vs.push_back(invalid(path + "." + k.owner_field + ".identifier.value", owner_message(k)));
    const json& report = field(list[i], "diagnostic_report");
    if (&k == &observation_list && !report.is_null())
      if (auto err = report_reference_error(p, reference_id(report)))
        vs.push_back(invalid(path + ".diagnostic_report.identifier.value", *err));
  }
  if (!vs.empty()) return unprocessable(vs);
  for (size_t i = 0; i < list.size(); ++i) {
    auto id = text(list[i], "id");
    bool fresh = p.seen.insert(std::string(kind_name(k.k)) + "/" + id).second;
    // Ids are unique across patients: the store keys entities by kind and id.
    if (!fresh || p.v.find(k.k, id))
      return unprocessable(item_path(k, i) + ".id",
                           std::string(k.title) + " with id '" + id + "' already exists");
  }
  return std::nullopt;
}

failure check_visit(const package& p) {
  const json& visit = field(p.c.body, "visit");
  if (!visit.is_null() && p.v.find(kind::visit, text(visit, "id")))
    return unprocessable("$.visit.id", "Visit with such id already exists");
  return std::nullopt;
}

// The reference's episode reference rules (core/validators/episode_reference.ex).
std::optional<std::string> episode_reference_error(const package& p, const std::string& id) {
  auto episode = p.v.get(kind::episode, p.c.patient_id, id);
  if (!episode) return "Episode with such ID is not found";
  if (text(*episode, "status") != "active") return "Episode is not active";
  if (reference_id(field(*episode, "managing_organization")) != p.c.client_id)
    return foreign_organization;
  return std::nullopt;
}

// The encounter's visit is the one submitted with the package, or else a stored one.
std::optional<std::string> visit_reference_error(const package& p, const std::string& id) {
  const json& visit = field(p.c.body, "visit");
  bool found = visit.is_null() ? p.v.get(kind::visit, p.c.patient_id, id).has_value()
                               : text(visit, "id") == id;
  if (found) return std::nullopt;
  return "Visit with such ID is not found";
}

std::optional<std::string> diagnosis_condition_error(const package& p, const std::string& id) {
  if (find_by_id(field(p.content, condition_list.key), id) ||
      p.v.get(kind::condition, p.c.patient_id, id))
    return std::nullopt;
  return "Condition with such id is not found";
}

std::optional<std::string> encounter_date_error(const std::string& date, int64_t now_ms) {
  auto at = clock::parse_iso8601(date);
  if (!at) return "Date is not a valid date-time";
  if (*at > now_ms) return "Date must be in past";
  int64_t today = now_ms / day_ms;
  if (today - *at / day_ms >= encounter_max_days_passed)
    return "Date must be greater than " + clock::date((today - encounter_max_days_passed) * day_ms);
  return std::nullopt;
}

failure check_encounter(const package& p) {
  const json& encounter = field(p.content, "encounter");
  violations vs;
  auto check = [&](const std::string& entry, std::optional<std::string> err) {
    if (err) vs.push_back(invalid(entry, *err));
  };
  check("$.encounter.episode.identifier.value",
        episode_reference_error(p, reference_id(field(encounter, "episode"))));
  check("$.encounter.visit.identifier.value",
        visit_reference_error(p, reference_id(field(encounter, "visit"))));
  const json& diagnoses = field(encounter, "diagnoses");
  for (size_t i = 0; diagnoses.is_array() && i < diagnoses.size(); ++i)
    check("$.encounter.diagnoses[" + std::to_string(i) + "].condition.identifier.value",
          diagnosis_condition_error(p, reference_id(field(diagnoses[i], "condition"))));
  check("$.encounter.date", encounter_date_error(text(encounter, "date"), p.c.now_ms));
  if (!vs.empty()) return unprocessable(vs);
  if (p.v.find(kind::encounter, text(encounter, "id")))
    return unprocessable("$.encounter.id", "Encounter with such id already exists");
  return std::nullopt;
}

void record_entities(effects& e, json& links, const package& p, const entity_kind& k) {
  for (auto& item : items(p.content, k)) {
    links.push_back(link(k.k, p.c.patient_id, text(item, "id")));
    record_created(e, k.k, p.c.patient_id, stamped_new(item, p.c));
  }
}

// The encounter's diagnoses as the episode keeps them: each with its condition's code.
json coded_diagnoses(const package& p, const json& diagnoses) {
  json out = json::array();
  for (json diagnosis : diagnoses) {
    auto id = reference_id(field(diagnosis, "condition"));
    std::optional<json> condition;
    if (auto submitted = find_by_id(field(p.content, condition_list.key), id))
      condition = *submitted;
    else
      condition = p.v.get(kind::condition, p.c.patient_id, id);
    if (condition && condition->contains("code")) diagnosis["code"] = (*condition)["code"];
    out.push_back(std::move(diagnosis));
  }
  return out;
}

// The episode's current diagnoses become the encounter's, and its history gains them.
void add_diagnoses(effects& e, const package& p, const json& encounter) {
  auto episode = p.v.get(kind::episode, p.c.patient_id, reference_id(field(encounter, "episode")));
  json after = *episode;
  auto diagnoses = coded_diagnoses(p, field(encounter, "diagnoses"));
  json entry = {{"date", clock::date(p.c.now_ms)},
                {"evidence", reference_to("encounter", text(encounter, "id"))},
                {"is_active", true},
                {"diagnoses", diagnoses}};
  after["current_diagnoses"] = std::move(diagnoses);
  after["diagnoses_history"].push_back(std::move(entry));
  stamp_updated(after, p.c);
  record_updated(e, kind::episode, p.c.patient_id, *episode, std::move(after));
}

effects save_encounter_package(const package& p) {
  const json& encounter = field(p.content, "encounter");
  effects e;
  const json& visit = field(p.c.body, "visit");
  if (!visit.is_null()) record_created(e, kind::visit, p.c.patient_id, stamped_new(visit, p.c));
  json links = json::array({link(kind::encounter, p.c.patient_id, text(encounter, "id"))});
  record_created(e, kind::encounter, p.c.patient_id, stamped_new(encounter, p.c));
  for (auto* k : linked_after_encounter) record_entities(e, links, p, *k);
  add_diagnoses(e, p, encounter);
  e.result = processed_with_links(std::move(links)).result;
  return e;
}

effects create_encounter_package(const command& c, view& v) {
  json content;
  if (auto f = read_content(c, package_create_content_schema(), encounter_package_one_of, content))
    return *f;
  const json& encounter = field(content, "encounter");
  if (auto f = check_performer(reference_id(field(encounter, "performer")), c, v)) return *f;
  package p{c, v, content, {}};
  auto encounter_id = text(encounter, "id");
  if (auto f = check_visit(p)) return *f;
  for (auto* k : built_before_encounter)
    if (auto f = check_entities(p, *k, encounter_id)) return *f;
  if (auto f = check_encounter(p)) return *f;
  for (auto* k : built_after_encounter)
    if (auto f = check_entities(p, *k, encounter_id)) return *f;
  return save_encounter_package(p);
}

effects create_report_package(const command& c, view& v) {
  json content;
  if (auto f = read_content(c, diagnostic_report_package_create_content_schema(),
                            report_package_one_of, content))
    return *f;
  const json& report = field(content, "diagnostic_report");
  if (auto f = check_performer(reference_id(field(report, "recorded_by")), c, v)) return *f;
  package p{c, v, content, {}};
  auto report_id = text(report, "id");
  if (auto f = check_entities(p, report_observation_list, report_id)) return *f;
  auto organization = reference_id(field(report, "managing_organization"));
  if (auto err = managing_organization_error(organization, c.client_id, v))
    return unprocessable("$.diagnostic_report.managing_organization.identifier.value", *err);
  if (v.find(kind::diagnostic_report, report_id))
    return unprocessable("$.diagnostic_report.id",
                         "Diagnostic report with id '" + report_id + "' already exists");

  effects e;
  json links = json::array({link(kind::diagnostic_report, c.patient_id, report_id)});
  record_created(e, kind::diagnostic_report, c.patient_id, stamped_new(report, c));
  record_entities(e, links, p, report_observation_list);
  e.result = processed_with_links(std::move(links)).result;
  return e;
}

// -- cancel ------------------------------------------------------------------------------------

// A cancel request against what is stored: the root entity (encounter or report) and, for each
// submitted entity of the listed kinds, the stored one if it belongs to the root (else null).
struct cancellation {
  const command& c;
  view& v;
  const json& content;
  const entity_kind& root_kind;
  const kinds& lists;
  json root;
  std::map<const entity_kind*, std::vector<json>> stored;
};

bool is_cancelled(const json& doc, const entity_kind& k) {
  return text(doc, k.status_field) == entered_in_error;
}

bool requests_cancellation(const cancellation& x) {
  if (is_cancelled(field(x.content, x.root_kind.key), x.root_kind)) return true;
  for (auto* k : x.lists)
    for (auto& item : items(x.content, *k))
      if (is_cancelled(item, *k)) return true;
  return false;
}

void load_stored(cancellation& x) {
  auto root_id = text(x.root, "id");
  for (auto* k : x.lists) {
    auto& out = x.stored[k];
    for (auto& item : items(x.content, *k)) {
      auto doc = x.v.get(k->k, x.c.patient_id, text(item, "id"));
      bool belongs = doc && reference_id(field(*doc, k->owner_field)) == root_id;
      out.push_back(belongs ? *doc : json());
    }
  }
}

failure check_transitions(const cancellation& x) {
  auto already = [](const entity_kind& k) {
    return conflict(std::string("Invalid transition for ") + kind_name(k.k) +
                    " - already entered_in_error");
  };
  if (is_cancelled(x.root, x.root_kind)) return already(x.root_kind);
  for (auto* k : x.lists)
    for (auto& doc : x.stored.at(k))
      if (is_cancelled(doc, *k)) return already(*k);
  return std::nullopt;
}

std::optional<std::string> content_difference(const cancellation& x) {
  auto root_path = std::string("$.") + x.root_kind.key;
  if (auto d = first_difference(field(x.content, x.root_kind.key), x.root, root_path)) return d;
  for (auto* k : x.lists) {
    const json& list = items(x.content, *k);
    for (size_t i = 0; i < list.size(); ++i)
      if (auto d = first_difference(list[i], x.stored.at(k)[i], item_path(*k, i))) return d;
  }
  return std::nullopt;
}

// The rules every cancel shares, in the reference's order.
failure check_cancellation(cancellation& x) {
  if (!requests_cancellation(x))
    return conflict("At least one entity should have status \"entered_in_error\"");
  load_stored(x);
  if (auto f = check_transitions(x)) return f;
  if (auto d = content_difference(x))
    return conflict("Submitted signed content does not correspond to previously created content: " +
                    *d);
  return std::nullopt;
}

// Writes the cancel: the root records why (and is entered_in_error when submitted so), each
// submitted entity marked entered_in_error becomes so. The job's response is {}.
effects cancelled(const cancellation& x) {
  effects e;
  e.result = {200, json::object()};
  const json& submitted = field(x.content, x.root_kind.key);
  json root = x.root;
  for (auto* reason : {"cancellation_reason", "explanatory_letter"})
    if (submitted.contains(reason)) root[reason] = submitted[reason];
  if (is_cancelled(submitted, x.root_kind)) root[x.root_kind.status_field] = entered_in_error;
  stamp_updated(root, x.c);
  record_updated(e, x.root_kind.k, x.c.patient_id, x.root, std::move(root));
  for (auto* k : x.lists) {
    const json& list = items(x.content, *k);
    for (size_t i = 0; i < list.size(); ++i) {
      if (!is_cancelled(list[i], *k)) continue;
      const json& before = x.stored.at(k)[i];
      json after = before;
      after[k->status_field] = entered_in_error;
      stamp_updated(after, x.c);
      record_updated(e, k->k, x.c.patient_id, before, std::move(after));
    }
  }
  return e;
}

// A diagnosis of a live encounter cannot lose its condition.
bool cancels_diagnosed_condition(const json& content) {
  const json& encounter = field(content, "encounter");
  if (is_cancelled(encounter, encounter_root)) return false;
  std::set<std::string> diagnosed;
  for (auto& diagnosis : field(encounter, "diagnoses"))
    diagnosed.insert(reference_id(field(diagnosis, "condition")));
  for (auto& condition : items(content, condition_list))
    if (is_cancelled(condition, condition_list) && diagnosed.count(text(condition, "id")))
      return true;
  return false;
}

// A cancelled encounter's diagnoses leave the episode: its history entries become inactive and
// the current diagnoses are those of the latest active entry. (The reference recomputes the
// current diagnoses without the encounter even when the encounter itself stays.)
void withdraw_diagnoses(effects& e, const command& c, const json& episode,
                        const std::string& encounter_id) {
  json after = episode;
  json current = json::array();
  for (auto& entry : after["diagnoses_history"]) {
    if (reference_id(field(entry, "evidence")) == encounter_id) entry["is_active"] = false;
    if (field(entry, "is_active") == true) current = field(entry, "diagnoses");
  }
  after["current_diagnoses"] = std::move(current);
  stamp_updated(after, c);
  record_updated(e, kind::episode, c.patient_id, episode, std::move(after));
}

effects cancel_encounter_package(const command& c, view& v) {
  json content;
  if (auto f = read_content(c, package_cancel_content_schema(), encounter_package_one_of, content))
    return *f;
  if (!v.person_status(c.patient_id)) return not_found("Patient not found");
  const json& submitted = field(content, "encounter");
  auto encounter = v.get(kind::encounter, c.patient_id, text(submitted, "id"));
  if (!encounter) return not_found("Encounter not found");
  auto episode = v.get(kind::episode, c.patient_id, reference_id(field(*encounter, "episode")));
  if (!episode) return not_found("Encounter's episode not found");
  auto organization = reference_id(field(*episode, "managing_organization"));
  if (auto err = managing_organization_error(organization, c.client_id, v))
    return unprocessable("$.managing_organization.identifier.value", *err);

  cancellation x{c, v, content, encounter_root, cancelled_with_encounter, *encounter, {}};
  if (auto f = check_cancellation(x)) return *f;
  if (cancels_diagnosed_condition(content))
    return conflict("The condition can not be canceled while encounter is not canceled");
  auto e = cancelled(x);
  if (is_cancelled(submitted, encounter_root))
    withdraw_diagnoses(e, c, *episode, text(*encounter, "id"));
  return e;
}

effects cancel_report_package(const command& c, view& v) {
  json content;
  if (auto f = read_content(c, diagnostic_report_package_cancel_content_schema(),
                            report_package_one_of, content))
    return *f;
  if (!v.person_status(c.patient_id)) return not_found("Patient not found");
  const json& submitted = field(content, "diagnostic_report");
  auto report = v.get(kind::diagnostic_report, c.patient_id, text(submitted, "id"));
  if (!report) return not_found("Diagnostic report not found");
  // Not in the reference, which lets anyone cancel any report: the report's own managing
  // organization plays the part the episode's does for encounters.
  const json& organization = field(*report, "managing_organization");
  if (!organization.is_null())
    if (auto err = managing_organization_error(reference_id(organization), c.client_id, v))
      return unprocessable("$.diagnostic_report.managing_organization.identifier.value", *err);

  cancellation x{c, v, content, report_root, cancelled_with_report, *report, {}};
  if (auto f = check_cancellation(x)) return *f;
  return cancelled(x);
}

// The reference validates only the body fields it reads.
json only(const json& body, std::initializer_list<const char*> keys) {
  if (!body.is_object()) return body;
  json out = json::object();
  for (auto* key : keys)
    if (body.contains(key)) out[key] = body[key];
  return out;
}

}  // namespace

result<accepted> check_package_request(const request& r, view& v) {
  bool with_visit = r.type == job_type::package_create;
  auto vs = with_visit
                ? package_create_request_schema().validate(only(r.body, {"signed_data", "visit"}))
                : schemas::signed_data_schema().validate(only(r.body, {"signed_data"}));
  // Encounter package cancel checks its schema before the patient; the others after.
  if (r.type == job_type::package_cancel && !vs.empty()) return request_invalid(vs);
  if (auto err = check_patient(r.patient_id, v)) return *err;
  if (!vs.empty()) return request_invalid(vs);
  return accepted{r.patient_id};
}

effects handle_package_job(const command& c, view& v) {
  switch (c.type) {
    case job_type::package_create:
      return create_encounter_package(c, v);
    case job_type::package_cancel:
      return cancel_encounter_package(c, v);
    case job_type::diagnostic_report_package_create:
      return create_report_package(c, v);
    case job_type::diagnostic_report_package_cancel:
      return cancel_report_package(c, v);
    default:
      return internal_error(std::string("not a package job: ") + wire_name(c.type));
  }
}

}  // namespace medflow::flows::medical_events
