#include "flows/exams/service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json.hpp"
#include "core/jwt.hpp"
#include "core/metrics.hpp"
#include "net/http_client.hpp"

#include <array>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <variant>

namespace medflow::exams {

const char* result_outcome_name(result_outcome o) {
  switch (o) {
    case result_outcome::processed: return "processed";
    case result_outcome::stuck: return "stuck";
    case result_outcome::denied: return "denied";
    case result_outcome::deleted: return "deleted";
  }
  return "stuck";
}

namespace {

std::optional<result_outcome> parse_outcome(std::string_view s) {
  for (auto o : {result_outcome::processed, result_outcome::stuck, result_outcome::denied,
                 result_outcome::deleted})
    if (s == result_outcome_name(o)) return o;
  return std::nullopt;
}

// -- errors of the reference's kinds (A.4) ------------------------------------------------------------

error kind_error(int status, const char* kind, std::string detail, std::string err) {
  return error{status, kind, std::move(detail), json(std::move(err))};
}
error input_error(std::string detail, std::string err) {
  return kind_error(400, "input", std::move(detail), std::move(err));
}
error patient_error(int status, std::string detail, std::string err) {
  return kind_error(status, "patient", std::move(detail), std::move(err));
}
error exam_error(int status, std::string detail, std::string err) {
  return kind_error(status, "exam", std::move(detail), std::move(err));
}
error not_eligible(std::string err) { return patient_error(422, "Patient not eligible", std::move(err)); }
error patient_not_found() {
  return patient_error(404, "Patient not found", "no patient with this document");
}
error exam_not_found(const std::string& id) {
  return exam_error(404, "Exam not found", "no exam " + id);
}
error storage_error(std::exception_ptr e) {
  return kind_error(status_of(e), "internal", "Storage error", describe(e));
}
error upstream_error(std::string err) {
  return kind_error(502, "upstream", "Patient manager error", std::move(err));
}
error externally_managed() {
  return patient_error(404, "Patients are managed externally",
                       "ZMED_PATIENT_MANAGER_HOST is set: patients live there");
}

// Eligible (A.5): an id, active, not deleted.
std::optional<error> eligibility(const patient& p) {
  if (p.id.empty() || p.status != patient_status::active || p.deleted_at)
    return not_eligible("id or status error");
  return std::nullopt;
}

// A stored result file outcome as the caller sees it again.
result_applied from_record(const applied_record& r) {
  result_applied a;
  a.outcome = parse_outcome(r.outcome).value_or(result_outcome::stuck);
  a.reason = r.reason;
  a.exam_id = r.exam_id;
  a.patient_id = r.patient_id;
  a.result_id = r.result_id;
  a.repeated = true;
  return a;
}

applied_record to_record(const result_applied& a) {
  return {result_outcome_name(a.outcome), a.reason, a.exam_id, a.patient_id, a.result_id};
}

}  // namespace

// -- the decision about a result ----------------------------------------------------------------------

// A result's outcome, and the error /exams/communicate answers when it is not processed.
struct decision {
  result_applied applied;
  error err;
  std::optional<exam> finished;  // the exam after, when processed
};

struct verified_tokens {
  exam_claims ec;
  result_claims rc;
};

// What the external patient manager said about the exam's patient: a patient, or none (404,
// null, or the exam has no stored document).
using external_answer = std::optional<patient>;

struct service::impl {
  store::database& db;
  const settings& s;
  records recs;
  jwt::verifier exam_tokens;
  jwt::verifier result_tokens;
  net::http_client::client* http;
  // Results decided (files and communicate), by outcome: counted once committed.
  std::array<metrics::counter*, 4> decided{};

