#include "flows/medical_events/package_content.hpp"

#include <algorithm>
#include <iterator>
#include <set>

namespace medflow::flows::medical_events {

namespace {

// Where each kind of document refers to something else: a dotted path to a reference
// ({"identifier": {"value": …}}), "[]" marking a list, and the kind of what it refers to.
struct reference_field {
  kind owner;
  const char* path;
  const char* target;
};

const reference_field reference_fields[] = {
    {kind::episode, "managing_organization", "legal_entity"},
    {kind::episode, "care_manager", "employee"},
    {kind::encounter, "episode", "episode"},
    {kind::encounter, "visit", "visit"},
    {kind::encounter, "performer", "employee"},
    {kind::encounter, "division", "division"},
    {kind::encounter, "incoming_referral", "service_request"},
    {kind::encounter, "diagnoses[].condition", "condition"},
    {kind::condition, "context", "encounter"},
    {kind::condition, "asserter", "employee"},
    {kind::observation, "context", "encounter"},
    {kind::observation, "diagnostic_report", "diagnostic_report"},
    {kind::observation, "performer", "employee"},
    {kind::immunization, "context", "encounter"},
    {kind::immunization, "performer", "employee"},
    {kind::allergy_intolerance, "context", "encounter"},
    {kind::allergy_intolerance, "asserter", "employee"},
    {kind::risk_assessment, "context", "encounter"},
    {kind::risk_assessment, "performer", "employee"},
    {kind::device, "context", "encounter"},
    {kind::device, "asserter", "employee"},
    {kind::medication_statement, "context", "encounter"},
    {kind::medication_statement, "asserter", "employee"},
    {kind::diagnostic_report, "encounter", "encounter"},
    {kind::diagnostic_report, "based_on", "service_request"},
    {kind::diagnostic_report, "recorded_by", "employee"},
    {kind::diagnostic_report, "managing_organization", "legal_entity"},
};

// Collects the reference ids found at `path` (from segment `at` on) below `node`.
void collect_ids(const json& node, const std::vector<std::string>& path, size_t at,
                 std::vector<std::string>& out) {
  if (at == path.size()) {
    auto id = reference_id(node);
    if (!id.empty()) out.push_back(id);
    return;
  }
  const auto& segment = path[at];
  bool many = segment.size() > 2 && segment.compare(segment.size() - 2, 2, "[]") == 0;
  const json& next =
      field(node, many ? segment.substr(0, segment.size() - 2).c_str() : segment.c_str());
  if (!many) return collect_ids(next, path, at + 1, out);
  if (next.is_array())
    for (auto& item : next) collect_ids(item, path, at + 1, out);
}

std::vector<std::string> split_path(const char* path) {
  std::vector<std::string> out;
  std::string part;
  for (const char* p = path; *p; ++p) {
    if (*p == '.') {
      out.push_back(part);
      part.clear();
    } else {
      part += *p;
    }
  }
  out.push_back(part);
  return out;
}

std::vector<std::string> without(const std::vector<std::string>& a,
                                 const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (auto& x : a)
    if (std::find(b.begin(), b.end(), x) == b.end()) out.push_back(x);
  return out;
}

bool compared(const std::string& key) {
  static const std::set<std::string> ignored = {
      "status",        "verification_status", "clinical_status",    "display",
      "display_value", "cancellation_reason", "explanatory_letter", "inserted_at",
      "updated_at",    "inserted_by",         "updated_by"};
  return ignored.count(key) == 0;
}

}  // namespace

json stamped_new(json doc, const command& c) {
  auto now = timestamp(c.now_ms);
  doc["inserted_at"] = now;
  doc["updated_at"] = now;
  doc["inserted_by"] = c.user_id;
  doc["updated_by"] = c.user_id;
  return doc;
}

void stamp_updated(json& doc, const command& c) {
  doc["updated_at"] = timestamp(c.now_ms);
  doc["updated_by"] = c.user_id;
}

std::vector<std::string> references_of(kind k, const json& doc) {
  // Each field's path split once (every change of a document reads its references twice).
  static const auto split = [] {
    std::vector<std::vector<std::string>> out;
    for (auto& f : reference_fields) out.push_back(split_path(f.path));
    return out;
  }();
  std::vector<std::string> out;
  for (size_t i = 0; i < std::size(reference_fields); ++i) {
    auto& f = reference_fields[i];
    if (f.owner != k) continue;
    std::vector<std::string> ids;
    collect_ids(doc, split[i], 0, ids);
    for (auto& id : ids) {
      auto ref = std::string(f.target) + "/" + id;
      if (std::find(out.begin(), out.end(), ref) == out.end()) out.push_back(ref);
    }
  }
  return out;
}

void record_created(effects& e, kind k, const std::string& patient_id, json doc) {
  auto id = text(doc, "id");
  e.changes.push_back({k, patient_id, id, change_kind::created, references_of(k, doc), {}});
  e.writes.push_back({k, patient_id, id, std::move(doc)});
}

void record_updated(effects& e, kind k, const std::string& patient_id, const json& before,
                    json after) {
  auto id = text(after, "id");
  auto old_refs = references_of(k, before);
  auto new_refs = references_of(k, after);
  e.changes.push_back({k, patient_id, id, change_kind::updated, without(new_refs, old_refs),
                       without(old_refs, new_refs)});
  e.writes.push_back({k, patient_id, id, std::move(after)});
}

std::optional<std::string> managing_organization_error(const std::string& value,
                                                       const std::string& client_id, view& v) {
  if (value != client_id) return foreign_organization;
  auto le = v.get_legal_entity(client_id);
  if (!le) return "LegalEntity with such ID is not found";
  if (le->status != "ACTIVE") return "LegalEntity is not active";
  return std::nullopt;
}

std::optional<std::string> first_difference(const json& submitted, const json& stored,
                                            const std::string& path) {
  if (submitted.is_object() && stored.is_object()) {
    for (auto& [key, value] : submitted.items()) {
      if (!compared(key)) continue;
      if (auto d = first_difference(value, field(stored, key.c_str()), path + "." + key)) return d;
    }
    for (auto& [key, value] : stored.items())
      if (compared(key) && !submitted.contains(key)) return path + "." + key;
    return std::nullopt;
  }
  if (submitted.is_array() && stored.is_array()) {
    for (size_t i = 0; i < std::max(submitted.size(), stored.size()); ++i) {
      auto at = path + "[" + std::to_string(i) + "]";
      if (i >= submitted.size() || i >= stored.size()) return at;
      if (auto d = first_difference(submitted[i], stored[i], at)) return d;
    }
    return std::nullopt;
  }
  if (submitted == stored) return std::nullopt;
  return path;
}

}  // namespace medflow::flows::medical_events
