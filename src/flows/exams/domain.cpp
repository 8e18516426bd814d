#include "flows/exams/domain.hpp"

#include "core/base64.hpp"
#include "core/clock.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace medflow::exams {

namespace {

error field_error(const std::string& field, const std::string& why) {
  return error::bad_request(field + ": " + why);
}

std::string rfc3339(int64_t ms) { return clock::iso8601_ms(ms); }

json opt_time(const std::optional<int64_t>& t) { return t ? json(rfc3339(*t)) : json(nullptr); }

bool is_id_text(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

// A string field of an object: absent or null gives "" when optional.
result<std::string> string_field(const json& o, const char* name, bool required,
                                 size_t max_bytes) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) {
    if (required) return field_error(name, "required");
    return std::string();
  }
  if (!it->is_string()) return field_error(name, "expected a string");
  const auto& s = it->get_ref<const std::string&>();
  if (required && s.empty()) return field_error(name, "required");
  if (s.size() > max_bytes)
    return field_error(name, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

result<std::optional<int64_t>> time_field(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_string() || !clock::is_rfc3339_date_time(it->get_ref<const std::string&>()))
    return field_error(name, "expected an RFC 3339 date-time, e.g. 2022-08-08T10:00:00Z");
  auto ms = clock::parse_iso8601(it->get_ref<const std::string&>());
  // Within 1970..9999 (UTC), so that its RFC 3339 form reads back.
  if (!ms || *ms < 0 || *ms > 253402300799999)
    return field_error(name, "expected an RFC 3339 date-time between 1970 and 9999");
  return std::optional<int64_t>(*ms);
}

}  // namespace

// -- patients ---------------------------------------------------------------------------------------

const char* patient_status_name(patient_status s) {
  switch (s) {
    case patient_status::pending: return "pending";
    case patient_status::active: return "active";
    case patient_status::inactive: return "inactive";
  }
  return "pending";
}

std::optional<patient_status> parse_patient_status(std::string_view s) {
  if (s == "pending") return patient_status::pending;
  if (s == "active") return patient_status::active;
  if (s == "inactive") return patient_status::inactive;
  return std::nullopt;
}

json to_json(const patient& p) {
  json j = {{"id", p.id},
            {"document", p.document},
            {"name", p.name},
            {"birth_date", p.birth_date},
            {"status", patient_status_name(p.status)},
            {"created_at", rfc3339(p.created_at)}};
  if (p.updated_at) j["updated_at"] = rfc3339(p.updated_at);
  j["deleted_at"] = opt_time(p.deleted_at);
  j["cellphone"] = p.cellphone;
  if (p.cellphone_verified_at) j["cellphone_verified_at"] = rfc3339(*p.cellphone_verified_at);
  j["email"] = p.email;
  if (p.email_verified_at) j["email_verified_at"] = rfc3339(*p.email_verified_at);
  if (p.data.is_object() && !p.data.empty()) j["data"] = p.data;
  return j;
}

result<patient> patient_from_json(const json& j) {
  if (!j.is_object()) return error::bad_request("patient: expected a JSON object");
  patient p;
  auto id = string_field(j, "id", true, 64);
  if (!id) return id.err();
  p.id = *id;
  auto doc = string_field(j, "document", false, 64);
  if (!doc) return doc.err();
  p.document = *doc;
  auto name = string_field(j, "name", false, 200);
  if (!name) return name.err();
  p.name = *name;
  auto birth = string_field(j, "birth_date", false, 10);
  if (!birth) return birth.err();
  p.birth_date = *birth;
  auto st = string_field(j, "status", true, 16);
  if (!st) return st.err();
  auto ps = parse_patient_status(*st);
  if (!ps) return field_error("status", "expected pending, active or inactive");
  p.status = *ps;
  auto phone = string_field(j, "cellphone", false, 32);
  if (!phone) return phone.err();
  p.cellphone = *phone;
  auto email = string_field(j, "email", false, 254);
  if (!email) return email.err();
  p.email = *email;
  for (auto [name_, out] : {std::pair{"created_at", &p.created_at}, {"updated_at", &p.updated_at}}) {
    auto t = time_field(j, name_);
    if (!t) return t.err();
    *out = t->value_or(0);
  }
  auto del = time_field(j, "deleted_at");
  if (!del) return del.err();
  p.deleted_at = *del;
  auto pv = time_field(j, "cellphone_verified_at");
  if (!pv) return pv.err();
  p.cellphone_verified_at = *pv;
  auto ev = time_field(j, "email_verified_at");
  if (!ev) return ev.err();
  p.email_verified_at = *ev;
  if (auto it = j.find("data"); it != j.end() && it->is_object()) p.data = *it;
  return p;
}