  impl(store::database& d, const settings& st, net::http_client::client* h)
      : db(d),
        s(st),
        recs(st.crypto_key),
        exam_tokens(jwt::verifier_options{st.exam_token_key, "", "", "", st.clock_skew_s}),
        result_tokens(jwt::verifier_options{st.result_token_key, "", "", "", st.clock_skew_s}),
        http(h) {
    for (auto o : {result_outcome::processed, result_outcome::stuck, result_outcome::denied,
                   result_outcome::deleted})
      decided[static_cast<size_t>(o)] = &metrics::registry::global().get_counter(
          "medflow_exams_results_total",
          "exam results decided (result files and /exams/communicate), by outcome",
          {{"outcome", result_outcome_name(o)}});
  }

  void count(store::tx& t, result_outcome o) const {
    auto* c = decided[static_cast<size_t>(o)];
    t.after_commit([c] { c->inc(); });
  }

  bool external() const { return !s.patient_manager_url.empty(); }

  // -- patients ---------------------------------------------------------------------------------------

  // The built-in patient with that document (not deleted), read on a pooled connection.
  std::optional<patient> local_by_document(const std::string& doc) {
    auto r = db.reader();
    return recs.patient_by_document(*r, doc);
  }

  // Asks the external patient manager (A.7); `k` runs on an I/O thread of the client.
  void external_by_document(const std::string& doc,
                            std::function<void(result<external_answer>)> k) {
    net::http_client::request req;
    req.method = "POST";
    auto base = s.patient_manager_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + "/document/find";
    req.headers = {{"Content-Type", "application/json"}};
    req.body = json{{"document", doc}}.dump();
    req.timeout_ms = s.patient_manager_timeout_ms;
    req.connect_timeout_ms = std::min<int64_t>(2000, s.patient_manager_timeout_ms);
    size_t cap = s.max_patient_answer_bytes;
    http->call(std::move(req), [k = std::move(k), cap](net::http_client::response res) {
      using outcome = net::http_client::response::outcome;
      if (res.result != outcome::ok)
        return k(upstream_error(res.result == outcome::timeout
                                    ? "patient manager did not answer in time: " + res.error
                                    : "patient manager unreachable: " + res.error));
      if (res.status == 404) return k(external_answer());
      if (res.status != 200)
        return k(upstream_error("patient manager answered HTTP " + std::to_string(res.status)));
      if (res.body.size() > cap) return k(upstream_error("patient manager answer too large"));
      auto doc = parse_json_limited(res.body);
      if (!doc) return k(upstream_error("patient manager answer is not JSON: " + doc.err().message));
      if (doc->is_null()) return k(external_answer());
      auto p = patient_from_json(*doc);
      if (!p) return k(upstream_error("patient manager answer is not a Patient: " + p.err().message));
      return k(external_answer(std::move(*p)));
    });
  }

  // The eligible patient of `doc` for an exam call: 404 when unknown, 422 when not eligible.
  void eligible_patient(const std::string& doc, std::function<void(result<patient>)> k) {
    auto check = [](const std::optional<patient>& p) -> result<patient> {
      if (!p) return patient_not_found();
      if (auto e = eligibility(*p)) return *e;
      return *p;
    };
    if (!external()) {
      std::optional<patient> p;
      try {
        p = local_by_document(doc);
      } catch (...) {
        return k(storage_error(std::current_exception()));
      }
      return k(check(p));
    }
    external_by_document(doc, [k = std::move(k), check](result<external_answer> a) {
      if (!a) return k(a.err());
      k(check(*a));
    });
  }

  // Runs `unit` in the writer's next group commit; `done` gets its result once durable (or the
  // storage error). A unit that returns an error must not have written anything.
  template <class T>
  void commit(std::function<result<T>(store::tx&)> unit, reply<T> done) {
    auto out = std::make_shared<std::optional<result<T>>>();
    db.write().submit([unit = std::move(unit), out](store::tx& t) { out->emplace(unit(t)); },
                      [out, done = std::move(done)](std::exception_ptr e) {
                        if (e || !*out) return done(storage_error(e));
                        done(std::move(**out));
                      });
  }

  void changed(store::tx& t, const exam* before, const exam& after) const {
    if (s.on_change) s.on_change(t, exam_change{before, after});
  }

