// Schemas of the package routes: the outer request bodies and the signed content of encounter
// and diagnostic report packages (create and cancel), written after the reference's draft-04
// schemas. Every entity keeps its top-level fields, required lists, statuses, dates and
// references; deep optional substructures (sampled data, ranges, ratios, reference ranges,
// vaccination protocols, stages, evidences, risk predictions and bases) are only typed as
// objects. The four content schemas share one set of entity definitions; the variants differ
// where the reference's differ (see the patch functions below).
#include "flows/medical_events/package_content.hpp"
#include "flows/medical_events/schemas.hpp"

#include <algorithm>

namespace medflow::flows::medical_events {

namespace {

using namespace schemas;

json boolean_type() {
  return {{"type", "boolean"}};
}

// The lists the reference caps at one item.
json single_item_list(json items) {
  auto list = array_of(std::move(items), true);
  list["maxItems"] = 1;
  return list;
}

// -- the entities of the packages, as the reference's schemas define them ------------------------

json encounter() {
  return object_schema(
      {{"id", ref("uuid")},
       {"status", string_enum({"finished"})},
       {"episode", ref("reference")},
       {"visit", ref("reference")},
       {"class", coding(string_enum({"eHealth/encounter_classes"}), string_type())},
       {"type", ref("codeable_concept")},
       {"incoming_referral", ref("reference")},
       {"performer", ref("reference")},
       {"reasons", ref("concepts")},
       {"diagnoses", array_of(ref("diagnosis"), true)},
       {"actions", ref("concepts")},
       {"date", ref("date_time")},
       {"division", ref("reference")},
       {"prescriptions", string_type()},
       {"supporting_info", array_of(ref("reference"), false)}},
      {"id", "status", "episode", "visit", "class", "type", "date", "performer", "reasons",
       "diagnoses", "actions"});
}

json condition() {
  return object_schema(
      {{"id", ref("uuid")},
       {"primary_source", boolean_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"asserter", ref("reference")},
       {"asserted_date", ref("date_time")},
       {"context", ref("reference")},
       {"code", ref("codeable_concept")},
       {"clinical_status", string_type()},
       {"verification_status", string_type()},
       {"severity", ref("codeable_concept")},
       {"body_sites", ref("concepts")},
       {"onset_date", ref("date_time")},
       {"stage", ref("object")},
       {"evidences", array_of(ref("object"), false)}},
      {"id", "context", "code", "clinical_status", "verification_status", "onset_date"});
}

json observation() {
  return object_schema(
      {{"id", ref("uuid")},
       {"primary_source", boolean_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"performer", ref("reference")},
       {"status", string_type()},
       {"context", ref("reference")},
       {"diagnostic_report", ref("reference")},
       {"based_on", single_item_list(ref("typed_reference"))},
       {"categories", single_item_list(ref("codeable_concept"))},
       {"code", ref("codeable_concept")},
       {"effective_date_time", ref("date_time")},
       {"effective_period", ref("closed_period")},
       {"issued", ref("date_time")},
       {"interpretation", ref("optional_codeable_concept")},
       {"comment", string_type()},
       {"body_site", ref("optional_codeable_concept")},
       {"method", ref("optional_codeable_concept")},
       {"value_quantity", ref("quantity")},
       {"value_codeable_concept", ref("codeable_concept")},
       {"value_sampled_data", ref("object")},
       {"value_string", string_type()},
       {"value_boolean", boolean_type()},
       {"value_range", ref("object")},
       {"value_ratio", ref("object")},
       {"value_time",
        {{"type", "string"}, {"pattern", "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"}}},
       {"value_date_time", ref("date_time")},
       {"value_period", ref("period")},
       {"reference_ranges", array_of(ref("object"), false)},
       {"components", array_of(ref("object"), true)},
       {"reaction_on", ref("reference")}},
      {"id", "status", "context", "categories", "code", "issued", "primary_source"});
}

json immunization() {
  return object_schema(
      {{"id", ref("uuid")},
       {"status", string_type()},
       {"not_given", boolean_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"vaccine_code", ref("codeable_concept")},
       {"context", ref("reference")},
       {"date", ref("date_time")},
       {"performer", ref("reference")},
       {"primary_source", boolean_type()},
       {"legal_entity", ref("reference")},
       {"manufacturer", non_empty_string()},
       {"lot_number", string_type()},
       {"expiration_date", ref("date_time")},
       {"site", ref("codeable_concept")},
       {"route", ref("codeable_concept")},
       {"dose_quantity", ref("quantity")},
       {"explanation",
        object_schema({{"reasons", ref("concepts")}, {"reasons_not_given", ref("concepts")}}, {})},
       {"vaccination_protocols", array_of(ref("object"), true)}},
      {"id", "status", "not_given", "vaccine_code", "context", "date", "primary_source"});
}

json allergy_intolerance() {
  return object_schema(
      {{"id", ref("uuid")},
       {"clinical_status", non_empty_string()},
       {"verification_status", non_empty_string()},
       {"type", non_empty_string()},
       {"category", non_empty_string()},
       {"criticality", non_empty_string()},
       {"context", ref("reference")},
       {"code", ref("codeable_concept")},
       {"onset_date_time", ref("date_time")},
       {"asserted_date", ref("date_time")},
       {"primary_source", boolean_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"asserter", ref("reference")},
       {"last_occurrence", ref("date_time")}},
      {"id", "clinical_status", "verification_status", "type", "category", "criticality", "context",
       "code", "onset_date_time", "asserted_date", "primary_source"});
}

json risk_assessment() {
  return object_schema({{"id", ref("uuid")},
                        {"status", string_type()},
                        {"method", ref("object")},
                        {"code", ref("object")},
                        {"context", ref("typed_reference")},
                        {"asserted_date", ref("date_time")},
                        {"primary_source", boolean_type()},
                        {"basis", ref("object")},
                        {"predictions", array_of(ref("object"), false)},
                        {"mitigation", string_type()},
                        {"comment", string_type()},
                        {"performer", ref("reference")},
                        {"reason_codes", array_of(ref("object"), false)},
                        {"reason_references", array_of(ref("typed_reference"), false)}},
                       {"id", "status", "code", "context", "asserted_date"});
}

json device() {
  return object_schema(
      {{"id", ref("uuid")},
       {"status", string_type()},
       {"asserted_date", ref("date_time")},
       {"usage_period", ref("period")},
       {"context", ref("typed_reference")},
       {"primary_source", boolean_type()},
       {"type", ref("optional_codeable_concept")},
       {"lot_number", string_type()},
       {"manufacturer", string_type()},
       {"manufacture_date", ref("date_time")},
       {"expiration_date", ref("date_time")},
       {"model", string_type()},
       {"version", string_type()},
       {"note", string_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"asserter", ref("reference")}},
      {"id", "status", "asserted_date", "usage_period", "context", "primary_source", "type"});
}

json medication_statement() {
  return object_schema(
      {{"id", ref("uuid")},
       {"based_on", ref("typed_reference")},
       {"asserted_date", ref("date_time")},
       {"status", string_type()},
       {"context", ref("typed_reference")},
       {"primary_source", boolean_type()},
       {"effective_period", string_type()},
       {"medication_code", ref("optional_codeable_concept")},
       {"note", string_type()},
       {"dosage", string_type()},
       {"report_origin", ref("optional_codeable_concept")},
       {"asserter", ref("reference")}},
      {"id", "asserted_date", "status", "context", "primary_source", "medication_code"});
}

json diagnostic_report() {
  return object_schema(
      {{"id", ref("uuid")},
       {"based_on", ref("typed_reference")},
       {"status", string_enum({"final"})},
       {"category", array_of(ref("optional_codeable_concept"), false)},
       {"effective_date_time", ref("date_time")},
       {"effective_period", ref("period")},
       {"issued", ref("date_time")},
       {"code", ref("reference")},
       {"conclusion", string_type()},
       {"conclusion_code", ref("optional_codeable_concept")},
       {"recorded_by", ref("typed_reference")},
       {"encounter", ref("typed_reference")},
       {"primary_source", boolean_type()},
       {"managing_organization", ref("typed_reference")},
       {"report_origin", ref("optional_codeable_concept")},
       {"performer", ref("executor")},
       {"results_interpreter", ref("executor")}},
      {"id", "status", "code", "issued", "recorded_by", "encounter", "primary_source"});
}

// The shapes the entities are made of.
json building_blocks() {
  return {
      {"uuid", uuid()},
      {"date_time", date_time()},
      {"object", any_object()},
      {"coding", array_of(coding(string_type(), string_type()), true)},
      {"codeable_concept", concept_of(ref("coding"), string_type())},
      {"optional_codeable_concept", concept_of(ref("coding"), string_type(), false)},
      {"identifier", identifier(ref("codeable_concept"), false)},
      {"typed_identifier", identifier(ref("optional_codeable_concept"), true)},
      {"reference", reference(ref("identifier"))},
      {"typed_reference", reference(ref("typed_identifier"))},
      {"executor", object_schema({{"text", string_type()}, {"reference", ref("reference")}}, {})},
      {"period", period(ref("date_time"), {"start"})},
      {"closed_period", period(ref("date_time"), {"start", "end"})},
      {"quantity", object_schema({{"value", {{"type", "number"}}},
                                  {"comparator", string_enum({">", ">=", "=", "<=", "<"})},
                                  {"unit", string_type()},
                                  {"system", string_enum({"eHealth/ucum/units"})},
                                  {"code", string_type()}},
                                 {"value", "unit"})},
      {"concepts", array_of(ref("codeable_concept"), true)}};
}

json definitions() {
  auto d = building_blocks();
  d["visit"] =
      object_schema({{"id", ref("uuid")}, {"period", ref("closed_period")}}, {"id", "period"});
  d["diagnosis"] = object_schema({{"condition", ref("reference")},
                                  {"role", ref("codeable_concept")},
                                  {"rank", {{"type", "number"}, {"maximum", 10}}}},
                                 {"condition", "role"});
  d["encounter"] = encounter();
  d["condition"] = condition();
  d["observation"] = observation();
  d["immunization"] = immunization();
  d["allergy_intolerance"] = allergy_intolerance();
  d["risk_assessment"] = risk_assessment();
  d["device"] = device();
  d["medication_statement"] = medication_statement();
  d["diagnostic_report"] = diagnostic_report();
  return d;
}

// A package document: one root entity and lists of up to 50 entities each.
json package_schema(json definitions, const char* root,
                    const std::vector<std::pair<const char*, const char*>>& lists) {
  json properties = {{root, ref(root)}};
  for (auto& [key, definition] : lists) {
    auto list = array_of(ref(definition), false);
    list["minItems"] = 0;
    list["maxItems"] = 50;
    properties[key] = std::move(list);
  }
  auto schema = object_schema(std::move(properties), {root});
  schema["definitions"] = std::move(definitions);
  return schema;
}

// Cancelled content states why (cancellation_reason, explanatory_letter) and may carry any
// status; the cancelling user repeats the rest of what was created.
void allow_cancellation_fields(json& entity) {
  entity["properties"]["status"] = string_type();
  entity["properties"]["explanatory_letter"] = string_type();
  entity["properties"]["cancellation_reason"] = ref("codeable_concept");
}

void unrequire(json& entity, const std::string& name) {
  auto& required = entity["required"];
  required.erase(std::remove(required.begin(), required.end(), json(name)), required.end());
}

// The reference's encounter package cancel: the encounter states why it is cancelled instead of
// its status; conditions and immunizations need no status.
json cancel_definitions() {
  auto d = definitions();
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
  auto d = definitions();
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

json package_create_request() {
  auto schema = object_schema({{"visit", ref("visit")}, {"signed_data", non_empty_string()}},
                              {"signed_data"});
  schema["definitions"] = definitions();
  return schema;
}

json package_create_content() {
  return package_schema(definitions(), "encounter", encounter_package_lists);
}

json package_cancel_content() {
  return package_schema(cancel_definitions(), "encounter", encounter_package_lists);
}

json report_package_create_content() {
  return package_schema(diagnostic_report_package_definitions(false), "diagnostic_report",
                        {{"observations", "observation"}});
}

json report_package_cancel_content() {
  return package_schema(diagnostic_report_package_definitions(true), "diagnostic_report",
                        {{"observations", "observation"}});
}

}  // namespace

const json_schema::schema& package_create_request_schema() {
  return compiled<package_create_request>();
}

const json_schema::schema& package_create_content_schema() {
  return compiled<package_create_content>();
}

const json_schema::schema& package_cancel_content_schema() {
  return compiled<package_cancel_content>();
}

const json_schema::schema& diagnostic_report_package_create_content_schema() {
  return compiled<report_package_create_content>();
}

const json_schema::schema& diagnostic_report_package_cancel_content_schema() {
  return compiled<report_package_cancel_content>();
}

}  // namespace medflow::flows::medical_events
