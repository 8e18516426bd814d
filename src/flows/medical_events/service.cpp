#include "flows/medical_events/service.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"

#include <map>
#include "core/ids.hpp"
#include "core/log.hpp"
#include "flows/medical_events/approvals.hpp"
#include "flows/medical_events/common.hpp"
#include "flows/medical_events/service_requests.hpp"

namespace medflow::flows::medical_events {

namespace {

const char* component = "medical_events";

// Writes documents and records their changes at the versions the writes produced; tells the
// listener (the resource events publisher) of each change in the same transaction, with the
// documents before and after. The documents before come from `seen` (what the job's handler
// read in this transaction) when it read them, else from the store.
void write_all(store::tx& t, const std::vector<entity_write>& writes,
               const std::vector<resource_change>& changes, const std::string& job_id,
               int64_t now_us, const change_listener& on_change,
               const sqlite_view* seen = nullptr) {
  struct written {
    int64_t version_before = 0;
    std::optional<json> stored;     // read here: the handler did not read it
    const json* before = nullptr;   // the stored state, in `stored` or in `seen`
    int64_t version = 0;
    const json* after = nullptr;
  };
  std::map<std::pair<kind, std::string>, written> done;
  for (auto& w : writes) {
    auto key = std::make_pair(w.k, w.id);
    auto it = done.find(key);
    bool first = it == done.end();
    if (first) {
      it = done.emplace(key, written{}).first;
      // The stored state before the job's first write of this resource.
      if (on_change) {
        auto& d = it->second;
        if (auto* read = seen ? seen->read_before(w.k, w.id) : nullptr) {
          d.version_before = read->first;
          d.before = &read->second;
        } else if (auto stored = entity_with_version(t.conn, w.k, w.id)) {
          d.version_before = stored->first;
          d.stored = std::move(stored->second);
          d.before = &*d.stored;
        }
      }
    }
    // The job's first write of a document it read here: an UPDATE at the version read.
    auto& d = it->second;
    if (first && d.before &&
        update_entity(t.conn, w.k, w.patient_id, w.id, w.doc, d.version_before, now_us))
      d.version = d.version_before + 1;
    else
      d.version = put_entity(t.conn, w.k, w.patient_id, w.id, w.doc, now_us);
    d.after = &w.doc;
  }
  for (auto& ch : changes) {
    auto it = done.find({ch.k, ch.id});
    auto version = it != done.end() ? it->second.version : entity_version(t.conn, ch.k, ch.id);
    record_change(t.conn, ch, version, job_id, now_us);
    if (!on_change) continue;
    committed_change cc{ch, version > 0 ? version - 1 : 0, version, nullptr, nullptr};
    if (it != done.end()) {
      cc.version_before = it->second.version_before;
      cc.before = it->second.before;
      cc.after = it->second.after;
    }
    on_change(t, cc);
  }
}

}  // namespace

service::service(store::database& db, bus::log& bus, settings s) : db_(db), bus_(bus), s_(s) {
  auto& reg = metrics::registry::global();
  m_.accepted = &reg.get_counter("medflow_me_jobs_accepted_total", "jobs created (202)");
  m_.deduplicated = &reg.get_counter("medflow_me_jobs_deduplicated_total",
                                     "requests answered with an identical pending job");
  m_.rejected = &reg.get_counter("medflow_me_requests_rejected_total",
                                 "requests refused by the synchronous checks");
  m_.skipped = &reg.get_counter("medflow_me_jobs_skipped_total",
                                "redelivered messages of jobs no longer pending");
  m_.dead_lettered =
      &reg.get_counter("medflow_me_dead_lettered_total", "messages sent to the dead-letter topic");
  m_.latency = &reg.get_histogram("medflow_me_job_duration_seconds", "time from accepted to finished",
                                  metrics::latency_buckets_seconds());
}

metrics::counter& service::finished(job_type t, job_status s) {
  auto& slot = m_.finished.at(static_cast<size_t>(t)).at(static_cast<size_t>(s));
  auto* c = slot.load(std::memory_order_acquire);
  if (!c) {
    // Two threads may both look it up: the registry returns the same counter to each.
    c = &metrics::registry::global().get_counter(
        "medflow_me_jobs_finished_total", "jobs finished by type and status",
        {{"type", wire_name(t)}, {"status", status_name(s)}});
    slot.store(c, std::memory_order_release);
  }
  return *c;
}

void service::create_topics() {
  bus_.create_topic(jobs_topic, s_.partitions);
  bus_.create_topic(dead_letter_topic, 1);
  bus_.create_topic(person_events_topic, s_.person_events_partitions);
  bus_.create_topic(person_dead_letter_topic, 1);
  bus_.create_topic(event_manager_topic, 1);
  bus_.create_topic(notifications_topic, 1);
}

// -- requests ---------------------------------------------------------------------------------------

result<service::prepared> service::prepare(const request& r) {
  accepted acc;
  {
    auto rd = db_.reader();
    // One snapshot for all the checks' reads: consistent, and the connection's page cache is
    // validated once instead of once per statement.
    store::transaction snapshot{*rd, false};
    sqlite_view v{*rd};
    auto checked = check_request(r, v);
    if (!checked) {
      m_.rejected->inc();
      return checked.err();
    }
    acc = *checked;
  }
  auto now_us = clock::now_us();
  prepared p;
  job_record& job = p.job;
  job.id = ids::object_id();
  job.type = wire_name(r.type);
  job.patient_id = acc.patient_id;
  job.status = job_status::pending;
  job.eta_ms = now_us / 1000 + s_.job_eta_ms;
  job.inserted_us = now_us;
  job.updated_us = now_us;
  request keyed = r;
  keyed.patient_id = acc.patient_id;
  job.hash = request_hash(keyed, r.type == job_type::approval_create ? job.id : "");
  p.message = job_message{{job.id, r.type, acc.patient_id, r.user_id, r.client_id, r.params, r.body},
                          now_us};
  if (s_.inline_jobs) p.nonce = ids::random_hex(8);
  else p.encoded = encode_message(p.message);
  return p;
}

// Check and insert in one writer unit: no other write can come between them.
service::submitted service::insert(store::tx& t, const prepared& p) {
  if (auto existing = pending_job_by_hash(t.conn, p.job.hash)) return {*existing, false};
  // Nothing of the patient waits: processing the job now keeps the patient's order (every
  // earlier job is finished, and the writer runs one transaction at a time).
  if (s_.inline_jobs && !has_pending_job(t.conn, p.job.patient_id)) {
    auto hooks = t.mark();
    store::savepoint sp{t.conn, "inline_job"};
    auto queue_instead = [&](const char* why) {
      // What the attempt wrote and what it left to run at the commit go; the job queues as
      // any other, so the consumer's attempts and dead letter apply to it.
      sp.rollback();
      t.drop_since(hooks);
      log::warn(component, "processing a job at once failed; it is queued: ", why,
                log::field{"job_id", p.job.id});
    };
    try {
      auto now_us = clock::now_us();
      auto out = execute(t, p.message, now_us, p.nonce);
      job_record done = p.job;
      done.status = out.status;
      done.status_code = out.status_code;
      done.response = std::move(out.response);
      done.updated_us = now_us;
      insert_job(t.conn, done);
      sp.release();
      count_finished(t, p.message.type, out.status, p.job.inserted_us, now_us);
      return {std::move(done), true};
    } catch (const store::store_error& e) {
      // A full disk, a lost connection: the request fails as any write would. A constraint
      // the job's own writes broke is the job's failure, not the store's.
      if (!e.is_constraint()) throw;
      queue_instead(e.what());
    } catch (const std::exception& e) {
      queue_instead(e.what());
    }
  }
  insert_job(t.conn, p.job);
  // Queued behind a pending job (inline_jobs) the message is encoded here, on the writer: the
  // exception, not the rule.
  bus_.append_in(t, {jobs_topic, p.job.patient_id,
                     p.encoded.empty() ? encode_message(p.message) : p.encoded,
                     {{"type", p.job.type}}, std::nullopt});
  return {p.job, true};
}

result<service::submitted> service::submit(const request& r) {
  auto p = prepare(r);
  if (!p) return p.err();
  auto out = db_.write().run([&](store::tx& t) { return insert(t, *p); });
  (out.created ? m_.accepted : m_.deduplicated)->inc();
  return out;
}

void service::submit_async(const request& r, submit_answer answer) {
  auto p = prepare(r);
  if (!p) return answer(p.err());
  struct state {
    prepared p;
    std::optional<submitted> out;
  };
  auto st = std::make_shared<state>(state{std::move(*p), std::nullopt});
  db_.write().submit([this, st](store::tx& t) { st->out = insert(t, st->p); },
                     [this, st, answer = std::move(answer)](std::exception_ptr e) {
                       if (!e && st->out) {
                         (st->out->created ? m_.accepted : m_.deduplicated)->inc();
                         return answer(std::move(*st->out));
                       }
                       try {
                         std::rethrow_exception(e);
                       } catch (const error_exception& ex) {
                         answer(ex.err());
                       } catch (...) {
                         log::error(component, "accepting a job failed: ", describe(e));
                         answer(error::internal("internal error"));
                       }
                     });
}

std::optional<job_record> service::job(const std::string& id) {
  auto rd = db_.reader();
  return load_job(*rd, id);
}

result<std::pair<std::vector<json>, int64_t>> service::list(kind k, const std::string& patient_id,
                                                            int64_t page, int64_t page_size) {
  auto rd = db_.reader();
  sqlite_view v{*rd};
  if (!v.person_status(patient_id)) return request_not_found("Person is not found");
  return page_entities(*rd, k, patient_id, page, page_size);
}

result<json> service::get(kind k, const std::string& patient_id, const std::string& id) {
  auto rd = db_.reader();
  sqlite_view v{*rd};
  if (!v.person_status(patient_id)) return request_not_found("Person is not found");
  auto doc = v.get(k, patient_id, id);
  if (!doc) return request_not_found(std::string(kind_name(k)) + " with id '" + id + "' is not found");
  return public_doc(*doc);
}

result<json> service::verify(const std::string& patient_id, const std::string& approval_id,
                             const json& body, const std::string& user_id,
                             const std::string& client_id) {
  return db_.write().run([&](store::tx& t) -> result<json> {
    sqlite_view v{t.conn};
    auto now_ms = clock::now_ms();
    // Wrong codes are counted per code (a resend issues a new one): a 4-digit code must not
    // be guessable by trying them all.
    std::string code_hash;
    if (auto found = v.find(kind::approval, approval_id))
      code_hash = found->second.value("_verification_code_hash", "");
    auto failures = [&] {
      auto q = t.conn.prepare("SELECT failures FROM me_verify_failures WHERE approval_id=? AND code_hash=?");
      q.bind_all(approval_id, code_hash);
      return q.step() ? q.int64(0) : 0;
    };
    if (!code_hash.empty() && failures() >= max_verify_failures)
      return request_conflict("Too many wrong verification codes; resend the approval to get a new code");
    auto r = verify_approval(patient_id, approval_id, body, user_id, client_id, now_ms, v);
    if (!r) {
      if (r.err().status == 422 && !code_hash.empty())
        t.conn
            .prepare(
                "INSERT INTO me_verify_failures(approval_id, code_hash, failures) VALUES (?, ?, 1) "
                "ON CONFLICT(approval_id, code_hash) DO UPDATE SET failures=me_verify_failures.failures+1")
            .bind_all(approval_id, code_hash)
            .exec();
      return r.err();
    }
    write_all(t, r->writes, r->changes, "", now_ms * 1000, s_.on_change);
    return std::move(r->approval);  // verify_approval made it public already
  });
}

// -- registries -------------------------------------------------------------------------------------

namespace {

std::optional<std::string> required_string(const json& doc, const char* field) {
  auto it = doc.find(field);
  if (it == doc.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

result<person> service::put_person(const std::string& id, json doc) {
  if (!doc.is_object()) return error::bad_request("body must be a JSON object");
  auto status = required_string(doc, "status");
  if (!status || (*status != "active" && *status != "inactive"))
    return error::bad_request("status must be \"active\" or \"inactive\"");
  doc["id"] = id;
  person p{id, *status, std::move(doc)};
  put_person(p);
  return p;
}

result<legal_entity> service::put_legal_entity(const std::string& id, json doc) {
  if (!doc.is_object()) return error::bad_request("body must be a JSON object");
  auto status = required_string(doc, "status");
  if (!status) return error::bad_request("status (e.g. \"ACTIVE\") is required");
  doc["id"] = id;
  legal_entity l{id, *status, std::move(doc)};
  put_legal_entity(l);
  return l;
}

result<employee> service::put_employee(const std::string& id, json doc) {
  if (!doc.is_object()) return error::bad_request("body must be a JSON object");
  employee e;
  e.id = id;
  for (auto [field, target] : {std::pair<const char*, std::string*>{"legal_entity_id", &e.legal_entity_id},
                               {"employee_type", &e.employee_type},
                               {"status", &e.status},
                               {"user_id", &e.user_id}}) {
    auto v = required_string(doc, field);
    if (!v) return error::bad_request(std::string(field) + " (string) is required");
    *target = *v;
  }
  if (auto it = doc.find("tax_id"); it != doc.end()) {
    if (!it->is_string()) return error::bad_request("tax_id must be a string");
    e.tax_id = it->get<std::string>();
  }
  doc["id"] = id;
  e.doc = std::move(doc);
  put_employee(e);
  return e;
}

void service::put_person(const person& p) {
  db_.write().run([&](store::tx& t) { medical_events::put_person(t.conn, p, clock::now_us()); });
}

void service::put_legal_entity(const legal_entity& l) {
  db_.write().run([&](store::tx& t) { medical_events::put_legal_entity(t.conn, l, clock::now_us()); });
}

void service::put_employee(const employee& e) {
  db_.write().run([&](store::tx& t) { medical_events::put_employee(t.conn, e, clock::now_us()); });
}

std::optional<person> service::get_person(const std::string& id) {
  auto rd = db_.reader();
  return sqlite_view{*rd}.get_person(id);
}

std::optional<legal_entity> service::get_legal_entity(const std::string& id) {
  auto rd = db_.reader();
  return sqlite_view{*rd}.get_legal_entity(id);
}

std::optional<employee> service::get_employee(const std::string& id) {
  auto rd = db_.reader();
  return sqlite_view{*rd}.get_employee(id);
}

// -- consuming --------------------------------------------------------------------------------------

std::string service::key_of(const bus::record& r) {
  if (!r.key || r.key->empty()) throw std::runtime_error("record has no key (patient id)");
  return *r.key;
}

void service::apply(store::tx& t, const command& c, effects& e, int64_t now_us,
                    const sqlite_view& seen) {
  if (e.result.status_code == 200) {
    // A write the store refuses (an id of another patient) fails the job, not the consumer.
    store::savepoint sp{t.conn, "effects"};
    try {
      write_all(t, e.writes, e.changes, c.job_id, now_us, s_.on_change, &seen);
      sp.release();
    } catch (const error_exception& ex) {
      sp.rollback();
      e = conflict(ex.err().message);  // drops the records to publish with the writes
    }
  }
  bus_.append_all_in(t, e.publish);
}

void service::process(const bus::record& r, done_fn done) {
  auto msg = decode_message(r.value);
  if (!msg) {
    // Redelivering a message that cannot be read would fail forever: dead-letter it now.
    dead_letter(r, "cannot decode the job message: " + msg.err().message, std::move(done));
    return;
  }
  auto m = std::make_shared<job_message>(std::move(*msg));
  db_.write().submit(
      [this, m](store::tx& t) {
        auto job = load_job(t.conn, m->job_id);
        if (!job) {
          log::warn(component, "the message's job does not exist; skipping",
                    log::field{"job_id", m->job_id});
          m_.skipped->inc();
          return;
        }
        if (job->status != job_status::pending) {
          m_.skipped->inc();  // redelivered after its commit: the same result stands
          return;
        }
        auto now_us = clock::now_us();
        auto out = execute(t, *m, now_us, ids::random_hex(8));
        finish_job(t.conn, m->job_id, out.status, out.status_code, out.response, now_us);
        count_finished(t, m->type, out.status, job->inserted_us, now_us);
      },
      std::move(done));
}

service::outcome service::execute(store::tx& t, const job_message& m, int64_t now_us,
                                  std::string nonce) {
  command c{m, now_us / 1000, std::move(nonce)};
  sqlite_view v{t.conn, static_cast<bool>(s_.on_change)};
  auto e = handle(c, v);
  apply(t, c, e, now_us, v);
  auto status = e.result.status_code == 200 ? job_status::processed : job_status::failed;
  return {status, e.result.status_code, cut_response(std::move(e.result.response))};
}

void service::count_finished(store::tx& t, job_type type, job_status status, int64_t inserted_us,
                             int64_t now_us) {
  auto latency = static_cast<double>(now_us - inserted_us) / 1e6;
  t.after_commit([this, type, status, latency] {
    finished(type, status).inc();
    m_.latency->observe(latency);
  });
}

void service::publish_dead_letter(store::tx& t, const char* topic, const bus::record& r,
                                  const std::string& reason) {
  auto hdrs = r.hdrs;
  hdrs.emplace_back("dead_letter_reason", reason);
  hdrs.emplace_back("source_topic", r.topic);
  hdrs.emplace_back("source_partition", std::to_string(r.partition));
  hdrs.emplace_back("source_offset", std::to_string(r.offset));
  bus_.append_in(t, {topic, r.key, r.value, std::move(hdrs), std::nullopt});
}

void service::dead_letter(const bus::record& r, const std::string& reason, done_fn done) {
  db_.write().submit(
      [this, r, reason](store::tx& t) {
        auto msg = decode_message(r.value);
        if (msg) {
          auto job = load_job(t.conn, msg->job_id);
          // A job that finished in an earlier attempt has nothing left to give up on.
          if (job && job->status != job_status::pending) return;
          if (job) {
            auto now_us = clock::now_us();
            finish_job(t.conn, msg->job_id, job_status::failed_with_error, 500,
                       cut_response(json(reason)), now_us);
            auto type = msg->type;
            t.after_commit([this, type] { finished(type, job_status::failed_with_error).inc(); });
          }
        }
        publish_dead_letter(t, dead_letter_topic, r, reason);
        t.after_commit([this] { m_.dead_lettered->inc(); });
        log::warn(component, "dead-lettered ", r.topic, "/", r.partition, "@", r.offset, ": ",
                  reason, log::field{"job_id", msg ? msg->job_id : std::string()});
      },
      std::move(done));
}

void service::process_person_event(const bus::record& r, done_fn done) {
  auto parsed = parse_json_limited(r.value);
  json j = parsed ? std::move(*parsed) : json();
  std::string why;
  if (!parsed && !parsed.err().detail.is_null()) why = "value: " + parsed.err().message;
  else if (!j.is_object()) why = "value is not a JSON object";
  else if (!j.contains("id") || !j["id"].is_string() || j["id"].get<std::string>().empty())
    why = "missing id";
  else if (!j.contains("status") || !j["status"].is_string() ||
           (j["status"] != "active" && j["status"] != "inactive"))
    why = "status must be active or inactive";
  if (!why.empty()) {
    dead_letter_person_event(r, "invalid person event: " + why, std::move(done));
    return;
  }
  person p{j["id"].get<std::string>(), j["status"].get<std::string>(), j};
  db_.write().submit(
      [p](store::tx& t) { medical_events::put_person(t.conn, p, clock::now_us()); },
      std::move(done));
}

void service::dead_letter_person_event(const bus::record& r, const std::string& reason,
                                       done_fn done) {
  db_.write().submit(
      [this, r, reason](store::tx& t) { publish_dead_letter(t, person_dead_letter_topic, r, reason); },
      std::move(done));
}

// -- scheduled work ----------------------------------------------------------------------------------

int service::expire_service_requests(int64_t now_ms) {
  return db_.write().run([&](store::tx& t) {
    auto active = entities_with_status(t.conn, kind::service_request, "active");
    auto writes = medical_events::expire_service_requests(active, now_ms, "system");
    for (auto& w : writes) {
      write_all(t, {w}, {{w.k, w.patient_id, w.id, change_kind::updated, {}, {}}}, "",
                now_ms * 1000, s_.on_change);
      // Auto-expiry is a status change like any other: subscribers hear of it.
      bus_.append_in(t, service_request_status_event(w.id, "recalled", "system", now_ms));
    }
    return static_cast<int>(writes.size());
  });
}

int service::delete_expired_approvals(int64_t now_ms) {
  return db_.write().run([&](store::tx& t) {
    auto fresh = entities_with_status(t.conn, kind::approval, "new");
    auto expired = expired_new_approvals(fresh, now_ms, s_.approval_ttl_hours);
    for (auto& [patient_id, id] : expired) {
      std::optional<std::pair<int64_t, json>> stored;
      if (s_.on_change) stored = entity_with_version(t.conn, kind::approval, id);
      auto version = delete_entity(t.conn, kind::approval, id);
      resource_change ch{kind::approval, patient_id, id, change_kind::deleted, {}, {}};
      record_change(t.conn, ch, version, "", now_ms * 1000);
      if (s_.on_change && version > 0)
        s_.on_change(t, {ch, version - 1, version, stored ? &stored->second : nullptr, nullptr});
    }
    return static_cast<int>(expired.size());
  });
}

int service::delete_old_jobs(int64_t now_ms) {
  return db_.write().run([&](store::tx& t) {
    return delete_finished_jobs_before(t.conn, (now_ms - s_.job_ttl_days * 86400000) * 1000);
  });
}

service::maintenance service::maintain(int64_t now_ms) {
  maintenance m;
  m.expired_service_requests = expire_service_requests(now_ms);
  m.deleted_approvals = delete_expired_approvals(now_ms);
  m.deleted_jobs = delete_old_jobs(now_ms);
  if (m.expired_service_requests + m.deleted_approvals + m.deleted_jobs > 0)
    log::info("medical_events", "maintenance: ", m.expired_service_requests,
              " service requests expired, ", m.deleted_approvals, " approvals and ",
              m.deleted_jobs, " finished jobs deleted");
  return m;
}

}  // namespace medflow::flows::medical_events