  // Moves the eligible patient's exam to `to` in one transaction: 404 for an unknown exam,
  // 422 for another patient's, `check`'s refusal, 409 `refusal` for a transition not allowed.
  // `apply` completes the change (status, updated_at and version are set) and gives the answer,
  // which `done` gets once the change is durable. `s` and the impl outlive the call.
  template <class R>
  void change_exam(const std::string& document, const std::string& exam_id, exam_status to,
                   const char* refusal, std::function<std::optional<error>(const exam&)> check,
                   std::function<R(exam&)> apply, int64_t now_ms, reply<R> done) {
    eligible_patient(document, [this, exam_id, to, refusal, check = std::move(check),
                                apply = std::move(apply), now_ms,
                                done = std::move(done)](result<patient> p) mutable {
      if (!p) return done(p.err());
      commit<R>(
          [this, pid = p->id, exam_id, to, refusal, check, apply,
           now_ms](store::tx& t) -> result<R> {
            auto e = recs.exam_by_id(t.conn, exam_id);
            if (!e) return exam_not_found(exam_id);
            if (e->patient_id != pid) return not_eligible("exam of another patient");
            if (auto refused = check(*e)) return *refused;
            if (!transition_allowed(e->status, to))
              return exam_error(409, refusal,
                                "exam " + e->id + " is " + exam_status_name(e->status));
            exam before = *e;
            e->status = to;
            e->updated_at = now_ms;
            e->version += 1;
            R answer = apply(*e);
            recs.update_exam(t.conn, *e);
            changed(t, &before, *e);
            return answer;
          },
          std::move(done));
    });
  }

  // -- results ----------------------------------------------------------------------------------------

  static decision stuck(std::string reason, error err) {
    decision d;
    d.applied.outcome = result_outcome::stuck;
    d.applied.reason = std::move(reason);
    d.err = std::move(err);
    return d;
  }

  // Both tokens' signatures, expiry and claims, and their agreement with each other.
  std::variant<verified_tokens, decision> verify(const result_file& f, int64_t now_ms) const {
    int64_t now_s = now_ms / 1000;
    auto et = exam_tokens.verify(f.exam_token, now_s);
    if (!et)
      return stuck("exam token: " + et.err().message, input_error("Invalid exam_token", et.err().message));
    auto ec = read_exam_claims(et->payload);
    if (!ec)
      return stuck("exam token: " + ec.err().message, input_error("Invalid exam_token", ec.err().message));
    auto rt = result_tokens.verify(f.result_token, now_s);
    if (!rt)
      return stuck("result token: " + rt.err().message,
                   input_error("Invalid result_token", rt.err().message));
    auto rc = read_result_claims(rt->payload);
    if (!rc)
      return stuck("result token: " + rc.err().message,
                   input_error("Invalid result_token", rc.err().message));
    if (rc->exam_id != ec->exam_id) {
      auto d = stuck("the tokens name different exams",
                     input_error("Tokens do not match", "exam_id differs between the tokens"));
      d.applied.exam_id = ec->exam_id;
      return d;
    }
    return verified_tokens{std::move(*ec), std::move(*rc)};
  }