status check_name(std::string_view name) {
  if (name.find_first_of("!@$%*") != std::string_view::npos)
    return error::bad_request("must not contain any of ! @ $ % *");
  size_t parts = 0;
  size_t i = 0;
  while (i < name.size()) {
    while (i < name.size() && name[i] == ' ') ++i;
    if (i == name.size()) break;
    ++parts;
    while (i < name.size() && name[i] != ' ') ++i;
  }
  if (parts < 2) return error::bad_request("needs at least two space-separated parts");
  if (!printable(name)) return error::bad_request("contains a control character");
  return ok_status();
}

status check_email(std::string_view email) {
  auto at = email.find('@');
  if (at == std::string_view::npos) return error::bad_request("expected local@domain");
  if (email.find('@', at + 1) != std::string_view::npos)
    return error::bad_request("more than one @");
  auto local = email.substr(0, at);
  auto domain = email.substr(at + 1);
  if (local.empty() || domain.empty()) return error::bad_request("expected local@domain");
  if (!printable(email) || email.find(' ') != std::string_view::npos)
    return error::bad_request("contains a space or a control character");
  // A.10's block list (compared case-insensitively: domains are).
  static const std::array<std::string_view, 3> blocked{"spam.uk", "spam.com", "test.com"};
  std::string lower(domain);
  for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (auto b : blocked)
    if (lower == b) return error::bad_request("domain is blocked");
  return ok_status();
}

status check_cellphone(std::string_view phone) {
  if (phone.empty() || !std::all_of(phone.begin(), phone.end(),
                                    [](char c) { return c >= '0' && c <= '9'; }))
    return error::bad_request("expected digits only");
  if (phone.size() < 11 || phone.size() > 15)
    return error::bad_request("expected 11 to 15 digits");
  if (phone[phone.size() - 9] != '9')
    return error::bad_request("the 9th digit from the end must be 9 (a mobile number)");
  return ok_status();
}

