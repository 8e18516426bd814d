#include "flows/hri/service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"

#include <set>

namespace medflow::flows::hri {

namespace {

bus::message notification(const batch& b) {
  return {notification_topic(b.topic), b.id, to_json(b).dump(), {}, std::nullopt};
}

// Elasticsearch-style document ids, as HRI's batch ids are: 20 URL-safe characters.
std::string batch_id() { return ids::random_hex(10); }

// How long an action's outcome is kept for the instance waiting for it (and for recognising
// the action when it is delivered again).
constexpr int64_t outcome_retention_ms = 24 * 3600 * 1000;

}  // namespace

service::service(store::database& db, bus::log& bus, settings s) : db_(db), bus_(bus), s_(s) {
  for (auto st : {status::started, status::send_completed, status::completed, status::failed,
                  status::terminated})
    m_status_[static_cast<size_t>(st)] = &metrics::registry::global().get_counter(
        "medflow_hri_batch_status_total", "batch status changes committed, by the new status",
        {{"status", status_name(st)}});
}

void service::count_status(status st) { m_status_[static_cast<size_t>(st)]->inc(); }

medflow::status service::create_tenant(const std::string& tenant) {
  return db_.write().run([&](store::tx& t) -> medflow::status {
    if (!insert_tenant(t.conn, tenant, clock::now_ms()))
      return error::bad_request("Unable to create new tenant [" + tenant +
                                "]: [400] resource_already_exists_exception: index [" + tenant +
                                "-batches] already exists");
    return ok_status();
  });
}

std::vector<std::string> service::tenants() {
  auto rd = db_.reader();
  return list_tenants(*rd);
}

result<json> service::tenant_info(const std::string& tenant) {
  auto rd = db_.reader();
  if (!tenant_exists(*rd, tenant))
    return error::not_found("Tenant: " + tenant + " not found: [404] index_not_found_exception: no such index [" +
                     tenant + "-batches]");
  // The shape of Elasticsearch's cat-indices row that HRI returned.
  auto n = count_batches(*rd, tenant);
  return json{{"health", "green"},  {"status", "open"},         {"index", tenant + "-batches"},
              {"uuid", tenant},     {"pri", "1"},               {"rep", "0"},
              {"docs.count", std::to_string(n)}, {"docs.deleted", "0"},
              {"store.size", ""},   {"pri.store.size", ""}};
}

medflow::status service::delete_tenant(const std::string& tenant) {
  return db_.write().run([&](store::tx& t) -> medflow::status {
    if (!tenant_exists(t.conn, tenant))
      return error::not_found("Could not delete tenant [" + tenant +
                       "]: [404] index_not_found_exception: no such index [" + tenant + "-batches]");
    hri::delete_tenant(t.conn, tenant);
    return ok_status();
  });
}

result<stream_row> service::create_stream(const std::string& tenant, const std::string& stream,
                                          const stream_settings& s) {
  auto names = topics_of(tenant, stream);
  std::vector<std::pair<std::string, int32_t>> wanted = {
      {names.in, static_cast<int32_t>(s.num_partitions)}, {names.notification, 1}};
  if (s_.validation) {
    wanted.emplace_back(names.out, static_cast<int32_t>(s.num_partitions));
    wanted.emplace_back(names.invalid, 1);
  }
  {
    auto rd = db_.reader();
    bool registered = load_stream(*rd, tenant, stream).has_value();
    bool adoptable = s_.adopt_existing_topics && !registered;
    for (auto& [name, parts] : wanted) {
      auto existing = bus_.partitions(name);
      if (!existing) continue;
      if (!adoptable || *existing != parts)
        return error::conflict("topic '" + name + "' already exists");
    }
  }
  std::vector<std::string> created;
  std::string current;
  try {
    for (auto& [name, parts] : wanted) {
      current = name;
      if (bus_.partitions(name)) continue;  // adopted (checked above)
      bus_.create_topic(name, parts);
      created.push_back(name);
    }
    stream_row row{tenant, stream, s, s_.validation};
    db_.write().run([&](store::tx& t) { insert_stream(t.conn, row, clock::now_ms()); });
    return row;
  } catch (const std::exception& e) {
    for (auto& name : created) {
      try {
        bus_.delete_topic(name);
      } catch (const std::exception&) {
        // Best effort: the error below is what the caller needs to see.
      }
    }
    if (dynamic_cast<const bus::topic_exists*>(&e))
      return error::conflict("topic '" + current + "' already exists");
    if (auto* ee = dynamic_cast<const error_exception*>(&e)) return ee->err();  // e.g. disk full
    return error::internal(e.what());
  }
}

std::vector<std::string> service::streams(const std::string& tenant) {
  // HRI lists streams from the topics: any ingest.<tenant>.<stream>.{in,notification,out,
  // invalid} topic, deduplicated, counts (a stream with only .invalid is still listed).
  std::set<std::string> out;
  for (auto& t : bus_.topics()) {
    const auto& n = t.name;
    std::string prefix = "ingest." + tenant + ".";
    if (n.rfind(prefix, 0) != 0) continue;
    auto rest = n.substr(prefix.size());
    for (const char* suffix : {".in", ".notification", ".out", ".invalid"}) {
      std::string sf = suffix;
      if (rest.size() > sf.size() && rest.compare(rest.size() - sf.size(), sf.size(), sf) == 0) {
        out.insert(rest.substr(0, rest.size() - sf.size()));
        break;
      }
    }
  }
  return {out.begin(), out.end()};
}

result<stream_row> service::delete_stream(const std::string& tenant, const std::string& stream) {
  auto names = topics_of(tenant, stream);
  std::optional<stream_row> row;
  {
    auto rd = db_.reader();
    row = load_stream(*rd, tenant, stream);
  }
  std::vector<std::string> topics = {names.in, names.notification};
  if (!row || row->validation) {
    topics.push_back(names.out);
    topics.push_back(names.invalid);
  }
  std::string errors;
  int first_status = 0;
  for (auto& name : topics) {
    try {
      if (!bus_.partitions(name)) {
        // Without validation .out and .invalid never existed: not an error then.
        if (row && !row->validation) continue;
        if (!row && (name == names.out || name == names.invalid)) continue;
        throw std::runtime_error("topic does not exist");
      }
      bus_.delete_topic(name);
    } catch (const std::exception& e) {
      if (!errors.empty()) errors += "\n";
      errors += "Unable to delete topic \"" + name + "\": " + e.what();
      if (!first_status) first_status = std::string(e.what()) == "topic does not exist" ? 404 : 500;
    }
  }
  if (row) db_.write().run([&](store::tx& t) { hri::delete_stream(t.conn, tenant, stream); });
  if (!errors.empty()) return error{first_status, first_status == 404 ? "not_found" : "internal_error", errors, {}};
  return row ? *row : stream_row{tenant, stream, {}, false};
}

std::vector<stream_row> service::validated_streams() {
  auto rd = db_.reader();
  std::vector<stream_row> out;
  for (auto& s : all_streams(*rd))
    if (s.validation) out.push_back(s);
  return out;
}

result<batch> service::create_batch(const std::string& tenant, const hri::create_batch& req,
                                    const std::string& integrator) {
  if (auto e = check_batch_topic(tenant, req.topic, s_.granted_topics)) return *e;
  batch b;
  b.id = batch_id();
  b.tenant = tenant;
  b.name = req.name;
  b.integrator_id = integrator;
  b.topic = req.topic;
  b.data_type = req.data_type;
  b.st = status::started;
  // HRI stores startDate with seconds only; date searches then behave the same.
  b.start_ms = clock::now_ms() / 1000 * 1000;
  b.status_changed_ms = b.start_ms;
  b.invalid_threshold = req.invalid_threshold;
  b.metadata = req.metadata;
  auto note = notification(b);
  if (!bus_.partitions(note.topic))
    // HRI deleted the batch again when its notification could not be written.
    return error::internal("kafka producer error: Broker: Unknown topic or partition");
  db_.write().run([&](store::tx& t) {
    insert_batch(t.conn, b);
    bus_.append_in(t, note);
  });
  count_status(status::started);
  return b;
}

std::optional<batch> service::get_batch(const std::string& tenant, const std::string& id) {
  auto rd = db_.reader();
  return load_batch(*rd, tenant, id);
}

std::pair<int64_t, std::vector<batch>> service::search(const std::string& tenant,
                                                       const search_query& q,
                                                       const std::optional<std::string>& integrator) {
  auto rd = db_.reader();
  return search_batches(*rd, tenant, q, integrator);
}

std::vector<batch_key> service::batches_in(status s) {
  auto rd = db_.reader();
  return batch_keys_with_status(*rd, s);
}

void service::apply(commit c, done_fn done) {
  auto shared = std::make_shared<commit>(std::move(c));
  db_.write().submit(
      [this, shared](store::tx& t) {
        bus_.append_all_in(t, shared->records);
        if (shared->state) update_batch(t.conn, *shared->state);
        for (auto& n : shared->notifications) bus_.append_in(t, notification(n));
        if (!shared->outcomes.empty()) {
          auto now = clock::now_ms();
          for (auto& o : shared->outcomes) insert_action_outcome(t.conn, o, now);
          // Nobody waits for an outcome this old any more (hri.action_timeout_ms is far less).
          prune_action_outcomes(t.conn, now - outcome_retention_ms);
        }
      },
      [this, shared, done = std::move(done)](std::exception_ptr e) {
        if (!e)
          for (auto& n : shared->notifications) count_status(n.st);
        if (done) done(e);
      });
}

std::optional<action_outcome> service::find_outcome(const std::string& request_id) {
  auto rd = db_.reader();
  return load_action_outcome(*rd, request_id);
}

void service::dead_letter(const bus::record& r, const std::string& why, done_fn done) {
  commit c;
  c.records.push_back(dead_letter_output(r, why));
  apply(std::move(c), std::move(done));
}

}  // namespace medflow::flows::hri