  // Decides in the writer's transaction and, when processed, stores the result and finishes
  // the exam. `ext`: the external manager's answer (external mode only).
  decision decide(store::tx& t, const verified_tokens& v, const result_file& f,
                  const std::optional<external_answer>& ext, int64_t now_ms) const {
    decision d;
    auto& a = d.applied;
    a.exam_id = v.ec.exam_id;
    a.patient_id = v.ec.patient_id;
    a.result_id = v.rc.result_id;
    auto set = [&](result_outcome o, std::string reason, error err) {
      a.outcome = o;
      a.reason = std::move(reason);
      d.err = std::move(err);
      return d;
    };
    auto e = recs.exam_by_id(t.conn, v.ec.exam_id);
    if (!e)
      return set(result_outcome::stuck, "exam " + v.ec.exam_id + " not found",
                 exam_not_found(v.ec.exam_id));
    if (e->token_jti.empty() || e->token_jti != v.ec.jti || e->exam_type != v.ec.exam_type)
      return set(result_outcome::stuck, "the exam token is not the one issued for this exam",
                 input_error("Tokens do not match the exam",
                             "exam token jti or exam_type differs from the stored exam"));
    if (e->patient_id != v.ec.patient_id)
      return set(result_outcome::denied, "the patient is not the exam's",
                 not_eligible("exam of another patient"));
    if (e->status == exam_status::revoked)
      return set(result_outcome::deleted, "the exam was revoked",
                 exam_error(409, "Exam revoked", "exam " + e->id + " is Revoked"));
    std::optional<patient> p;
    if (ext) p = *ext;
    else p = recs.patient_by_id(t.conn, e->patient_id);
    if (!p || (ext && p->id != e->patient_id))
      return set(result_outcome::denied, "patient not found",
                 patient_error(404, "Patient not found", "no patient " + e->patient_id));
    if (eligibility(*p))
      return set(result_outcome::denied, "patient not active", not_eligible("id or status error"));
    if (recs.result_exists(t.conn, v.rc.result_id) || e->status == exam_status::finished)
      return set(result_outcome::stuck, "result already applied",
                 exam_error(409, "Result already applied",
                            "exam " + e->id + " is " + exam_status_name(e->status)));
    if (!transition_allowed(e->status, exam_status::finished))
      return set(result_outcome::stuck, "exam not started",
                 exam_error(409, "Exam not started",
                            "exam " + e->id + " is " + exam_status_name(e->status)));
    exam before = *e;
    exam after = *e;
    after.status = exam_status::finished;
    after.finished_at = now_ms;
    after.updated_at = now_ms;
    after.result_id = v.rc.result_id;
    after.version += 1;
    const exam_type* type = s.types.find(after.exam_type);
    if (type) after.result_valid_until = now_ms + type->result_validity_days * 86400000;
    recs.insert_result(t.conn, v.rc, f.content_type, f.content, now_ms);
    recs.update_exam(t.conn, after);
    changed(t, &before, after);
    a.outcome = result_outcome::processed;
    a.reason = "exam finished";
    a.exam_type = after.exam_type;
    if (type) a.exam_type_name = type->name;
    a.result_valid_until = after.result_valid_until.value_or(0);
    a.patient_name = p->name;
    a.email = p->email;
    a.email_verified = p->email_verified_at.has_value() && !p->email.empty();
    a.cellphone = p->cellphone;
    a.cellphone_verified = p->cellphone_verified_at.has_value() && !p->cellphone.empty();
    a.finished_at = now_ms;
    d.finished = std::move(after);
    return d;
  }

