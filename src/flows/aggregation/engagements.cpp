// Engagements and FindContent as JSON, with the engagement index XSD's element names and
// formats (itintegration_engagementindex_1.0.xsd, FindContentResponder_1.0.xsd).
#include "flows/aggregation/domain.hpp"

#include <array>

namespace medflow::flows::aggregation {

namespace {

constexpr const char* rrid_pattern = "^[0-9]{8}[0-9pPtTfF][0-9]{3}$";

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// RegisteredResidentIdentificationType: a personnummer or samordningsnummer (12 digits), or a
// reserve number with P, T or F in the ninth position.
bool valid_rrid(const std::string& s) {
  if (s.size() != 12) return false;
  for (size_t i = 0; i < 12; ++i) {
    if (i == 8) {
      if (!digit(s[i]) && std::string("pPtTfF").find(s[i]) == std::string::npos) return false;
    } else if (!digit(s[i])) {
      return false;
    }
  }
  return true;
}

// The XSD's TS pattern, checked by hand (engagements arrive in bulk; no regex per field):
// [1-9]YYY (01-12) (00-31) (00-23) (00-59) (00-59).
bool valid_ts(const std::string& s) {
  if (s.size() != 14) return false;
  for (char c : s)
    if (!digit(c)) return false;
  auto two = [&](size_t at) { return (s[at] - '0') * 10 + (s[at + 1] - '0'); };
  return s[0] != '0' && two(4) >= 1 && two(4) <= 12 && two(6) <= 31 && two(8) <= 23 &&
         two(10) <= 59 && two(12) <= 59;
}

error field_error(const std::string& where, const std::string& field, const std::string& what) {
  return error::bad_request(where + "." + field + " " + what);
}

// No identifier or time of the index holds a NUL character ("\u0000" in JSON), and
// PostgreSQL's text cannot store one: refused on every backend alike.
std::optional<error> no_nul(const std::string& where, const char* field, const std::string& v) {
  if (v.find('\0') == std::string::npos) return std::nullopt;
  return field_error(where, field, "must not contain a NUL character (\\u0000)");
}

// A required string element; `non_empty` for the ones an empty value makes meaningless (what is
// matched on and what a call is addressed to).
std::optional<error> required_string(const json& j, const std::string& where, const char* field,
                                     bool non_empty, std::string& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return field_error(where, field, "is required");
  if (!it->is_string()) return field_error(where, field, "must be a string");
  out = it->get<std::string>();
  if (non_empty && out.empty()) return field_error(where, field, "must not be empty");
  return no_nul(where, field, out);
}

// An optional string element: absent and null are both "not given".
std::optional<error> optional_string(const json& j, const std::string& where, const char* field,
                                     std::optional<std::string>& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return field_error(where, field, "must be a string");
  out = it->get<std::string>();
  return no_nul(where, field, *out);
}

std::optional<error> optional_ts(const json& j, const std::string& where, const char* field,
                                 std::optional<std::string>& out) {
  if (auto e = optional_string(j, where, field, out)) return e;
  if (out && !valid_ts(*out))
    return field_error(where, field, "must be a timestamp yyyyMMddHHmmss (14 digits)");
  return std::nullopt;
}

}  // namespace

json to_json(const engagement& e) {
  json j = {{"registeredResidentIdentification", e.registered_resident_identification},
            {"serviceDomain", e.service_domain},
            {"categorization", e.categorization},
            {"logicalAddress", e.logical_address},
            {"businessObjectInstanceIdentifier", e.business_object_instance_identifier},
            {"clinicalProcessInterestId", e.clinical_process_interest_id},
            {"sourceSystem", e.source_system},
            {"dataController", e.data_controller}};
  if (e.most_recent_content) j["mostRecentContent"] = *e.most_recent_content;
  if (e.creation_time) j["creationTime"] = *e.creation_time;
  if (e.update_time) j["updateTime"] = *e.update_time;
  if (e.owner) j["owner"] = *e.owner;
  return j;
}

// Elements the XSD marks required must be present; the xs:string ones may be empty (the XSD
// allows it and real index data uses e.g. "NA"), except serviceDomain, logicalAddress and
// sourceSystem, which are matched on and addressed to. Unknown members are ignored like the
// XSD's trailing xs:any.
result<engagement> engagement_from_json(const json& j) {
  const std::string where = "engagement";
  if (!j.is_object()) return error::bad_request("engagement must be a JSON object");
  engagement e;
  if (auto err = required_string(j, where, "registeredResidentIdentification", false,
                                 e.registered_resident_identification))
    return *err;
  if (!valid_rrid(e.registered_resident_identification))
    return field_error(where, "registeredResidentIdentification",
                       std::string("must match ") + rrid_pattern);
  if (auto err = required_string(j, where, "serviceDomain", true, e.service_domain)) return *err;
  if (auto err = required_string(j, where, "categorization", false, e.categorization)) return *err;
  if (auto err = required_string(j, where, "logicalAddress", true, e.logical_address)) return *err;
  if (auto err = required_string(j, where, "businessObjectInstanceIdentifier", false,
                                 e.business_object_instance_identifier))
    return *err;
  if (auto err = required_string(j, where, "clinicalProcessInterestId", false,
                                 e.clinical_process_interest_id))
    return *err;
  if (auto err = optional_ts(j, where, "mostRecentContent", e.most_recent_content)) return *err;
  if (auto err = required_string(j, where, "sourceSystem", true, e.source_system)) return *err;
  if (auto err = optional_ts(j, where, "creationTime", e.creation_time)) return *err;
  if (auto err = optional_ts(j, where, "updateTime", e.update_time)) return *err;
  if (auto err = required_string(j, where, "dataController", false, e.data_controller)) return *err;
  if (auto err = optional_string(j, where, "owner", e.owner)) return *err;
  return e;
}

// A JSON array of the identity's fields: unambiguous whatever the values contain.
std::string identity_key(const engagement& e) {
  return json::array({e.registered_resident_identification, e.service_domain, e.categorization,
                      e.logical_address, e.business_object_instance_identifier,
                      e.clinical_process_interest_id, e.source_system, e.data_controller})
      .dump();
}

// FindContent's other optional filters are refused rather than ignored: ignoring one would
// answer with engagements the asker excluded. AgP itself only ever sets the three supported.
result<find_content> find_content_from_json(const json& j) {
  const std::string where = "findContent";
  if (!j.is_object()) return error::bad_request("findContent must be a JSON object");
  static const std::array<const char*, 7> unsupported = {"logicalAddress",
                                                         "businessObjectInstanceIdentifier",
                                                         "clinicalProcessInterestId",
                                                         "mostRecentContent",
                                                         "sourceSystem",
                                                         "dataController",
                                                         "owner"};
  for (const char* field : unsupported) {
    auto it = j.find(field);
    if (it != j.end() && !it->is_null())
      return field_error(where, field,
                         "is not supported (the index is searched by "
                         "registeredResidentIdentification, serviceDomain and categorization)");
  }
  find_content f;
  if (auto err = required_string(j, where, "registeredResidentIdentification", false,
                                 f.registered_resident_identification))
    return *err;
  if (!valid_rrid(f.registered_resident_identification))
    return field_error(where, "registeredResidentIdentification",
                       std::string("must match ") + rrid_pattern);
  if (auto err = required_string(j, where, "serviceDomain", true, f.service_domain)) return *err;
  if (auto err = optional_string(j, where, "categorization", f.categorization)) return *err;
  // An empty categorization asks for no category in particular, like an absent one.
  if (f.categorization && f.categorization->empty()) f.categorization.reset();
  return f;
}

json to_json(const find_content& f) {
  json j = {{"registeredResidentIdentification", f.registered_resident_identification},
            {"serviceDomain", f.service_domain}};
  if (f.categorization) j["categorization"] = *f.categorization;
  return j;
}

bool matches(const find_content& f, const engagement& e) {
  return e.registered_resident_identification == f.registered_resident_identification &&
         e.service_domain == f.service_domain &&
         (!f.categorization || e.categorization == *f.categorization);
}

}  // namespace medflow::flows::aggregation
