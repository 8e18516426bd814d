#include "flows/aggregation/index.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>

namespace medflow::flows::aggregation {

namespace {

// Migration 2 on one dialect: the field columns added (the same on both), then filled from each
// row's doc, `extract(key)` being the dialect's way to read a JSON field as text.
std::string fields_as_columns(std::string (*extract)(const std::string& key)) {
  struct column {
    const char* name;
    const char* key;
    bool required;  // NOT NULL DEFAULT ''
  };
  static const column columns[] = {{"logical_address", "logicalAddress", true},
                                   {"boid", "businessObjectInstanceIdentifier", true},
                                   {"cpi", "clinicalProcessInterestId", true},
                                   {"most_recent_content", "mostRecentContent", false},
                                   {"source_system", "sourceSystem", true},
                                   {"creation_time", "creationTime", false},
                                   {"update_time", "updateTime", false},
                                   {"data_controller", "dataController", true},
                                   {"owner", "owner", false}};
  std::string add, set;
  for (const auto& c : columns) {
    add += std::string("ALTER TABLE agp_engagements ADD COLUMN ") + c.name +
           (c.required ? " TEXT NOT NULL DEFAULT '';" : " TEXT;");
    set += std::string(set.empty() ? " " : ", ") + c.name + " = " +
           (c.required ? "coalesce(" + extract(c.key) + ", '')" : extract(c.key));
  }
  return add + "UPDATE agp_engagements SET" + set + ";";
}

}  // namespace

std::vector<store::migration> index_migrations() {
  return {
      {"aggregation", 1, "engagement index",
       "CREATE TABLE agp_engagements ("
       "  identity TEXT PRIMARY KEY, rrid TEXT NOT NULL, service_domain TEXT NOT NULL,"
       "  categorization TEXT NOT NULL, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);"
       "CREATE INDEX agp_engagements_lookup ON agp_engagements(rrid, service_domain);",
       // PostgreSQL has no rowid: seq keeps the order rows were first inserted in (an upsert
       // keeps it, like SQLite's rowid).
       "CREATE TABLE agp_engagements ("
       "  identity TEXT PRIMARY KEY, rrid TEXT NOT NULL, service_domain TEXT NOT NULL,"
       "  categorization TEXT NOT NULL, doc TEXT NOT NULL, updated_at BIGINT NOT NULL,"
       "  seq BIGINT GENERATED ALWAYS AS IDENTITY);"
       "CREATE INDEX agp_engagements_lookup ON agp_engagements(rrid, service_domain);"},
      // find() read and validated each row's JSON doc (≈ 5 % of the CPU of an aggregated
      // request at 1,950/s); the fields it returns are columns now, filled from the docs.
      {"aggregation", 2, "engagement fields as columns",
       fields_as_columns([](const std::string& k) { return "json_extract(doc, '$." + k + "')"; }),
       fields_as_columns([](const std::string& k) { return "doc::jsonb->>'" + k + "'"; })},
  };
}

error too_many_engagements(size_t max) {
  return {502, "engagement_index_too_large",
          "the engagement index found more than " + std::to_string(max) +
              " engagements for the request (aggregation.max_engagements)",
          {}};
}

result<std::vector<engagement>> local_index::find(const find_content& f, const caller&,
                                                  size_t max) {
  std::vector<engagement> out;
  auto rd = db_.reader();
  // The flow's one statement that differs by dialect: the insertion order is SQLite's rowid,
  // PostgreSQL's seq column.
  static const std::string select =
      "SELECT rrid, service_domain, categorization, logical_address, boid, cpi, "
      "most_recent_content, source_system, creation_time, update_time, data_controller, owner "
      "FROM agp_engagements WHERE rrid=? AND service_domain=? AND "
      "(CAST(? AS TEXT) IS NULL OR categorization=?) ORDER BY ";
  static const std::string by_rowid = select + "rowid LIMIT ?", by_seq = select + "seq LIMIT ?";
  auto q = rd->prepare(store::sql(*rd, by_rowid.c_str(), by_seq.c_str()));
  // One row more than the limit tells that there are more.
  q.bind_all(f.registered_resident_identification, f.service_domain, f.categorization,
             f.categorization, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX - 1)) + 1);
  // Every row was validated when it was upserted.
  while (q.step()) {
    if (out.size() == max) return too_many_engagements(max);
    engagement& e = out.emplace_back();
    e.registered_resident_identification = q.text_view(0);
    e.service_domain = q.text_view(1);
    e.categorization = q.text_view(2);
    e.logical_address = q.text_view(3);
    e.business_object_instance_identifier = q.text_view(4);
    e.clinical_process_interest_id = q.text_view(5);
    e.most_recent_content = q.opt_text(6);
    e.source_system = q.text_view(7);
    e.creation_time = q.opt_text(8);
    e.update_time = q.opt_text(9);
    e.data_controller = q.text_view(10);
    e.owner = q.opt_text(11);
  }
  return out;
}

