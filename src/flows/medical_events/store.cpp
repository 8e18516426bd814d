#include "flows/medical_events/store.hpp"

#include "core/json_fast.hpp"
#include "flows/medical_events/common.hpp"

namespace medflow::flows::medical_events {

std::vector<store::migration> migrations() {
  return {
      {"medical_events", 1, "jobs, entities, registries, sequences, resource changes",
       "CREATE TABLE me_jobs ("
       "  id TEXT PRIMARY KEY, hash TEXT NOT NULL, type TEXT NOT NULL, patient_id TEXT NOT NULL,"
       "  status INTEGER NOT NULL, status_code INTEGER, response TEXT, eta INTEGER NOT NULL,"
       "  inserted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
       // One pending job per request hash: deduplication cannot race.
       "CREATE UNIQUE INDEX me_jobs_pending_hash ON me_jobs(hash) WHERE status = 0;"
       "CREATE TABLE me_entities ("
       "  kind TEXT NOT NULL, id TEXT NOT NULL, patient_id TEXT NOT NULL, status TEXT,"
       "  version INTEGER NOT NULL, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);"
       "CREATE UNIQUE INDEX me_entities_id ON me_entities(kind, id);"
       "CREATE INDEX me_entities_patient ON me_entities(patient_id, kind);"
       // Only the kinds the scheduler scans by status pay for this index.
       "CREATE INDEX me_entities_status ON me_entities(kind, status) "
       "  WHERE kind IN ('service_request', 'approval');"
       "CREATE TABLE me_persons ("
       "  id TEXT PRIMARY KEY, status TEXT NOT NULL, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);"
       "CREATE TABLE me_legal_entities ("
       "  id TEXT PRIMARY KEY, status TEXT NOT NULL, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);"
       "CREATE TABLE me_employees ("
       "  id TEXT PRIMARY KEY, legal_entity_id TEXT NOT NULL, employee_type TEXT NOT NULL,"
       "  status TEXT NOT NULL, user_id TEXT NOT NULL, tax_id TEXT NOT NULL, doc TEXT NOT NULL,"
       "  updated_at INTEGER NOT NULL);"
       "CREATE INDEX me_employees_user ON me_employees(user_id);"
       "CREATE TABLE me_sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
       // Versions come from me_entities.version (deletions: the last version + 1).
       "CREATE TABLE me_resource_changes ("
       "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL,"
       "  patient_id TEXT NOT NULL, version INTEGER NOT NULL, change TEXT NOT NULL,"
       "  references_added TEXT NOT NULL, references_removed TEXT NOT NULL, job_id TEXT NOT NULL,"
       "  at INTEGER NOT NULL);"
       "CREATE TABLE me_verify_failures ("
       "  approval_id TEXT NOT NULL, code_hash TEXT NOT NULL, failures INTEGER NOT NULL,"
       "  PRIMARY KEY (approval_id, code_hash));",
       // PostgreSQL: 64-bit times and versions, and `seq` for the insertion order SQLite's
       // rowid gives.
       "CREATE TABLE me_jobs ("
       "  id TEXT PRIMARY KEY, hash TEXT NOT NULL, type TEXT NOT NULL, patient_id TEXT NOT NULL,"
       "  status INTEGER NOT NULL, status_code INTEGER, response TEXT, eta BIGINT NOT NULL,"
       "  inserted_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
       "CREATE UNIQUE INDEX me_jobs_pending_hash ON me_jobs(hash) WHERE status = 0;"
       "CREATE TABLE me_entities ("
       "  seq BIGINT GENERATED ALWAYS AS IDENTITY,"
       "  kind TEXT NOT NULL, id TEXT NOT NULL, patient_id TEXT NOT NULL, status TEXT,"
       "  version BIGINT NOT NULL, doc TEXT NOT NULL, updated_at BIGINT NOT NULL);"
       "CREATE UNIQUE INDEX me_entities_id ON me_entities(kind, id);"
       "CREATE INDEX me_entities_patient ON me_entities(patient_id, kind, seq);"
       "CREATE INDEX me_entities_status ON me_entities(kind, status) "
       "  WHERE kind IN ('service_request', 'approval');"
       "CREATE TABLE me_persons ("
       "  id TEXT PRIMARY KEY, status TEXT NOT NULL, doc TEXT NOT NULL, updated_at BIGINT NOT NULL);"
       "CREATE TABLE me_legal_entities ("
       "  id TEXT PRIMARY KEY, status TEXT NOT NULL, doc TEXT NOT NULL, updated_at BIGINT NOT NULL);"
       "CREATE TABLE me_employees ("
       "  id TEXT PRIMARY KEY, legal_entity_id TEXT NOT NULL, employee_type TEXT NOT NULL,"
       "  status TEXT NOT NULL, user_id TEXT NOT NULL, tax_id TEXT NOT NULL, doc TEXT NOT NULL,"
       "  updated_at BIGINT NOT NULL);"
       "CREATE INDEX me_employees_user ON me_employees(user_id);"
       "CREATE TABLE me_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
       "CREATE TABLE me_resource_changes ("
       "  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL,"
       "  patient_id TEXT NOT NULL, version BIGINT NOT NULL, change TEXT NOT NULL,"
       "  references_added TEXT NOT NULL, references_removed TEXT NOT NULL, job_id TEXT NOT NULL,"
       "  at BIGINT NOT NULL);"
       "CREATE TABLE me_verify_failures ("
       "  approval_id TEXT NOT NULL, code_hash TEXT NOT NULL, failures INTEGER NOT NULL,"
       "  PRIMARY KEY (approval_id, code_hash));"},
      // Whether a patient has a job waiting, asked when a job is accepted (inline_jobs): an
      // index of the pending jobs only, small however many jobs finished.
      {"medical_events", 2, "index of pending jobs by patient",
       "CREATE INDEX me_jobs_pending_patient ON me_jobs(patient_id) WHERE status = 0;"},
  };
}

namespace {

// A document as this flow stored it (nlohmann's dump): simdjson reads it several times faster
// than nlohmann's parser (a job that changes an episode reads it first), nlohmann takes
// whatever the fast path leaves (core/json_fast: same value either way). Documents past the
// cap (the per-thread parser keeps buffers of the longest text it read) take nlohmann's path.
constexpr std::size_t fast_document_bytes = 64 * 1024;

json stored(std::string_view text) {
  if (auto doc = json_fast::to_json(text, fast_document_bytes)) return std::move(*doc);
  return json::parse(text);
}

job_record read_job(store::query& q) {
  job_record j;
  j.id = q.text(0);
  j.hash = q.text(1);
  j.type = q.text(2);
  j.patient_id = q.text(3);
  j.status = static_cast<job_status>(q.int64(4));
  if (!q.is_null(5)) j.status_code = static_cast<int>(q.int64(5));
  if (!q.is_null(6)) j.response = stored(q.text_view(6));
  j.eta_ms = q.int64(7);
  j.inserted_us = q.int64(8);
  j.updated_us = q.int64(9);
  return j;
}

const char* job_columns =
    "id, hash, type, patient_id, status, status_code, response, eta, inserted_at, updated_at";

std::optional<std::string> status_of(const json& doc) {
  auto it = doc.find("status");
  if (it != doc.end() && it->is_string()) return it->get<std::string>();
  return std::nullopt;
}

}  // namespace

std::optional<job_record> load_job(store::connection& c, const std::string& id) {
  auto q = c.prepare(std::string("SELECT ") + job_columns + " FROM me_jobs WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return read_job(q);
}

std::optional<job_record> pending_job_by_hash(store::connection& c, const std::string& hash) {
  auto q = c.prepare(std::string("SELECT ") + job_columns +
                     " FROM me_jobs WHERE hash=? AND status=0");
  q.bind_all(hash);
  if (!q.step()) return std::nullopt;
  return read_job(q);
}

namespace {
// A job's response as stored (text that is not UTF-8 replaced, never refused).
std::string response_text(const json& response) {
  return json_fast::dump(response, json::error_handler_t::replace);
}
}  // namespace

void insert_job(store::connection& c, const job_record& j) {
  // A pending job has no status code and no response yet (NULL).
  bool finished = j.status != job_status::pending;
  c.prepare(
       "INSERT INTO me_jobs(id, hash, type, patient_id, status, status_code, response, eta, "
       "inserted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(j.id, j.hash, j.type, j.patient_id, static_cast<int64_t>(j.status),
                finished ? std::optional<int64_t>{j.status_code.value_or(500)} : std::nullopt,
                finished ? std::optional<std::string>{response_text(j.response)} : std::nullopt,
                j.eta_ms, j.inserted_us, j.updated_us)
      .exec();
}

bool has_pending_job(store::connection& c, const std::string& patient_id) {
  auto q = c.prepare("SELECT 1 FROM me_jobs WHERE patient_id=? AND status=0 LIMIT 1");
  q.bind_all(patient_id);
  return q.step();
}

bool finish_job(store::connection& c, const std::string& id, job_status s, int status_code,
                const json& response, int64_t now_us) {
  return c.prepare(
              "UPDATE me_jobs SET status=?, status_code=?, response=?, updated_at=? "
              "WHERE id=? AND status=0")
             .bind_all(static_cast<int64_t>(s), status_code,
                       response_text(response), now_us, id)
             .exec() == 1;
}

int delete_finished_jobs_before(store::connection& c, int64_t cutoff_us) {
  // No index on updated_at (it would cost every job two more index writes): jobs are stored in
  // insertion order, so the old ones come first and the scan stops at the batch limit.
  // PostgreSQL has no insertion order to stop at: any 10,000 of them (ctid: the row's place).
  return c.prepare(store::sql(
              c,
              "DELETE FROM me_jobs WHERE rowid IN (SELECT rowid FROM me_jobs WHERE status<>0 AND "
              "updated_at<? ORDER BY rowid LIMIT 10000)",
              "DELETE FROM me_jobs WHERE ctid IN (SELECT ctid FROM me_jobs WHERE status<>0 AND "
              "updated_at<? LIMIT 10000)"))
      .bind_all(cutoff_us)
      .exec();
}

int64_t put_entity(store::connection& c, kind k, const std::string& patient_id,
                   const std::string& id, const json& doc, int64_t now_us) {
  // The update only applies to the same patient's row; a row of another patient makes the
  // upsert return nothing.
  auto q = c.prepare(
      "INSERT INTO me_entities(kind, id, patient_id, status, version, doc, updated_at) "
      "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT(kind, id) DO UPDATE SET status=excluded.status, "
      "version=me_entities.version+1, doc=excluded.doc, updated_at=excluded.updated_at "
      "WHERE me_entities.patient_id=excluded.patient_id RETURNING version");
  q.bind_all(kind_name(k), id, patient_id, status_of(doc), json_fast::dump(doc), now_us);
  if (!q.step())
    throw error_exception(error::conflict(std::string(kind_name(k)) + " with id '" + id +
                                          "' belongs to another patient"));
  int64_t version = q.int64(0);
  q.exec();
  return version;
}

bool update_entity(store::connection& c, kind k, const std::string& patient_id,
                   const std::string& id, const json& doc, int64_t version_before,
                   int64_t now_us) {
  return c.prepare(
              "UPDATE me_entities SET status=?, version=?, doc=?, updated_at=? "
              "WHERE kind=? AND id=? AND patient_id=? AND version=?")
             .bind_all(status_of(doc), version_before + 1, json_fast::dump(doc), now_us,
                       kind_name(k), id, patient_id, version_before)
             .exec() == 1;
}

int64_t delete_entity(store::connection& c, kind k, const std::string& id) {
  auto q = c.prepare("DELETE FROM me_entities WHERE kind=? AND id=? RETURNING version");
  q.bind_all(kind_name(k), id);
  int64_t version = q.step() ? q.int64(0) + 1 : 0;
  q.exec();
  return version;
}

std::pair<std::vector<json>, int64_t> page_entities(store::connection& c, kind k,
                                                    const std::string& patient_id, int64_t page,
                                                    int64_t page_size) {
  int64_t total = 0;
  {
    auto q = c.prepare("SELECT count(*) FROM me_entities WHERE patient_id=? AND kind=?");
    q.bind_all(patient_id, kind_name(k));
    if (q.step()) total = q.int64(0);
  }
  std::vector<json> out;
  auto q = c.prepare(store::sql(
      c, "SELECT doc FROM me_entities WHERE patient_id=? AND kind=? ORDER BY rowid LIMIT ? OFFSET ?",
      "SELECT doc FROM me_entities WHERE patient_id=? AND kind=? ORDER BY seq LIMIT ? OFFSET ?"));
  q.bind_all(patient_id, kind_name(k), page_size, (page - 1) * page_size);
  while (q.step()) out.push_back(public_doc(stored(q.text_view(0))));
  return {std::move(out), total};
}

std::vector<std::pair<std::string, json>> entities_with_status(store::connection& c, kind k,
                                                               const std::string& status) {
  std::vector<std::pair<std::string, json>> out;
  auto q = c.prepare("SELECT patient_id, doc FROM me_entities WHERE kind=? AND status=?");
  q.bind_all(kind_name(k), status);
  while (q.step()) out.emplace_back(q.text(0), stored(q.text_view(1)));
  return out;
}

namespace {

// Persons and legal entities are alike: rows of id, status and document.
void put_registry_row(store::connection& c, const char* table, const std::string& id,
                      const std::string& status, const json& doc, int64_t now_us) {
  c.prepare(std::string("INSERT INTO ") + table +
            "(id, status, doc, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET status=excluded.status, doc=excluded.doc, "
            "updated_at=excluded.updated_at")
      .bind_all(id, status, json_fast::dump(doc), now_us)
      .exec();
}

}  // namespace

void put_person(store::connection& c, const person& p, int64_t now_us) {
  put_registry_row(c, "me_persons", p.id, p.status, p.doc, now_us);
}

void put_legal_entity(store::connection& c, const legal_entity& l, int64_t now_us) {
  put_registry_row(c, "me_legal_entities", l.id, l.status, l.doc, now_us);
}

void put_employee(store::connection& c, const employee& e, int64_t now_us) {
  c.prepare(
       "INSERT INTO me_employees(id, legal_entity_id, employee_type, status, user_id, tax_id, "
       "doc, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
       "legal_entity_id=excluded.legal_entity_id, employee_type=excluded.employee_type, "
       "status=excluded.status, user_id=excluded.user_id, tax_id=excluded.tax_id, "
       "doc=excluded.doc, updated_at=excluded.updated_at")
      .bind_all(e.id, e.legal_entity_id, e.employee_type, e.status, e.user_id, e.tax_id,
                json_fast::dump(e.doc), now_us)
      .exec();
}

void record_change(store::connection& c, const resource_change& ch, int64_t version,
                   const std::string& job_id, int64_t now_us) {
  c.prepare(
       "INSERT INTO me_resource_changes(kind, id, patient_id, version, change, references_added, "
       "references_removed, job_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(kind_name(ch.k), ch.id, ch.patient_id, version, change_name(ch.change),
                json_fast::dump(json(ch.references_added)),
                json_fast::dump(json(ch.references_removed)), job_id,
                now_us)
      .exec();
}

std::optional<std::pair<int64_t, json>> entity_with_version(store::connection& c, kind k,
                                                            const std::string& id) {
  auto q = c.prepare("SELECT version, doc FROM me_entities WHERE kind=? AND id=?");
  q.bind_all(kind_name(k), id);
  if (!q.step()) return std::nullopt;
  return std::make_pair(q.int64(0), stored(q.text_view(1)));
}

int64_t entity_version(store::connection& c, kind k, const std::string& id) {
  auto q = c.prepare("SELECT version FROM me_entities WHERE kind=? AND id=?");
  q.bind_all(kind_name(k), id);
  return q.step() ? q.int64(0) : 0;
}

// -- sqlite_view --------------------------------------------------------------------------------

void sqlite_view::keep(kind k, const std::string& id, int64_t version, const json& doc) {
  if (remember_) read_.insert_or_assign({k, id}, std::make_pair(version, doc));
}

const std::pair<int64_t, json>* sqlite_view::read_before(kind k, const std::string& id) const {
  auto it = read_.find({k, id});
  return it == read_.end() ? nullptr : &it->second;
}

std::optional<json> sqlite_view::get(kind k, const std::string& patient_id, const std::string& id) {
  auto q = c_.prepare("SELECT doc, version FROM me_entities WHERE kind=? AND id=? AND patient_id=?");
  q.bind_all(kind_name(k), id, patient_id);
  if (!q.step()) return std::nullopt;
  auto doc = stored(q.text_view(0));
  keep(k, id, q.int64(1), doc);
  return doc;
}

std::vector<json> sqlite_view::list(kind k, const std::string& patient_id) {
  std::vector<json> out;
  auto q = c_.prepare(
      store::sql(c_, "SELECT doc FROM me_entities WHERE patient_id=? AND kind=? ORDER BY rowid",
                 "SELECT doc FROM me_entities WHERE patient_id=? AND kind=? ORDER BY seq"));
  q.bind_all(patient_id, kind_name(k));
  while (q.step()) out.push_back(stored(q.text_view(0)));
  return out;
}

std::optional<std::pair<std::string, json>> sqlite_view::find(kind k, const std::string& id) {
  auto q = c_.prepare("SELECT patient_id, doc, version FROM me_entities WHERE kind=? AND id=?");
  q.bind_all(kind_name(k), id);
  if (!q.step()) return std::nullopt;
  auto found = std::make_pair(q.text(0), stored(q.text_view(1)));
  keep(k, id, q.int64(2), found.second);
  return found;
}

bool sqlite_view::exists(kind k, const std::string& patient_id, const std::string& id) {
  auto q = c_.prepare("SELECT 1 FROM me_entities WHERE kind=? AND id=? AND patient_id=?");
  q.bind_all(kind_name(k), id, patient_id);
  return q.step();
}

std::optional<std::string> sqlite_view::person_status(const std::string& id) {
  auto q = c_.prepare("SELECT status FROM me_persons WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

std::optional<person> sqlite_view::get_person(const std::string& id) {
  auto q = c_.prepare("SELECT status, doc FROM me_persons WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return person{id, q.text(0), stored(q.text_view(1))};
}

std::optional<legal_entity> sqlite_view::get_legal_entity(const std::string& id) {
  auto q = c_.prepare("SELECT status, doc FROM me_legal_entities WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return legal_entity{id, q.text(0), stored(q.text_view(1))};
}

namespace {
employee read_employee(store::query& q) {
  return employee{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5),
                  stored(q.text_view(6))};
}
}  // namespace

std::optional<employee> sqlite_view::get_employee(const std::string& id) {
  auto q = c_.prepare(
      "SELECT id, legal_entity_id, employee_type, status, user_id, tax_id, doc FROM me_employees "
      "WHERE id=?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  return read_employee(q);
}

std::vector<employee> sqlite_view::employees_of_user(const std::string& user_id) {
  std::vector<employee> out;
  auto q = c_.prepare(
      "SELECT id, legal_entity_id, employee_type, status, user_id, tax_id, doc FROM me_employees "
      "WHERE user_id=? ORDER BY id");
  q.bind_all(user_id);
  while (q.step()) out.push_back(read_employee(q));
  return out;
}

int64_t sqlite_view::next_number(const std::string& sequence) {
  auto q = c_.prepare(
      "INSERT INTO me_sequences(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET "
      "value=me_sequences.value+1 RETURNING value");
  q.bind_all(sequence);
  if (!q.step()) throw std::runtime_error("sequence " + sequence + " did not advance");
  int64_t v = q.int64(0);
  q.exec();
  return v;
}

}  // namespace medflow::flows::medical_events
