#include "flows/medical_events/common.hpp"

#include "core/crypto.hpp"

#include <algorithm>

namespace medflow::flows::medical_events {

namespace {

const json& element(const json& j, size_t i) {
  static const json null_value;
  return j.is_array() && i < j.size() ? j[i] : null_value;
}

// The kind of a reference's eHealth resource type, for the kinds medflow stores.
std::optional<kind> referenced_kind(const json& ref) {
  auto& code = first_code(field(field(ref, "identifier"), "type"));
  if (!code.is_string()) return std::nullopt;
  auto& name = code.get_ref<const std::string&>();
  return parse_kind_name(name == "episode_of_care" ? "episode" : name);
}

// What may be referenced, with the reference's texts (ME:core/validators/*_reference.ex).
struct reference_rule {
  kind k;
  const char* not_found;
  const char* entered_in_error;  // null: any status may be referenced
};

const reference_rule reference_rules[] = {
    {kind::episode, "Episode with such ID is not found", nullptr},
    {kind::encounter, "Encounter with such id is not found",
     "Encounter in \"entered_in_error\" status can not be referenced"},
    {kind::diagnostic_report, "Diagnostic report with such id is not found",
     "Diagnostic report in \"entered_in_error\" status can not be referenced"},
    {kind::condition, "Condition with such id is not found", nullptr},
    {kind::observation, "Observation with such id is not found",
     "Observation in \"entered_in_error\" status can not be referenced"},
};

std::optional<std::string> reference_problem(view& v, const std::string& patient_id,
                                             const json& ref, bool active_episodes) {
  auto k = referenced_kind(ref);
  if (!k) return std::nullopt;
  for (auto& rule : reference_rules) {
    if (rule.k != *k) continue;
    auto doc = v.get(*k, patient_id, reference_id(ref));
    if (!doc) return std::string(rule.not_found);
    auto status = text(*doc, "status");
    if (rule.entered_in_error && status == "entered_in_error")
      return std::string(rule.entered_in_error);
    if (*k == kind::episode && active_episodes && status != "active")
      return std::string("Episode is not active");
  }
  return std::nullopt;
}

}  // namespace

// -- reading jobs -------------------------------------------------------------------------------

const json& field(const json& obj, const char* key) {
  static const json null_value;
  if (!obj.is_object()) return null_value;
  auto it = obj.find(key);
  return it == obj.end() ? null_value : *it;
}

std::string text(const json& obj, const char* key) {
  const json& v = field(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

const json& first_code(const json& codeable) {
  return field(element(field(codeable, "coding"), 0), "code");
}

std::string path_param(const json& params, const char* name) {
  return text(params, name);
}

// -- violations and outcomes --------------------------------------------------------------------

json_schema::violation invalid(std::string entry, std::string description) {
  return {std::move(entry), "invalid", std::move(description), json::array()};
}

void append(violations& to, violations more) {
  to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}

violations one_of_violations(const json& object, const std::string& path,
                             const std::vector<std::string>& fields, bool required) {
  if (!object.is_object()) return {};
  json params = json::array();
  std::vector<std::string> present;
  for (auto& f : fields) {
    params.push_back(path + "." + f);
    if (object.contains(f)) present.push_back(f);
  }
  violations out;
  if (present.size() > 1)
    for (auto& f : present)
      out.push_back(
          {path + "." + f, "oneOf", "Only one of the parameters must be present", params});
  if (present.empty() && required)
    out.push_back({path, "oneOf", "At least one of the parameters must be present", params});
  return out;
}

effects job_failure(const error& e) {
  effects out;
  if (e.status == 422)
    out.result = {422,
                  {{"type", "validation_failed"}, {"message", e.message}, {"invalid", e.detail}}};
  else
    out.result = {e.status, e.message};
  return out;
}

// -- documents ------------------------------------------------------------------------------------

json public_doc(const json& doc) {
  if (!doc.is_object()) return doc;
  json out = json::object();
  for (auto& [key, value] : doc.items())
    if (key.empty() || key[0] != '_') out[key] = value;
  return out;
}

std::string derived_uuid(const command& c, const std::string& purpose) {
  auto h = crypto::sha256_hex(c.job_id + ":" + c.nonce + ":" + purpose).substr(0, 32);
  h[12] = '4';
  int variant = (h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3;
  h[16] = "89ab"[variant];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

// -- references -----------------------------------------------------------------------------------

json reference_to(const std::string& code, const std::string& id) {
  json coding = {{"system", "eHealth/resources"}, {"code", code}};
  return {{"identifier", {{"type", {{"coding", json::array({coding})}}}, {"value", id}}}};
}

std::string reference_key(const json& ref) {
  auto k = referenced_kind(ref);
  auto id = reference_id(ref);
  if (!k || id.empty()) return {};
  return std::string(kind_name(*k)) + "/" + id;
}

std::vector<std::string> reference_keys(std::initializer_list<const json*> groups) {
  std::vector<std::string> keys;
  auto add = [&](const json& ref) {
    auto key = reference_key(ref);
    if (!key.empty() && std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  };
  for (auto* g : groups) {
    if (g->is_array())
      for (auto& ref : *g) add(ref);
    else if (g->is_object())
      add(*g);
  }
  return keys;
}

violations reference_violations(view& v, const std::string& patient_id, const json& refs,
                                const std::string& path, bool active_episodes) {
  violations out;
  auto check = [&](const json& ref, const std::string& at) {
    if (auto problem = reference_problem(v, patient_id, ref, active_episodes))
      out.push_back(invalid(at + ".identifier.value", *problem));
  };
  if (refs.is_array())
    for (size_t i = 0; i < refs.size(); ++i) check(refs[i], path + "[" + std::to_string(i) + "]");
  else if (refs.is_object())
    check(refs, path);
  return out;
}

// -- people ---------------------------------------------------------------------------------------

bool employee_of_user(view& v, const std::string& user_id, const std::string& client_id,
                      const std::string& employee_id) {
  for (auto& e : v.employees_of_user(user_id))
    if (e.id == employee_id && e.legal_entity_id == client_id) return true;
  return false;
}

json current_auth_method(const person& p) {
  auto& methods = field(p.doc, "authentication_methods");
  if (!methods.is_array() || methods.empty()) return nullptr;
  for (auto& m : methods)
    if (otp_phone(m)) return m;
  return methods[0];
}

std::optional<std::string> otp_phone(const json& method) {
  if (text(method, "type") != "OTP") return std::nullopt;
  auto phone = text(method, "phone_number");
  if (phone.empty()) return std::nullopt;
  return phone;
}

bus::message sms_message(const std::string& patient_id, const std::string& phone,
                         const std::string& body) {
  json value = {{"type", "sms"}, {"phone_number", phone}, {"body", body}};
  return {notifications_topic, patient_id, value.dump(), {}, std::nullopt};
}

}  // namespace medflow::flows::medical_events
