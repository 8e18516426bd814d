#include "flows/aggregation/index.hpp"

#include "core/clock.hpp"

#include <chrono>
#include <future>
#include <memory>

namespace medflow::flows::aggregation {

std::vector<store::migration> index_migrations() {
  return {
      {"aggregation", 1, "engagement index",
       "CREATE TABLE agp_engagements ("
       "  identity TEXT PRIMARY KEY, rrid TEXT NOT NULL, service_domain TEXT NOT NULL,"
       "  categorization TEXT NOT NULL, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);"
       "CREATE INDEX agp_engagements_lookup ON agp_engagements(rrid, service_domain);"},
  };
}

result<std::vector<engagement>> local_index::find(const find_content& f, const caller&) {
  std::vector<engagement> out;
  auto rd = db_.reader();
  auto q = rd->prepare(
      "SELECT doc FROM agp_engagements WHERE rrid=? AND service_domain=? AND "
      "(?3 IS NULL OR categorization=?3) ORDER BY rowid");
  q.bind(1, f.registered_resident_identification).bind(2, f.service_domain).bind(3, f.categorization);
  while (q.step()) {
    auto e = engagement_from_json(json::parse(q.text_view(0)));
    if (e) out.push_back(std::move(*e));
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
              "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(identity) DO UPDATE SET "
              "doc=excluded.doc, updated_at=excluded.updated_at")
          .bind_all(id, o.e.registered_resident_identification, o.e.service_domain,
                    o.e.categorization, to_json(o.e).dump(), clock::now_ms())
          .exec();
      ++upserted;
    }
    return std::make_pair(upserted, deleted);
  });
}

result<std::vector<engagement>> remote_index::find(const find_content& f, const caller& c) {
  http_client::request r;
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
  auto p = std::make_shared<std::promise<http_client::response>>();
  auto fut = p->get_future();
  http_.call(std::move(r), [p](http_client::response resp) { p->set_value(std::move(resp)); });
  // The client's own timeout ends the call; the margin only guards against a callback that
  // never comes (it always does: http_client runs each exactly once).
  http_client::response resp;
  if (fut.wait_for(std::chrono::milliseconds(o_.timeout_ms + 1000)) == std::future_status::ready)
    resp = fut.get();
  else
    resp.result = http_client::response::outcome::timeout;
  using o = http_client::response::outcome;
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
  auto j = json::parse(resp.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("engagement") || !j["engagement"].is_array())
    return error{502, "engagement_index_fault",
                 "the engagement index's answer has no engagement list", {}};
  std::vector<engagement> out;
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