result<std::pair<int, int>> local_index::update(const json& body) {
  if (!body.is_object() || !body.contains("engagementTransaction") ||
      !body["engagementTransaction"].is_array())
    return error::bad_request("body must be {\"engagementTransaction\": [...]}");
  struct op {
    bool remove;
    engagement e;
  };
  std::vector<op> ops;
  auto& list = body["engagementTransaction"];
  for (size_t i = 0; i < list.size(); ++i) {
    auto at = "engagementTransaction[" + std::to_string(i) + "]";
    auto& t = list[i];
    if (!t.is_object() || !t.contains("engagement"))
      return error::bad_request(at + ".engagement is required");
    if (t.contains("deleteFlag") && !t["deleteFlag"].is_boolean())
      return error::bad_request(at + ".deleteFlag must be a boolean");
    auto e = engagement_from_json(t["engagement"]);
    if (!e) return error::bad_request(at + ": " + e.err().message);
    ops.push_back({t.value("deleteFlag", false), std::move(*e)});
  }
  return db_.write().run([&](store::tx& t) -> result<std::pair<int, int>> {
    int upserted = 0, deleted = 0;
    for (auto& o : ops) {
      auto id = identity_key(o.e);
      if (o.remove) {
        deleted += t.conn.prepare("DELETE FROM agp_engagements WHERE identity=?").bind_all(id).exec();
        continue;
      }
      t.conn
          .prepare(
              "INSERT INTO agp_engagements(identity, rrid, service_domain, categorization, doc, "
              "updated_at, logical_address, boid, cpi, most_recent_content, source_system, "
              "creation_time, update_time, data_controller, owner) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(identity) DO UPDATE "
              "SET doc=excluded.doc, updated_at=excluded.updated_at, "
              "most_recent_content=excluded.most_recent_content, "
              "creation_time=excluded.creation_time, update_time=excluded.update_time, "
              "owner=excluded.owner")
          .bind_all(id, o.e.registered_resident_identification, o.e.service_domain,
                    o.e.categorization, to_json(o.e).dump(), clock::now_ms(), o.e.logical_address,
                    o.e.business_object_instance_identifier, o.e.clinical_process_interest_id,
                    o.e.most_recent_content, o.e.source_system, o.e.creation_time,
                    o.e.update_time, o.e.data_controller, o.e.owner)
          .exec();
      ++upserted;
    }
    return std::make_pair(upserted, deleted);
  });
}

result<std::vector<engagement>> remote_index::find(const find_content& f, const caller& c,
                                                   size_t max) {
  net::http_client::request r;
  r.url = o_.find_content_url;
  r.body = to_json(f).dump();
  r.timeout_ms = o_.timeout_ms;
  r.headers = {{"Content-Type", "application/json"},
               {"x-vp-sender-id", o_.sender_id},
               {"x-vp-instance-id", o_.vp_instance_id},
               {"x-rivta-original-serviceconsumer-hsaid", c.original_consumer},
               {"x-skltp-correlation-id", c.correlation_id}};
  // Shared with the callback: set_value may still be returning on the other thread when this
  // one wakes up and leaves.
  auto p = std::make_shared<std::promise<net::http_client::response>>();
  auto fut = p->get_future();
  http_.call(std::move(r), [p](net::http_client::response resp) { p->set_value(std::move(resp)); });
  // The client's own timeout ends the call; the margin only guards against a callback that
  // never comes (it always does: http_client runs each exactly once).
  net::http_client::response resp;
  if (fut.wait_for(std::chrono::milliseconds(o_.timeout_ms + 1000)) == std::future_status::ready)
    resp = fut.get();
  else
    resp.result = net::http_client::response::outcome::timeout;
  using o = net::http_client::response::outcome;
  if (resp.result == o::timeout)
    return error{504, "engagement_index_timeout",
                 "the engagement index did not answer within " + std::to_string(o_.timeout_ms) +
                     " ms",
                 {}};
  if (resp.result != o::ok)
    return error{502, "engagement_index_unavailable",
                 "the engagement index could not be reached: " + resp.error, {}};
  if (resp.status != 200)
    return error{502, "engagement_index_fault",
                 "the engagement index answered " + std::to_string(resp.status) + ": " +
                     resp.body.substr(0, 200),
                 {}};
  auto parsed = parse_json_limited(resp.body);
  if (!parsed && !parsed.err().detail.is_null())
    return error{502, "engagement_index_fault",
                 "the engagement index's answer: " + parsed.err().message, {}};
  json j = parsed ? std::move(*parsed) : json();
  if (!j.is_object() || !j.contains("engagement") || !j["engagement"].is_array())
    return error{502, "engagement_index_fault",
                 "the engagement index's answer has no engagement list", {}};
  if (j["engagement"].size() > max) return too_many_engagements(max);
  std::vector<engagement> out;
  out.reserve(j["engagement"].size());
  for (auto& item : j["engagement"]) {
    auto e = engagement_from_json(item);
    if (!e)
      return error{502, "engagement_index_fault",
                   "the engagement index answered an invalid engagement: " + e.err().message, {}};
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace medflow::flows::aggregation
