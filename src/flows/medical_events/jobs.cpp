#include "flows/medical_events/jobs.hpp"

#include "core/base64.hpp"
#include "core/crypto.hpp"
#include "core/json.hpp"
#include "core/json_fast.hpp"

namespace medflow::flows::medical_events {

std::string encode_message(const job_message& m) {
  return json{{"id", m.job_id},
              {"type", wire_name(m.type)},
              {"patient_id", m.patient_id},
              {"user_id", m.user_id},
              {"client_id", m.client_id},
              {"params", m.params},
              {"body", m.body},
              {"inserted_at", m.inserted_us}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

result<job_message> decode_message(std::string_view value) {
  // The body a request passed sits one level down in the message.
  auto parsed = parse_json_limited(value, max_json_depth() + 1);
  if (!parsed && !parsed.err().detail.is_null())
    return error::bad_request("value: " + parsed.err().message);
  if (!parsed || !parsed->is_object()) return error::bad_request("value is not a JSON object");
  json& j = *parsed;
  auto text = [&](const char* k) -> std::optional<std::string> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  job_message m;
  auto id = text("id"), type = text("type"), pid = text("patient_id");
  if (!id || id->empty()) return error::bad_request("missing job id");
  if (!type) return error::bad_request("missing job type");
  auto t = parse_job_type(*type);
  if (!t) return error::bad_request("unknown job type " + *type);
  if (!pid) return error::bad_request("missing patient_id");
  m.job_id = *id;
  m.type = *t;
  m.patient_id = *pid;
  m.user_id = text("user_id").value_or("");
  m.client_id = text("client_id").value_or("");
  m.params = j.value("params", json::object());
  m.body = j.value("body", json::object());
  auto at = j.find("inserted_at");
  m.inserted_us = at != j.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
  return m;
}

std::string request_hash(const request& r, const std::string& salt) {
  // nlohmann::json objects are ordered maps: the dump is canonical for equal content.
  json data = {{"type", wire_name(r.type)}, {"patient_id", r.patient_id}, {"params", r.params},
               {"body", r.body},            {"user_id", r.user_id},       {"client_id", r.client_id}};
  if (!salt.empty()) data["salt"] = salt;
  return base64::encode_url(crypto::sha256(json_fast::dump(data)));
}

namespace {

json job_links(const job_record& j) {
  return json::array({{{"entity", "job"}, {"href", "/jobs/" + j.id}}});
}

}  // namespace

json accepted_data(const job_record& j) {
  return {{"eta", timestamp(j.eta_ms)}, {"status", status_name(j.status)}, {"links", job_links(j)}};
}

job_view render_job(const job_record& j, bool with_location) {
  job_view v;
  if (j.status == job_status::pending) {
    v.data = accepted_data(j);
    return v;
  }
  int code = j.status_code.value_or(500);
  v.data = {{"eta", timestamp(j.eta_ms)}, {"status", status_name(j.status)}, {"status_code", code}};
  if (j.status == job_status::processed) {
    if (j.response.is_object() && j.response.contains("response_data")) {
      v.data["response_data"] = j.response["response_data"];
      return v;
    }
    json links = j.response.is_object() && j.response.contains("links") ? j.response["links"]
                                                                        : json::array();
    v.data["links"] = links;
    if (!with_location) {
      v.http_status = 303;
      return v;
    }
    // The result lives at the first link; without one there is nowhere to send the client.
    if (!links.empty() && links[0].contains("href") && links[0]["href"].is_string()) {
      v.http_status = 303;
      v.location = links[0]["href"].get<std::string>();
    }
    return v;
  }
  auto message = [&] {
    return j.response.is_string() ? j.response.get<std::string>() : j.response.dump();
  };
  if (code == 409)
    v.data["error"] = {{"type", "request_conflict"}, {"message", message()}};
  else if (code == 500)
    v.data["error"] = {{"type", "internal_error"}, {"message", message()}};
  else
    v.data["error"] = j.response;
  return v;
}

json cut_response(json response, size_t max_bytes) {
  auto size = [](const json& j) { return json_fast::dump(j).size(); };
  if (size(response) <= max_bytes) return response;
  if (response.is_string()) {
    auto s = response.get<std::string>();
    // Cut on a UTF-8 character boundary.
    size_t n = std::min(s.size(), max_bytes > 3 ? max_bytes - 3 : 0);
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n) + "...";
  }
  if (response.is_object() && response.contains("invalid") && response["invalid"].is_array()) {
    for (auto& entry : response["invalid"])
      if (entry.contains("rules"))
        for (auto& rule : entry["rules"]) rule["params"] = json::array();
    while (size(response) > max_bytes && !response["invalid"].empty())
      response["invalid"].erase(response["invalid"].size() - 1);
    if (size(response) <= max_bytes) return response;
  }
  return cut_response(json(response.dump()), max_bytes);
}

}  // namespace medflow::flows::medical_events