result<patient_input> read_patient_input(const json& body) {
  if (!body.is_object()) return error::bad_request("request body: expected a JSON object");
  static const std::array<std::string_view, 9> known{
      "document", "name",  "birth_date",        "status", "cellphone", "cellphone_verified_at",
      "email",    "email_verified_at", "data"};
  for (auto& [k, v] : body.items()) {
    (void)v;
    if (std::find(known.begin(), known.end(), k) == known.end())
      return field_error(k.size() > 64 ? k.substr(0, 64) + "..." : k, "unknown field");
  }
  patient_input in;
  auto doc = string_field(body, "document", true, 64);
  if (!doc) return doc.err();
  if (!printable(*doc)) return field_error("document", "contains a control character");
  in.document = *doc;
  auto name = string_field(body, "name", true, 200);
  if (!name) return name.err();
  if (auto ok = check_name(*name); !ok) return field_error("name", ok.err().message);
  in.name = *name;
  auto birth = string_field(body, "birth_date", false, 10);
  if (!birth) return birth.err();
  if (!birth->empty() && !clock::is_rfc3339_date(*birth))
    return field_error("birth_date", "expected YYYY-MM-DD");
  in.birth_date = *birth;
  auto st = string_field(body, "status", false, 16);
  if (!st) return st.err();
  if (!st->empty()) {
    auto ps = parse_patient_status(*st);
    if (!ps) return field_error("status", "expected pending, active or inactive");
    in.status = *ps;
  }
  auto email = string_field(body, "email", false, 254);
  if (!email) return email.err();
  if (!email->empty())
    if (auto ok = check_email(*email); !ok) return field_error("email", ok.err().message);
  in.email = *email;
  auto phone = string_field(body, "cellphone", false, 32);
  if (!phone) return phone.err();
  if (!phone->empty())
    if (auto ok = check_cellphone(*phone); !ok) return field_error("cellphone", ok.err().message);
  in.cellphone = *phone;
  auto ev = time_field(body, "email_verified_at");
  if (!ev) return ev.err();
  if (*ev && in.email.empty()) return field_error("email_verified_at", "set without an email");
  in.email_verified_at = *ev;
  auto pv = time_field(body, "cellphone_verified_at");
  if (!pv) return pv.err();
  if (*pv && in.cellphone.empty())
    return field_error("cellphone_verified_at", "set without a cellphone");
  in.cellphone_verified_at = *pv;
  if (auto it = body.find("data"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return field_error("data", "expected a JSON object");
    in.data = *it;
  }
  return in;
}

// -- catalog ----------------------------------------------------------------------------------------

const exam_type* catalog::find(int64_t code) const {
  auto it = types.find(code);
  return it == types.end() ? nullptr : &it->second;
}

result<catalog> parse_catalog(const json& doc) {
  if (!doc.is_object()) return error::bad_request("expected a JSON object");
  for (auto& [k, v] : doc.items()) {
    (void)v;
    if (k != "exam_types" && (k.empty() || k[0] != '_'))
      return field_error(k, "unknown field (expected exam_types)");
  }
  auto it = doc.find("exam_types");
  if (it == doc.end() || !it->is_array()) return field_error("exam_types", "expected an array");
  if (it->size() > 10000) return field_error("exam_types", "more than 10000 types");
  catalog c;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    std::string at = "exam_types[" + std::to_string(i) + "]";
    if (!t.is_object()) return field_error(at, "expected an object");
    for (auto& [k, v] : t.items()) {
      (void)v;
      if (k != "code" && k != "name" && k != "result_validity_days" && (k.empty() || k[0] != '_'))
        return field_error(at + "." + k, "unknown field");
    }
    exam_type et;
    auto code = t.find("code");
    if (code == t.end() || !code->is_number_integer())
      return field_error(at + ".code", "expected an integer");
    et.code = code->get<int64_t>();
    if (et.code < 0 || et.code > std::numeric_limits<int32_t>::max())
      return field_error(at + ".code", "expected 0..2147483647");
    auto name = t.find("name");
    if (name == t.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > 200)
      return field_error(at + ".name", "expected a string of 1..200 bytes");
    et.name = name->get<std::string>();
    auto validity = t.find("result_validity_days");
    if (validity == t.end() || !validity->is_number_integer() ||
        validity->get<int64_t>() < 1 || validity->get<int64_t>() > 36500)
      return field_error(at + ".result_validity_days", "expected an integer 1..36500");
    et.result_validity_days = validity->get<int64_t>();
    if (c.types.count(et.code))
      return field_error(at + ".code", "duplicate code " + std::to_string(et.code));
    c.types.emplace(et.code, std::move(et));
  }
  return c;
}

// -- exams ------------------------------------------------------------------------------------------

const char* exam_status_name(exam_status s) {
  switch (s) {
    case exam_status::registered: return "Registered";
    case exam_status::started: return "Started";
    case exam_status::finished: return "Finished";
    case exam_status::revoked: return "Revoked";
  }
  return "Registered";
}

std::optional<exam_status> parse_exam_status(std::string_view s) {
  for (auto st : {exam_status::registered, exam_status::started, exam_status::finished,
                  exam_status::revoked})
    if (s == exam_status_name(st)) return st;
  return std::nullopt;
}

bool transition_allowed(exam_status from, exam_status to) {
  switch (to) {
    case exam_status::started: return from == exam_status::registered;
    case exam_status::finished: return from == exam_status::started;
    case exam_status::revoked:
      return from == exam_status::registered || from == exam_status::started;
    case exam_status::registered: return false;
  }
  return false;
}