  // The external manager's answer about the patient of the exam the tokens name (nullopt in
  // built-in mode). `k` runs on this thread (built in, or no document) or an I/O thread.
  void external_patient_of(const std::string& exam_id,
                           std::function<void(result<std::optional<external_answer>>)> k) {
    if (!external()) return k(std::optional<external_answer>());
    std::optional<std::string> doc;
    try {
      auto r = db.reader();
      doc = recs.exam_document(*r, exam_id);
    } catch (...) {
      return k(storage_error(std::current_exception()));
    }
    // No such exam: decide() says so; no patient to ask for.
    if (!doc) return k(std::optional<external_answer>(external_answer()));
    external_by_document(*doc, [k = std::move(k)](result<external_answer> a) {
      if (!a) return k(a.err());
      k(std::optional<external_answer>(std::move(*a)));
    });
  }
};

// -- service ----------------------------------------------------------------------------------------

service::service(store::database& db, settings s, net::http_client::client* http)
    : db_(db), s_(std::move(s)) {
  if (!s_.patient_manager_url.empty() && !http)
    throw std::invalid_argument("exams: an external patient manager needs an HTTP client");
  impl_ = std::make_unique<impl>(db_, s_, http);
}

service::~service() = default;

bool service::external_patients() const { return impl_->external(); }

void service::check_sealing_key() {
  bool ok = db_.write().run([this](store::tx& t) { return impl_->recs.key_matches(t.conn); });
  if (!ok)
    throw std::runtime_error(
        "exams.crypto_key (KEY_CRYPTO) is not the key this database's personal data was sealed "
        "with; start with that key");
}

namespace {

patient make_patient(const std::string& id, const patient_input& in) {
  patient p;
  p.id = id;
  p.document = in.document;
  p.name = in.name;
  p.birth_date = in.birth_date;
  p.status = in.status;
  p.cellphone = in.cellphone;
  p.cellphone_verified_at = in.cellphone_verified_at;
  p.email = in.email;
  p.email_verified_at = in.email_verified_at;
  p.data = in.data;
  return p;
}

error document_taken() {
  return patient_error(409, "Document already registered",
                       "another patient has this document");
}

template <class T, class F>
result<T> guarded(F&& f) {
  try {
    return f();
  } catch (...) {
    return storage_error(std::current_exception());
  }
}

// A patient written with a document: another medflowd on a shared store may register the same
// document between the check and the write; the unique index then refuses it, and that is 409.
template <class F>
result<patient> unless_document_taken(F&& f) {
  return guarded<patient>([&]() -> result<patient> {
    try {
      return f();
    } catch (const store::store_error& e) {
      if (e.is_constraint()) return document_taken();
      throw;
    }
  });
}

}  // namespace

result<patient> service::create_patient(const patient_input& in, int64_t now_ms) {
  if (impl_->external()) return externally_managed();
  auto p = make_patient(ids::uuid4(), in);
  p.created_at = p.updated_at = now_ms;
  return unless_document_taken([&]() -> result<patient> {
    return db_.write().run([&](store::tx& t) -> result<patient> {
      if (impl_->recs.patient_by_document(t.conn, p.document)) return document_taken();
      impl_->recs.insert_patient(t.conn, p);
      return p;
    });
  });
}

result<patient> service::get_patient(const std::string& id) {
  if (impl_->external()) return externally_managed();
  return guarded<patient>([&]() -> result<patient> {
    auto r = db_.reader();
    auto p = impl_->recs.patient_by_id(*r, id);
    if (!p || p->deleted_at) return patient_error(404, "Patient not found", "no patient " + id);
    return *p;
  });
}

result<patient> service::update_patient(const std::string& id, const patient_input& in,
                                        int64_t now_ms) {
  if (impl_->external()) return externally_managed();
  return unless_document_taken([&]() -> result<patient> {
    return db_.write().run([&](store::tx& t) -> result<patient> {
      auto old = impl_->recs.patient_by_id(t.conn, id);
      if (!old || old->deleted_at) return patient_error(404, "Patient not found", "no patient " + id);
      auto other = impl_->recs.patient_by_document(t.conn, in.document);
      if (other && other->id != id) return document_taken();
      auto p = make_patient(id, in);
      p.created_at = old->created_at;
      p.updated_at = now_ms;
      impl_->recs.update_patient(t.conn, p);
      return p;
    });
  });
}

result<patient> service::delete_patient(const std::string& id, int64_t now_ms) {
  if (impl_->external()) return externally_managed();
  return guarded<patient>([&]() -> result<patient> {
    return db_.write().run([&](store::tx& t) -> result<patient> {
      auto p = impl_->recs.patient_by_id(t.conn, id);
      if (!p || p->deleted_at) return patient_error(404, "Patient not found", "no patient " + id);
      p->deleted_at = now_ms;
      p->updated_at = now_ms;
      p->status = patient_status::inactive;
      impl_->recs.update_patient(t.conn, *p);
      return *p;
    });
  });
}

result<patient> service::find_patient_by_document(const std::string& document) {
  if (impl_->external()) return externally_managed();
  return guarded<patient>([&]() -> result<patient> {
    auto p = impl_->local_by_document(document);
    if (!p) return patient_not_found();
    return *p;
  });
}

// -- exams ------------------------------------------------------------------------------------------

namespace {

std::optional<error> unknown_type(const catalog& c, int64_t code) {
  if (c.find(code)) return std::nullopt;
  return input_error("Exam type not found", "exam_type " + std::to_string(code) +
                                                " is not in the catalog");
}

}  // namespace

void service::register_exam(const std::string& document, int64_t exam_type, int64_t now_ms,
                            reply<exam> done) {
  if (auto e = unknown_type(s_.types, exam_type)) return done(*e);
  auto* im = impl_.get();
  im->eligible_patient(document, [im, document, exam_type, now_ms,
                                  done = std::move(done)](result<patient> p) mutable {
    if (!p) return done(p.err());
    exam e;
    e.id = ids::uuid4();
    e.patient_id = p->id;
    e.status = exam_status::registered;
    e.exam_type = exam_type;
    e.created_at = e.updated_at = now_ms;
    e.version = 1;
    im->commit<exam>(
        [im, e, document](store::tx& t) -> result<exam> {
          im->recs.insert_exam(t.conn, e, document);
          im->changed(t, nullptr, e);
          return e;
        },
        std::move(done));
  });
}

void service::exams_of(const std::string& document, reply<std::vector<exam>> done) {
  auto* im = impl_.get();
  im->eligible_patient(document, [im, done = std::move(done)](result<patient> p) {
    if (!p) return done(p.err());
    done(guarded<std::vector<exam>>([&]() -> result<std::vector<exam>> {
      auto r = im->db.reader();
      return im->recs.exams_of(*r, p->id, im->s.max_exams_listed);
    }));
  });
}

void service::start_exam(const std::string& document, const std::string& exam_id,
                         int64_t exam_type, int64_t now_ms, reply<std::string> done) {
  if (auto e = unknown_type(s_.types, exam_type)) return done(*e);
  const settings& s = s_;
  impl_->change_exam<std::string>(
      document, exam_id, exam_status::started, "Exam cannot be started",
      [exam_type](const exam& e) -> std::optional<error> {
        if (e.exam_type == exam_type) return std::nullopt;
        return input_error("exam_type does not match the exam",
                           "the exam is of type " + std::to_string(e.exam_type));
      },
      [&s, now_ms](exam& e) {
        e.token_jti = ids::uuid4();
        return jwt::mint_hs256(exam_token_claims(e, e.token_jti, now_ms / 1000, s.exam_token_ttl_s),
                               s.exam_token_key);
      },
      now_ms, std::move(done));
}

void service::revoke_exam(const std::string& document, const std::string& exam_id,
                          const std::string& reason, int64_t now_ms, reply<exam> done) {
  impl_->change_exam<exam>(
      document, exam_id, exam_status::revoked, "Exam cannot be revoked",
      [](const exam&) { return std::optional<error>(); },
      [reason, now_ms](exam& e) {
        e.revoked_at = now_ms;
        e.revoke_reason = reason;
        return e;
      },
      now_ms, std::move(done));
}

void service::communicate(const result_file& f, int64_t now_ms, reply<exam> done) {
  auto* im = impl_.get();
  auto v = im->verify(f, now_ms);
  if (auto* d = std::get_if<decision>(&v)) return done(d->err);
  auto tokens = std::get<verified_tokens>(std::move(v));
  auto exam_id = tokens.ec.exam_id;
  im->external_patient_of(exam_id, [im, tokens = std::move(tokens), f, now_ms,
                                    done = std::move(done)](
                                       result<std::optional<external_answer>> ext) mutable {
    if (!ext) return done(ext.err());
    im->commit<exam>(
        [im, tokens, f, ext = std::move(*ext), now_ms](store::tx& t) -> result<exam> {
          auto d = im->decide(t, tokens, f, ext, now_ms);
          if (!d.finished) return d.err;
          im->count(t, d.applied.outcome);
          if (im->s.on_result) im->s.on_result(t, d.applied);
          return *d.finished;
        },
        std::move(done));
  });
}

result<result_applied> service::apply_result_file(
    const std::string& file_key, std::string_view bytes,
    const std::function<void(store::tx&, const result_applied&)>& in_tx) {
  return apply_result_file(file_key, bytes, in_tx, clock::now_ms());
}

result<result_applied> service::apply_result_file(
    const std::string& file_key, std::string_view bytes,
    const std::function<void(store::tx&, const result_applied&)>& in_tx, int64_t now_ms) {
  auto* im = impl_.get();
  // Decided before: answered without reading the file again (nor asking the patient manager).
  try {
    auto r = db_.reader();
    if (auto rec = im->recs.applied_file(*r, file_key)) return from_record(*rec);
  } catch (...) {
    return storage_error(std::current_exception());
  }

  // What can be decided from the bytes alone.
  std::optional<decision> early;
  result_file f;
  if (bytes.size() > s_.max_result_bytes) {
    early = impl::stuck("result file larger than " + std::to_string(s_.max_result_bytes) +
                            " bytes",
                        input_error("Result too large", "exams.max_result_bytes"));
  } else if (auto doc = parse_json_limited(bytes); !doc) {
    early = impl::stuck("not a result file: " + doc.err().message,
                        input_error("Request DTO error", doc.err().message));
  } else if (auto rf = read_result_file(*doc, true); !rf) {
    early = impl::stuck("not a result file: " + rf.err().message,
                        input_error("Request DTO error", rf.err().message));
  } else {
    f = std::move(*rf);
  }
  std::optional<verified_tokens> tokens;
  if (!early) {
    auto v = im->verify(f, now_ms);
    if (auto* d = std::get_if<decision>(&v)) early = std::move(*d);
    else tokens = std::get<verified_tokens>(std::move(v));
  }

  // The external patient manager's answer, waited for (its own timeout bounds the wait).
  std::optional<external_answer> ext;
  if (tokens && im->external()) {
    auto promise = std::make_shared<std::promise<result<std::optional<external_answer>>>>();
    auto fut = promise->get_future();
    im->external_patient_of(tokens->ec.exam_id,
                            [promise](result<std::optional<external_answer>> a) {
                              promise->set_value(std::move(a));
                            });
    auto limit = std::chrono::milliseconds(s_.patient_manager_timeout_ms + 5000);
    if (fut.wait_for(limit) != std::future_status::ready)
      return upstream_error("patient manager call did not complete");
    auto a = fut.get();
    if (!a) return a.err();
    ext = std::move(*a);
  }

  try {
    return db_.write().run([&](store::tx& t) -> result_applied {
      if (auto rec = im->recs.applied_file(t.conn, file_key)) return from_record(*rec);
      decision d = early ? *early : im->decide(t, *tokens, f, ext, now_ms);
      im->recs.record_applied(t.conn, file_key, to_record(d.applied), now_ms);
      im->count(t, d.applied.outcome);
      if (in_tx) in_tx(t, d.applied);
      return d.applied;
    });
  } catch (...) {
    return storage_error(std::current_exception());
  }
}

// -- catalog ----------------------------------------------------------------------------------------

catalog load_catalog(const std::string& path, size_t max_bytes) {
  std::string text;
  std::string name = path.empty() ? "config/exams.json (built in)" : path;
  if (path.empty()) {
    text = std::string(shipped_catalog());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(name + ": cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (text.size() > max_bytes)
    throw std::runtime_error(name + ": larger than " + std::to_string(max_bytes) + " bytes");
  auto doc = parse_json_limited(text, 32, true);
  if (!doc) throw std::runtime_error(name + ": " + doc.err().message);
  auto c = parse_catalog(*doc);
  if (!c) throw std::runtime_error(name + ": " + c.err().message);
  return std::move(*c);
}

}  // namespace medflow::exams
