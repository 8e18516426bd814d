// Statuses, the batch JSON, authorization texts, topics and invalid-record messages.
#include "flows/hri/domain.hpp"

#include "core/clock.hpp"

namespace medflow::flows::hri {

namespace {

struct status_info {
  status s;
  const char* name;
};

const status_info statuses[] = {{status::started, "started"},
                                {status::send_completed, "sendCompleted"},
                                {status::completed, "completed"},
                                {status::failed, "failed"},
                                {status::terminated, "terminated"}};

error unauthorized(std::string message) {
  return {401, "unauthorized", std::move(message), {}};
}

}  // namespace

const char* status_name(status s) {
  for (const auto& i : statuses)
    if (i.s == s) return i.name;
  return "unknown";
}

std::optional<status> parse_status(std::string_view text) {
  for (const auto& i : statuses)
    if (text == i.name) return i.s;
  return std::nullopt;
}

const char* action_name(action a) {
  switch (a) {
    case action::send_complete:
      return "sendComplete";
    case action::terminate:
      return "terminate";
    case action::processing_complete:
      return "processingComplete";
    case action::fail:
      return "fail";
  }
  return "unknown";
}

json to_json(const batch& b) {
  // nlohmann's objects are ordered maps, so the keys come out alphabetically as Go's map
  // marshalling writes them.
  json j = {{"id", b.id},
            {"name", b.name},
            {"integratorId", b.integrator_id},
            {"topic", b.topic},
            {"dataType", b.data_type},
            {"status", status_name(b.st)},
            {"startDate", clock::iso8601(b.start_ms)},
            {"invalidThreshold", b.invalid_threshold}};
  if (b.end_ms) j["endDate"] = clock::iso8601(*b.end_ms);
  if (b.expected_record_count) {
    j["expectedRecordCount"] = *b.expected_record_count;
    j["recordCount"] = *b.expected_record_count;  // the deprecated name, mirrored
  }
  if (b.actual_record_count) j["actualRecordCount"] = *b.actual_record_count;
  if (b.invalid_record_count) j["invalidRecordCount"] = *b.invalid_record_count;
  if (!b.metadata.is_null()) j["metadata"] = b.metadata;
  if (b.failure_message) j["failureMessage"] = *b.failure_message;
  return j;
}

// -- authorization --------------------------------------------------------------------------------

std::optional<error> check_tenant_scope(const principal& p, const std::string& tenant,
                                        const std::string& scope_text) {
  if (p.auth_disabled || p.has("tenant_" + tenant)) return std::nullopt;
  return unauthorized("Unauthorized tenant access. Tenant '" + tenant +
                      "' is not included in the authorized scopes: " + scope_text + ".");
}

std::optional<error> check_create_role(const principal& p) {
  if (p.auth_disabled) return std::nullopt;
  if (!p.has(scope_integrator)) {
    return unauthorized("Must have hri_data_integrator role to create a batch");
  }
  // The sub claim becomes the batch's integratorId, which ownership checks compare against.
  if (p.sub.empty()) return unauthorized("JWT access token 'sub' claim must be populated.");
  return std::nullopt;
}

std::optional<error> check_read_role(const principal& p) {
  if (p.auth_disabled || p.has(scope_consumer) || p.has(scope_integrator)) return std::nullopt;
  return unauthorized(
      "The access token must have one of these scopes: hri_consumer, hri_data_integrator");
}

std::optional<error> check_action_role(const principal& p, action a) {
  if (p.auth_disabled) return std::nullopt;
  switch (a) {
    case action::send_complete:
      if (p.has(scope_integrator)) return std::nullopt;
      return unauthorized("Must have hri_data_integrator role to initiate sendComplete on a batch");
    case action::terminate:
      if (p.has(scope_integrator)) return std::nullopt;
      return unauthorized("Must have hri_data_integrator role to terminate a batch");
    case action::processing_complete:
      if (p.has(scope_internal)) return std::nullopt;
      return unauthorized("Must have hri_internal role to mark a batch as processingComplete");
    case action::fail:
      if (p.has(scope_internal)) return std::nullopt;
      return unauthorized("Must have hri_internal role to mark a batch as failed");
  }
  return std::nullopt;
}

bool integrator_only(const principal& p) {
  return !p.auth_disabled && p.has(scope_integrator) && !p.has(scope_consumer);
}

std::optional<error> check_read_owner(const principal& p, const batch& b) {
  if (!integrator_only(p) || p.sub == b.integrator_id) return std::nullopt;
  return unauthorized("The token's sub claim (clientId): " + p.sub +
                      " does not match the data integratorId: " + b.integrator_id);
}

error batch_not_found(const std::string& tenant, const std::string& batch_id, bool for_action) {
  std::string text = "The document for tenantId: " + tenant +
                     " with document (batch) ID: " + batch_id + " was not found";
  return error::not_found(for_action ? "error getting current Batch Status: " + text : text);
}

// -- topics and messages
// ----------------------------------------------------------------------------

stream_topics topics_of(const std::string& tenant, const std::string& stream) {
  std::string base = "ingest." + tenant + "." + stream;
  return {base + ".in", base + ".notification", base + ".out", base + ".invalid"};
}

std::string notification_topic(const std::string& input_topic) {
  // HRI appends ".notification" even to a topic that does not end in ".in".
  const std::string in = ".in";
  bool has_in = input_topic.size() >= in.size() &&
                input_topic.compare(input_topic.size() - in.size(), in.size(), in) == 0;
  return (has_in ? input_topic.substr(0, input_topic.size() - in.size()) : input_topic) +
         ".notification";
}

std::string output_topic(const std::string& input_topic, const std::string& suffix) {
  // The validation job replaces the input topic's last part ("in").
  std::string tail = !suffix.empty() && suffix[0] == '.' ? suffix.substr(1) : suffix;
  auto dot = input_topic.rfind('.');
  if (dot == std::string::npos) return input_topic + "." + tail;
  return input_topic.substr(0, dot + 1) + tail;
}

result<topic_grants> parse_topic_grants(std::string_view text) {
  topic_grants out;
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  while (!trim(text).empty()) {
    auto comma = text.find(',');
    auto pair = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    auto colon = pair.find(':');
    std::string_view tenant, topic;
    if (colon != std::string_view::npos) {
      tenant = trim(pair.substr(0, colon));
      topic = trim(pair.substr(colon + 1));
    }
    if (tenant.empty() || topic.empty())
      return error::bad_request("expected <tenant>:<topic>, got \"" + std::string(pair) + "\"");
    out[std::string(tenant)].insert(std::string(topic));
  }
  return out;
}

std::optional<error> check_batch_topic(const std::string& tenant, const std::string& topic,
                                       const topic_grants& grants) {
  const std::string own = "ingest." + tenant + ".";
  if (topic.size() > own.size() && topic.compare(0, own.size(), own) == 0) return std::nullopt;
  auto granted = grants.find(tenant);
  if (granted != grants.end() && granted->second.count(topic) > 0) return std::nullopt;
  return error{403, "forbidden",
               "Unauthorized topic access. Topic '" + topic + "' is not in tenant '" + tenant +
                   "''s namespace (" + own + "*) and not granted to it (hri.topic_grants).",
               {}};
}

json invalid_record(const std::optional<std::string>& batch_id, const std::string& topic,
                    int32_t partition, int64_t offset, const std::string& failure) {
  json j = {{"topic", topic}, {"partition", partition}, {"offset", offset}, {"failure", failure}};
  if (batch_id) j["batchId"] = *batch_id;
  return j;
}

}  // namespace medflow::flows::hri