json to_json(const exam& e) {
  json j = {{"exam_id", e.id},
            {"patient_id", e.patient_id},
            {"status", exam_status_name(e.status)},
            {"exam_type", e.exam_type},
            {"created_at", rfc3339(e.created_at)},
            {"updated_at", rfc3339(e.updated_at)},
            {"finished_at", opt_time(e.finished_at)},
            {"is_revoked", e.status == exam_status::revoked}};
  if (e.status == exam_status::revoked) {
    j["revoked_at"] = opt_time(e.revoked_at);
    j["revoke_reason"] = e.revoke_reason;
  }
  if (!e.result_id.empty()) j["result_id"] = e.result_id;
  if (e.result_valid_until) j["result_valid_until"] = rfc3339(*e.result_valid_until);
  return j;
}

// -- tokens -----------------------------------------------------------------------------------------

json exam_token_claims(const exam& e, const std::string& jti, int64_t now_s, int64_t ttl_s) {
  return {{"patient_id", e.patient_id}, {"exam_id", e.id}, {"exam_type", e.exam_type},
          {"iat", now_s},               {"exp", now_s + ttl_s}, {"jti", jti}};
}

namespace {

result<std::string> id_claim(const json& p, const char* name) {
  auto it = p.find(name);
  if (it == p.end() || !it->is_string()) return field_error(name, "missing or not a string");
  if (!is_id_text(it->get_ref<const std::string&>()))
    return field_error(name, "expected 1..64 characters of A-Z a-z 0-9 - _ .");
  return it->get<std::string>();
}

}  // namespace

result<exam_claims> read_exam_claims(const json& payload) {
  exam_claims c;
  auto pid = id_claim(payload, "patient_id");
  if (!pid) return pid.err();
  c.patient_id = *pid;
  auto eid = id_claim(payload, "exam_id");
  if (!eid) return eid.err();
  c.exam_id = *eid;
  auto jti = id_claim(payload, "jti");
  if (!jti) return jti.err();
  c.jti = *jti;
  auto t = payload.find("exam_type");
  if (t == payload.end() || !t->is_number_integer())
    return field_error("exam_type", "missing or not an integer");
  c.exam_type = t->get<int64_t>();
  return c;
}

result<result_claims> read_result_claims(const json& payload) {
  result_claims c;
  auto eid = id_claim(payload, "exam_id");
  if (!eid) return eid.err();
  c.exam_id = *eid;
  auto rid = id_claim(payload, "result_id");
  if (!rid) return rid.err();
  c.result_id = *rid;
  auto by = payload.find("issued_by");
  if (by == payload.end() || !by->is_string() || by->get_ref<const std::string&>().empty() ||
      by->get_ref<const std::string&>().size() > 200 ||
      !printable(by->get_ref<const std::string&>()))
    return field_error("issued_by", "missing or not a string of 1..200 printable bytes");
  c.issued_by = by->get<std::string>();
  return c;
}

// -- result files -----------------------------------------------------------------------------------

result<result_file> read_result_file(const json& doc, bool content_required) {
  if (!doc.is_object()) return error::bad_request("expected a JSON object");
  result_file f;
  auto et = string_field(doc, "exam_token", true, 8192);
  if (!et) return et.err();
  f.exam_token = *et;
  auto rt = string_field(doc, "result_token", true, 8192);
  if (!rt) return rt.err();
  f.result_token = *rt;
  auto ct = string_field(doc, "content_type", content_required, 255);
  if (!ct) return ct.err();
  if (!printable(*ct)) return field_error("content_type", "contains a control character");
  f.content_type = *ct;
  auto content = string_field(doc, "content", content_required, std::string::npos);
  if (!content) return content.err();
  if (!content->empty()) {
    auto bytes = base64::decode(*content);
    if (!bytes) return field_error("content", "not base64");
    f.content = std::move(*bytes);
  }
  return f;
}

}  // namespace medflow::exams
