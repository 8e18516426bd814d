#include "flows/hri/batch_topic.hpp"

#include "core/json.hpp"

#include <charconv>

namespace medflow::flows::hri {

namespace {

// Our headers come after the record's own, and hri.headers says how many of those there are:
// a record's own header named like ours is kept as it was and never read as ours.
const char* h_kind = "hri.kind";  // "record" | "action"
const char* h_count = "hri.headers";
const char* h_tenant = "hri.tenant";
const char* h_batch = "hri.batch";
const char* h_topic = "hri.source.topic";
const char* h_partition = "hri.source.partition";
const char* h_offset = "hri.source.offset";
const char* h_timestamp = "hri.source.timestamp";
const char* h_key = "hri.source.key";  // absent: the record had no key
const char* h_failure = "hri.verdict";  // the validator's failure; absent: valid

std::optional<int64_t> to_int(const std::string* s) {
  if (!s) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc{} || end != s->data() + s->size()) return std::nullopt;
  return v;
}

std::optional<action> action_of(const std::string& name) {
  for (auto a : {action::send_complete, action::terminate, action::processing_complete,
                 action::fail})
    if (name == action_name(a)) return a;
  return std::nullopt;
}

json opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
std::optional<int64_t> opt_of(const json& j, const char* k) {
  if (!j.contains(k) || j[k].is_null()) return std::nullopt;
  return j[k].get<int64_t>();
}

}  // namespace

std::string batch_key_of(const std::string& tenant, const std::string& batch_id) {
  return tenant + "/" + batch_id;
}

bus::message record_entry(const judged_record& j) {
  const auto& r = j.rec;
  bus::message m{batch_records_topic, batch_key_of(j.tenant, j.batch_id.value_or("")), r.value,
                 r.hdrs, std::nullopt};
  auto& hs = m.hdrs;
  hs.emplace_back(h_tenant, j.tenant);
  hs.emplace_back(h_batch, j.batch_id.value_or(""));
  hs.emplace_back(h_topic, r.topic);
  hs.emplace_back(h_partition, std::to_string(r.partition));
  hs.emplace_back(h_offset, std::to_string(r.offset));
  hs.emplace_back(h_timestamp, std::to_string(r.timestamp_ms));
  if (r.key) hs.emplace_back(h_key, *r.key);
  if (j.validator_failure) hs.emplace_back(h_failure, *j.validator_failure);
  hs.emplace_back(h_count, std::to_string(r.hdrs.size()));
  hs.emplace_back(h_kind, "record");
  return m;
}

bus::message action_message(const action_entry& a) {
  const auto& r = a.request;
  json v = {{"tenant", a.tenant},
            {"batchId", a.batch_id},
            {"requestId", a.request_id},
            {"action", action_name(r.a)},
            {"expectedRecordCount", opt(r.expected_record_count)},
            {"actualRecordCount", opt(r.actual_record_count)},
            {"invalidRecordCount", opt(r.invalid_record_count)},
            {"failureMessage", r.failure_message ? json(*r.failure_message) : json(nullptr)},
            {"metadata", r.metadata},
            {"sub", a.who.sub},
            {"scopes", a.who.scopes},
            {"authDisabled", a.who.auth_disabled}};
  return {batch_records_topic,
          batch_key_of(a.tenant, a.batch_id),
          v.dump(),
          {{h_count, "0"}, {h_kind, "action"}},
          std::nullopt};
}

batch_entry decode_entry(const bus::record& r) {
  const std::string* kind = r.header(h_kind);
  if (!kind) return std::string("no hri.kind header");
  if (*kind == "action") {
    try {
      // Within json.max_depth: anything may write to the topic.
      auto parsed = parse_json_limited(r.value);
      if (!parsed) return std::string("action entry unreadable: ") + parsed.err().message;
      auto& v = *parsed;
      auto a = action_of(v.at("action").get<std::string>());
      if (!a) return std::string("unknown action");
      action_entry e;
      e.tenant = v.at("tenant").get<std::string>();
      e.batch_id = v.at("batchId").get<std::string>();
      e.request_id = v.at("requestId").get<std::string>();
      e.request.a = *a;
      e.request.expected_record_count = opt_of(v, "expectedRecordCount");
      e.request.actual_record_count = opt_of(v, "actualRecordCount");
      e.request.invalid_record_count = opt_of(v, "invalidRecordCount");
      if (v.contains("failureMessage") && !v["failureMessage"].is_null())
        e.request.failure_message = v["failureMessage"].get<std::string>();
      e.request.metadata = v.value("metadata", json(nullptr));
      e.who.sub = v.at("sub").get<std::string>();
      e.who.scopes = v.at("scopes").get<std::set<std::string>>();
      e.who.auth_disabled = v.at("authDisabled").get<bool>();
      if (e.request_id.empty()) return std::string("action without a request id");
      return e;
    } catch (const std::exception& ex) {
      return std::string("action entry unreadable: ") + ex.what();
    }
  }
  if (*kind != "record") return std::string("unknown hri.kind");
  auto count = to_int(r.header(h_count));
  auto partition = to_int(r.header(h_partition));
  auto offset = to_int(r.header(h_offset));
  auto ts = to_int(r.header(h_timestamp));
  const std::string* tenant = r.header(h_tenant);
  const std::string* batch = r.header(h_batch);
  const std::string* topic = r.header(h_topic);
  if (!count || *count < 0 || static_cast<size_t>(*count) > r.hdrs.size() || !partition ||
      *partition < 0 || *partition > INT32_MAX || !offset || *offset < 0 || !ts || !tenant ||
      !batch || batch->empty() || !topic)
    return std::string("record entry without its source position");
  judged_record j;
  j.tenant = *tenant;
  j.batch_id = *batch;
  j.rec.topic = *topic;
  j.rec.partition = static_cast<int32_t>(*partition);
  j.rec.offset = *offset;
  j.rec.timestamp_ms = *ts;
  j.rec.value = r.value;
  // Ours follow the record's own headers, so the source key and verdict are read among ours.
  bus::headers own(r.hdrs.begin(), r.hdrs.begin() + *count);
  for (auto it = r.hdrs.begin() + *count; it != r.hdrs.end(); ++it) {
    if (it->first == h_key) j.rec.key = it->second;
    if (it->first == h_failure) j.validator_failure = it->second;
  }
  j.rec.hdrs = std::move(own);
  return j;
}

}  // namespace medflow::flows::hri
