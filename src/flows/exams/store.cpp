#include "flows/exams/store.hpp"

#include "core/json.hpp"

#include <stdexcept>

namespace medflow::exams {

std::vector<store::migration> migrations() {
  return {
      {"exams", 1, "patients, exams, results, applied result files",
       // Sealed columns (TEXT "v1:..."): document, name, cellphone, email, data of a patient
       // (aad: the patient id); document of an exam (aad: the exam id); content of a result
       // (aad: the result id). document_hash: keyed hash of the document, unique among the
       // patients not deleted.
       "CREATE TABLE exams_patients ("
       "  id TEXT PRIMARY KEY, document_hash TEXT NOT NULL, document TEXT NOT NULL,"
       "  name TEXT NOT NULL, birth_date TEXT NOT NULL, status TEXT NOT NULL,"
       "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER,"
       "  cellphone TEXT, cellphone_verified_at INTEGER, email TEXT, email_verified_at INTEGER,"
       "  data TEXT);"
       "CREATE UNIQUE INDEX exams_patients_document ON exams_patients(document_hash)"
       "  WHERE deleted_at IS NULL;"
       "CREATE TABLE exams_exams ("
       "  id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, document TEXT NOT NULL,"
       "  status TEXT NOT NULL, exam_type INTEGER NOT NULL, created_at INTEGER NOT NULL,"
       "  updated_at INTEGER NOT NULL, finished_at INTEGER, result_valid_until INTEGER,"
       "  revoked_at INTEGER,"
       "  revoke_reason TEXT NOT NULL DEFAULT '', token_jti TEXT NOT NULL DEFAULT '',"
       "  result_id TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL);"
       "CREATE INDEX exams_exams_patient ON exams_exams(patient_id, created_at, id);"
       "CREATE TABLE exams_results ("
       "  result_id TEXT PRIMARY KEY, exam_id TEXT NOT NULL UNIQUE, issued_by TEXT NOT NULL,"
       "  content_type TEXT NOT NULL, content TEXT NOT NULL, applied_at INTEGER NOT NULL);"
       // One row: a constant sealed with the key, to refuse another key at start.
       "CREATE TABLE exams_key_check (id INTEGER PRIMARY KEY CHECK (id = 1), sealed TEXT NOT NULL);"
       "CREATE TABLE exams_applied_files ("
       "  file_key TEXT PRIMARY KEY, outcome TEXT NOT NULL, reason TEXT NOT NULL,"
       "  exam_id TEXT NOT NULL, patient_id TEXT NOT NULL, result_id TEXT NOT NULL,"
       "  decided_at INTEGER NOT NULL);",
       // PostgreSQL: the same tables with 64-bit times and counters, exam ids (the tie-break
       // of a patient's exams) in byte order like SQLite's.
       "CREATE TABLE exams_patients ("
       "  id TEXT PRIMARY KEY, document_hash TEXT NOT NULL, document TEXT NOT NULL,"
       "  name TEXT NOT NULL, birth_date TEXT NOT NULL, status TEXT NOT NULL,"
       "  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, deleted_at BIGINT,"
       "  cellphone TEXT, cellphone_verified_at BIGINT, email TEXT, email_verified_at BIGINT,"
       "  data TEXT);"
       "CREATE UNIQUE INDEX exams_patients_document ON exams_patients(document_hash)"
       "  WHERE deleted_at IS NULL;"
       "CREATE TABLE exams_exams ("
       "  id TEXT COLLATE \"C\" PRIMARY KEY, patient_id TEXT NOT NULL, document TEXT NOT NULL,"
       "  status TEXT NOT NULL, exam_type BIGINT NOT NULL, created_at BIGINT NOT NULL,"
       "  updated_at BIGINT NOT NULL, finished_at BIGINT, result_valid_until BIGINT,"
       "  revoked_at BIGINT,"
       "  revoke_reason TEXT NOT NULL DEFAULT '', token_jti TEXT NOT NULL DEFAULT '',"
       "  result_id TEXT NOT NULL DEFAULT '', version BIGINT NOT NULL);"
       "CREATE INDEX exams_exams_patient ON exams_exams(patient_id, created_at, id);"
       "CREATE TABLE exams_results ("
       "  result_id TEXT PRIMARY KEY, exam_id TEXT NOT NULL UNIQUE, issued_by TEXT NOT NULL,"
       "  content_type TEXT NOT NULL, content TEXT NOT NULL, applied_at BIGINT NOT NULL);"
       "CREATE TABLE exams_key_check (id INTEGER PRIMARY KEY CHECK (id = 1), sealed TEXT NOT NULL);"
       "CREATE TABLE exams_applied_files ("
       "  file_key TEXT PRIMARY KEY, outcome TEXT NOT NULL, reason TEXT NOT NULL,"
       "  exam_id TEXT NOT NULL, patient_id TEXT NOT NULL, result_id TEXT NOT NULL,"
       "  decided_at BIGINT NOT NULL);"},
  };
}

namespace {

constexpr std::string_view lookup_key_label = "medflow exams document lookup v1";

const char* patient_columns =
    "id, document, name, birth_date, status, created_at, updated_at, deleted_at, cellphone,"
    " cellphone_verified_at, email, email_verified_at, data";

const char* exam_columns =
    "id, patient_id, status, exam_type, created_at, updated_at, finished_at, revoked_at,"
    " revoke_reason, token_jti, result_id, version, result_valid_until";

exam read_exam(store::query& q) {
  exam e;
  e.id = q.text(0);
  e.patient_id = q.text(1);
  auto st = parse_exam_status(q.text_view(2));
  if (!st) throw std::runtime_error("exams store: exam " + e.id + " has an unknown status");
  e.status = *st;
  e.exam_type = q.int64(3);
  e.created_at = q.int64(4);
  e.updated_at = q.int64(5);
  e.finished_at = q.opt_int64(6);
  e.revoked_at = q.opt_int64(7);
  e.revoke_reason = q.text(8);
  e.token_jti = q.text(9);
  e.result_id = q.text(10);
  e.version = q.int64(11);
  e.result_valid_until = q.opt_int64(12);
  return e;
}

}  // namespace

records::records(const crypto::key256& sealing_key) : key_(sealing_key) {
  auto derived = crypto::hmac_sha256(key_.view(), lookup_key_label);
  std::copy(derived.begin(), derived.end(), lookup_key_.bytes.begin());
}

std::string records::seal(std::string_view v, std::string_view aad) const {
  return crypto::seal(key_, v, aad);
}

std::string records::open(std::string_view sealed, std::string_view aad) const {
  auto r = crypto::open(key_, sealed, aad);
  if (!r)
    throw std::runtime_error("exams store: a sealed value of " + std::string(aad) +
                             " does not open (" + r.err().code +
                             "): is the configured key (KEY_CRYPTO) the one it was sealed with?");
  return std::move(*r);
}

std::string records::document_hash(std::string_view doc) const {
  return crypto::keyed_hash(lookup_key_, doc);
}

namespace {

std::optional<patient> read_patient(store::query& q,
                                    const std::function<std::string(std::string_view,
                                                                    std::string_view)>& open) {
  if (!q.step()) return std::nullopt;
  patient p;
  p.id = q.text(0);
  p.document = open(q.text_view(1), p.id);
  p.name = open(q.text_view(2), p.id);
  p.birth_date = q.text(3);
  auto st = parse_patient_status(q.text_view(4));
  if (!st) throw std::runtime_error("exams store: patient " + p.id + " has an unknown status");
  p.status = *st;
  p.created_at = q.int64(5);
  p.updated_at = q.int64(6);
  p.deleted_at = q.opt_int64(7);
  if (!q.is_null(8)) p.cellphone = open(q.text_view(8), p.id);
  p.cellphone_verified_at = q.opt_int64(9);
  if (!q.is_null(10)) p.email = open(q.text_view(10), p.id);
  p.email_verified_at = q.opt_int64(11);
  if (!q.is_null(12)) {
    auto parsed = parse_json_limited(open(q.text_view(12), p.id));
    if (!parsed) throw std::runtime_error("exams store: patient " + p.id + " data is not JSON");
    p.data = std::move(*parsed);
  }
  return p;
}

}  // namespace

std::optional<patient> records::patient_by_id(store::connection& c, const std::string& id) const {
  auto q = c.prepare(std::string("SELECT ") + patient_columns + " FROM exams_patients WHERE id = ?");
  q.bind(1, id);
  return read_patient(q, [this](std::string_view s, std::string_view aad) { return open(s, aad); });
}

std::optional<patient> records::patient_by_document(store::connection& c,
                                                    const std::string& doc) const {
  auto q = c.prepare(std::string("SELECT ") + patient_columns +
                     " FROM exams_patients WHERE document_hash = ? AND deleted_at IS NULL");
  q.bind(1, document_hash(doc));
  return read_patient(q, [this](std::string_view s, std::string_view aad) { return open(s, aad); });
}

namespace {

// Binds the patient's columns in the order of the insert's column list, its id last (the key
// of the update).
template <class Seal>
void bind_patient(store::query& q, const patient& p, const std::string& hash, Seal&& seal) {
  auto opt_sealed = [&](const std::string& v) {
    return v.empty() ? std::optional<std::string>() : std::optional<std::string>(seal(v));
  };
  std::optional<std::string> data;
  if (p.data.is_object()) data = seal(p.data.dump());
  q.bind_all(hash, seal(p.document), seal(p.name), p.birth_date,
             std::string(patient_status_name(p.status)), p.created_at, p.updated_at,
             p.deleted_at, opt_sealed(p.cellphone), p.cellphone_verified_at,
             opt_sealed(p.email), p.email_verified_at, data, p.id);
}

}  // namespace

void records::insert_patient(store::connection& c, const patient& p) const {
  auto q = c.prepare(
      "INSERT INTO exams_patients (document_hash, document, name, birth_date, status,"
      " created_at, updated_at, deleted_at, cellphone, cellphone_verified_at, email,"
      " email_verified_at, data, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  bind_patient(q, p, document_hash(p.document), [&](std::string_view v) { return seal(v, p.id); });
  q.exec();
}

void records::update_patient(store::connection& c, const patient& p) const {
  // Same order as the insert's columns, keyed by id (the last bound value).
  auto q = c.prepare(
      "UPDATE exams_patients SET document_hash = ?, document = ?, name = ?, birth_date = ?,"
      " status = ?, created_at = ?, updated_at = ?, deleted_at = ?, cellphone = ?,"
      " cellphone_verified_at = ?, email = ?, email_verified_at = ?, data = ?"
      " WHERE id = ?");
  bind_patient(q, p, document_hash(p.document), [&](std::string_view v) { return seal(v, p.id); });
  q.exec();
}

std::optional<exam> records::exam_by_id(store::connection& c, const std::string& id) const {
  auto q = c.prepare(std::string("SELECT ") + exam_columns + " FROM exams_exams WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_exam(q);
}

std::optional<std::string> records::exam_document(store::connection& c,
                                                  const std::string& id) const {
  auto q = c.prepare("SELECT document FROM exams_exams WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return open(q.text_view(0), id);
}

std::vector<exam> records::exams_of(store::connection& c, const std::string& patient_id,
                                    size_t limit) const {
  auto q = c.prepare(std::string("SELECT ") + exam_columns +
                     " FROM exams_exams WHERE patient_id = ? ORDER BY created_at, id LIMIT ?");
  q.bind(1, patient_id).bind(2, static_cast<int64_t>(limit));
  std::vector<exam> out;
  while (q.step()) out.push_back(read_exam(q));
  return out;
}

void records::insert_exam(store::connection& c, const exam& e, const std::string& document) const {
  auto q = c.prepare(
      "INSERT INTO exams_exams (id, patient_id, status, exam_type, created_at, updated_at,"
      " finished_at, revoked_at, revoke_reason, token_jti, result_id, version, document,"
      " result_valid_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind_all(e.id, e.patient_id, std::string(exam_status_name(e.status)), e.exam_type,
             e.created_at, e.updated_at, e.finished_at, e.revoked_at, e.revoke_reason,
             e.token_jti, e.result_id, e.version, seal(document, e.id), e.result_valid_until);
  q.exec();
}

void records::update_exam(store::connection& c, const exam& e) const {
  auto q = c.prepare(
      "UPDATE exams_exams SET status = ?, updated_at = ?, finished_at = ?, revoked_at = ?,"
      " revoke_reason = ?, token_jti = ?, result_id = ?, version = ?,"
      " result_valid_until = ? WHERE id = ?");
  q.bind_all(std::string(exam_status_name(e.status)), e.updated_at, e.finished_at, e.revoked_at,
             e.revoke_reason, e.token_jti, e.result_id, e.version, e.result_valid_until, e.id);
  if (q.exec() != 1) throw std::runtime_error("exams store: exam " + e.id + " vanished");
}

bool records::result_exists(store::connection& c, const std::string& result_id) const {
  auto q = c.prepare("SELECT 1 FROM exams_results WHERE result_id = ?");
  q.bind(1, result_id);
  return q.step();
}

void records::insert_result(store::connection& c, const result_claims& r,
                            const std::string& content_type, const std::string& content,
                            int64_t now_ms) const {
  auto q = c.prepare(
      "INSERT INTO exams_results (result_id, exam_id, issued_by, content_type, content,"
      " applied_at) VALUES (?,?,?,?,?,?)");
  q.bind_all(r.result_id, r.exam_id, r.issued_by, content_type, seal(content, r.result_id),
             now_ms);
  q.exec();
}

namespace {
constexpr std::string_view key_check_text = "medflow exams sealing key check";
constexpr std::string_view key_check_aad = "exams_key_check";
}  // namespace

bool records::key_matches(store::connection& c) const {
  // The first call records the key. Another medflowd starting at the same moment on a shared
  // store: its insert waits for this one's commit and adds nothing, then both compare.
  c.prepare("INSERT INTO exams_key_check (id, sealed) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
      .bind(1, seal(key_check_text, key_check_aad))
      .exec();
  auto q = c.prepare("SELECT sealed FROM exams_key_check WHERE id = 1");
  if (!q.step()) return false;
  auto r = crypto::open(key_, q.text_view(0), key_check_aad);
  return r.ok() && *r == key_check_text;
}

std::optional<applied_record> records::applied_file(store::connection& c,
                                                    const std::string& key) const {
  auto q = c.prepare(
      "SELECT outcome, reason, exam_id, patient_id, result_id FROM exams_applied_files"
      " WHERE file_key = ?");
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  return applied_record{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)};
}

void records::record_applied(store::connection& c, const std::string& key,
                             const applied_record& r, int64_t now_ms) const {
  auto q = c.prepare(
      "INSERT INTO exams_applied_files (file_key, outcome, reason, exam_id, patient_id,"
      " result_id, decided_at) VALUES (?,?,?,?,?,?,?)");
  q.bind_all(key, r.outcome, r.reason, r.exam_id, r.patient_id, r.result_id, now_ms);
  q.exec();
}

}  // namespace medflow::exams
