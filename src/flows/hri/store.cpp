#include "flows/hri/store.hpp"

namespace medflow::flows::hri {

std::vector<store::migration> migrations() {
  return {
      {"hri", 1, "tenants, streams, batches",
       "CREATE TABLE hri_tenants (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);"
       "CREATE TABLE hri_streams ("
       "  tenant TEXT NOT NULL, id TEXT NOT NULL, settings TEXT NOT NULL,"
       "  validation INTEGER NOT NULL, created_at INTEGER NOT NULL,"
       "  PRIMARY KEY (tenant, id)) WITHOUT ROWID;"
       "CREATE TABLE hri_batches ("
       "  tenant TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,"
       "  integrator_id TEXT NOT NULL, status TEXT NOT NULL, start_ms INTEGER NOT NULL,"
       "  doc TEXT NOT NULL, PRIMARY KEY (tenant, id));"
       "CREATE INDEX hri_batches_start ON hri_batches(tenant, start_ms);"
       "CREATE INDEX hri_batches_status ON hri_batches(status);",
       // PostgreSQL: 64-bit times, and the ids the API lists in order (tenants, streams, the
       // tie-break of batches) in byte order like SQLite's, whatever the server's locale.
       "CREATE TABLE hri_tenants (id TEXT COLLATE \"C\" PRIMARY KEY, created_at BIGINT NOT NULL);"
       "CREATE TABLE hri_streams ("
       "  tenant TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
       "  settings TEXT NOT NULL, validation INTEGER NOT NULL, created_at BIGINT NOT NULL,"
       "  PRIMARY KEY (tenant, id));"
       "CREATE TABLE hri_batches ("
       "  tenant TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL, name TEXT NOT NULL,"
       "  integrator_id TEXT NOT NULL, status TEXT NOT NULL, start_ms BIGINT NOT NULL,"
       "  doc TEXT NOT NULL, PRIMARY KEY (tenant, id));"
       "CREATE INDEX hri_batches_start ON hri_batches(tenant, start_ms);"
       "CREATE INDEX hri_batches_status ON hri_batches(status);"},
      {"hri", 2, "outcomes of batch actions applied by the batch's owner",
       "CREATE TABLE hri_action_outcomes (request_id TEXT PRIMARY KEY, status INTEGER NOT NULL,"
       "  message TEXT NOT NULL, created_ms INTEGER NOT NULL);"
       "CREATE INDEX hri_action_outcomes_created ON hri_action_outcomes(created_ms);",
       "CREATE TABLE hri_action_outcomes (request_id TEXT PRIMARY KEY, status INTEGER NOT NULL,"
       "  message TEXT NOT NULL, created_ms BIGINT NOT NULL);"
       "CREATE INDEX hri_action_outcomes_created ON hri_action_outcomes(created_ms);"},
  };
}

namespace {

json settings_json(const stream_settings& s) {
  json j = {{"numPartitions", s.num_partitions}, {"retentionMs", s.retention_ms},
            {"validator", s.validator}};
  if (s.retention_bytes) j["retentionBytes"] = *s.retention_bytes;
  if (s.cleanup_policy) j["cleanupPolicy"] = *s.cleanup_policy;
  if (s.segment_ms) j["segmentMs"] = *s.segment_ms;
  if (s.segment_bytes) j["segmentBytes"] = *s.segment_bytes;
  if (s.segment_index_bytes) j["segmentIndexBytes"] = *s.segment_index_bytes;
  return j;
}

stream_settings settings_from(const json& j) {
  stream_settings s;
  s.num_partitions = j.value("numPartitions", int64_t{1});
  s.retention_ms = j.value("retentionMs", int64_t{0});
  s.validator = j.value("validator", std::string("fhir"));
  auto opt_int = [&](const char* k) -> std::optional<int64_t> {
    if (!j.contains(k)) return std::nullopt;
    return j[k].get<int64_t>();
  };
  s.retention_bytes = opt_int("retentionBytes");
  s.segment_ms = opt_int("segmentMs");
  s.segment_bytes = opt_int("segmentBytes");
  s.segment_index_bytes = opt_int("segmentIndexBytes");
  if (j.contains("cleanupPolicy")) s.cleanup_policy = j["cleanupPolicy"].get<std::string>();
  return s;
}

stream_row read_stream(store::query& q) {
  return {q.text(0), q.text(1), settings_from(json::parse(q.text_view(2))), q.int64(3) != 0};
}

// The stored document: the API fields plus the tracking ones.
json batch_doc(const batch& b) {
  json j = to_json(b);
  j["_tenant"] = b.tenant;
  j["_start_ms"] = b.start_ms;
  if (b.end_ms) j["_end_ms"] = *b.end_ms;
  j["_valid_count"] = b.valid_count;
  j["_invalid_count"] = b.invalid_count;
  j["_status_changed_ms"] = b.status_changed_ms;
  j["_seen_offsets"] = b.seen_offsets;
  return j;
}

batch batch_from(const json& j) {
  batch b;
  b.id = j.at("id").get<std::string>();
  b.tenant = j.at("_tenant").get<std::string>();
  b.name = j.at("name").get<std::string>();
  b.integrator_id = j.at("integratorId").get<std::string>();
  b.topic = j.at("topic").get<std::string>();
  b.data_type = j.at("dataType").get<std::string>();
  b.st = parse_status(j.at("status").get<std::string>()).value_or(status::started);
  b.start_ms = j.at("_start_ms").get<int64_t>();
  if (j.contains("_end_ms")) b.end_ms = j["_end_ms"].get<int64_t>();
  auto opt_int = [&](const char* k) -> std::optional<int64_t> {
    if (!j.contains(k) || j[k].is_null()) return std::nullopt;
    return j[k].get<int64_t>();
  };
  b.expected_record_count = opt_int("expectedRecordCount");
  b.actual_record_count = opt_int("actualRecordCount");
  b.invalid_record_count = opt_int("invalidRecordCount");
  b.invalid_threshold = j.value("invalidThreshold", int64_t{-1});
  if (j.contains("metadata")) b.metadata = j["metadata"];
  if (j.contains("failureMessage")) b.failure_message = j["failureMessage"].get<std::string>();
  b.valid_count = j.value("_valid_count", int64_t{0});
  b.invalid_count = j.value("_invalid_count", int64_t{0});
  b.status_changed_ms = j.value("_status_changed_ms", b.start_ms);
  if (j.contains("_seen_offsets"))
    b.seen_offsets = j["_seen_offsets"].get<std::map<std::string, int64_t>>();
  return b;
}

}  // namespace

bool tenant_exists(store::connection& c, const std::string& tenant) {
  auto q = c.prepare("SELECT 1 FROM hri_tenants WHERE id=?");
  q.bind_all(tenant);
  return q.step();
}

bool insert_tenant(store::connection& c, const std::string& tenant, int64_t now_ms) {
  auto q = c.prepare(
      "INSERT INTO hri_tenants(id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING");
  return q.bind_all(tenant, now_ms).exec() > 0;
}

std::vector<std::string> list_tenants(store::connection& c) {
  std::vector<std::string> out;
  auto q = c.prepare("SELECT id FROM hri_tenants ORDER BY id");
  while (q.step()) out.push_back(q.text(0));
  return out;
}

int64_t count_batches(store::connection& c, const std::string& tenant) {
  auto q = c.prepare("SELECT count(*) FROM hri_batches WHERE tenant=?");
  q.bind_all(tenant);
  q.step();
  return q.int64(0);
}

void delete_tenant(store::connection& c, const std::string& tenant) {
  c.prepare("DELETE FROM hri_batches WHERE tenant=?").bind_all(tenant).exec();
  c.prepare("DELETE FROM hri_tenants WHERE id=?").bind_all(tenant).exec();
}

std::optional<stream_row> load_stream(store::connection& c, const std::string& tenant,
                                      const std::string& id) {
  auto q = c.prepare(
      "SELECT tenant, id, settings, validation FROM hri_streams WHERE tenant=? AND id=?");
  q.bind_all(tenant, id);
  if (!q.step()) return std::nullopt;
  return read_stream(q);
}

std::vector<stream_row> all_streams(store::connection& c) {
  std::vector<stream_row> out;
  auto q = c.prepare("SELECT tenant, id, settings, validation FROM hri_streams ORDER BY tenant, id");
  while (q.step()) out.push_back(read_stream(q));
  return out;
}

void insert_stream(store::connection& c, const stream_row& s, int64_t now_ms) {
  c.prepare(
       "INSERT INTO hri_streams(tenant, id, settings, validation, created_at) "
       "VALUES (?, ?, ?, ?, ?)")
      .bind_all(s.tenant, s.id, settings_json(s.settings).dump(), s.validation, now_ms)
      .exec();
}

void delete_stream(store::connection& c, const std::string& tenant, const std::string& id) {
  c.prepare("DELETE FROM hri_streams WHERE tenant=? AND id=?").bind_all(tenant, id).exec();
}

std::optional<batch> load_batch(store::connection& c, const std::string& tenant,
                                const std::string& id) {
  auto q = c.prepare("SELECT doc FROM hri_batches WHERE tenant=? AND id=?");
  q.bind_all(tenant, id);
  if (!q.step()) return std::nullopt;
  return batch_from(json::parse(q.text_view(0)));
}

void insert_batch(store::connection& c, const batch& b) {
  c.prepare(
       "INSERT INTO hri_batches(tenant, id, name, integrator_id, status, start_ms, doc) "
       "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(b.tenant, b.id, b.name, b.integrator_id, status_name(b.st), b.start_ms,
                batch_doc(b).dump())
      .exec();
}

void update_batch(store::connection& c, const batch& b) {
  c.prepare("UPDATE hri_batches SET status=?, doc=? WHERE tenant=? AND id=?")
      .bind_all(status_name(b.st), batch_doc(b).dump(), b.tenant, b.id)
      .exec();
}

std::pair<int64_t, std::vector<batch>> search_batches(store::connection& c,
                                                      const std::string& tenant,
                                                      const search_query& q,
                                                      const std::optional<std::string>& integrator) {
  // Optional filters as "CAST(? AS type) IS NULL OR column = ?" (each value bound twice) keep
  // one prepared statement; plain "?" and the casts (a lone NULL parameter has no type in
  // PostgreSQL) make it run on both backends.
  const char* where =
      " FROM hri_batches WHERE tenant=? AND (CAST(? AS TEXT) IS NULL OR name=?) AND"
      " (CAST(? AS TEXT) IS NULL OR status=?) AND (CAST(? AS BIGINT) IS NULL OR start_ms>=?)"
      " AND (CAST(? AS BIGINT) IS NULL OR start_ms<=?) AND"
      " (CAST(? AS TEXT) IS NULL OR integrator_id=?)";
  auto bind = [&](store::query& s) {
    s.bind_all(tenant, q.name, q.name, q.status, q.status, q.gte_ms, q.gte_ms, q.lte_ms, q.lte_ms,
               integrator, integrator);
  };
  int64_t total = 0;
  {
    auto s = c.prepare(std::string("SELECT count(*)") + where);
    bind(s);
    s.step();
    total = s.int64(0);
  }
  std::vector<batch> page;
  auto s = c.prepare(std::string("SELECT doc") + where +
                     " ORDER BY start_ms DESC, id LIMIT ? OFFSET ?");
  bind(s);
  s.bind(12, q.size).bind(13, q.from);
  while (s.step()) page.push_back(batch_from(json::parse(s.text_view(0))));
  return {total, std::move(page)};
}

std::vector<batch_key> batch_keys_with_status(store::connection& c, status st) {
  std::vector<batch_key> out;
  auto q = c.prepare("SELECT tenant, id FROM hri_batches WHERE status=?");
  q.bind_all(status_name(st));
  while (q.step()) out.push_back({q.text(0), q.text(1)});
  return out;
}

bool insert_action_outcome(store::connection& c, const action_outcome& o, int64_t now_ms) {
  auto q = c.prepare(
      "INSERT INTO hri_action_outcomes(request_id, status, message, created_ms) "
      "VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING");
  return q.bind_all(o.request_id, o.status, o.message, now_ms).exec() > 0;
}

std::optional<action_outcome> load_action_outcome(store::connection& c,
                                                  const std::string& request_id) {
  auto q = c.prepare("SELECT status, message FROM hri_action_outcomes WHERE request_id=?");
  q.bind_all(request_id);
  if (!q.step()) return std::nullopt;
  return action_outcome{request_id, static_cast<int>(q.int64(0)), q.text(1)};
}

int64_t prune_action_outcomes(store::connection& c, int64_t before_ms) {
  return c.prepare("DELETE FROM hri_action_outcomes WHERE created_ms < ?")
      .bind_all(before_ms)
      .exec();
}

}  // namespace medflow::flows::hri
