// The medical events flow's tables: jobs, patient entities, registries (persons, legal
// entities, employees), sequences and resource changes; and a domain view over them that the
// handlers read inside the job's transaction.
#pragma once

#include "flows/medical_events/domain.hpp"
#include "store/database.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::medical_events {

std::vector<store::migration> migrations();

// -- jobs -------------------------------------------------------------------------------------------

struct job_record {
  std::string id;
  std::string hash;
  std::string type;
  std::string patient_id;
  job_status status = job_status::pending;
  std::optional<int> status_code;
  json response;           // null while pending
  int64_t eta_ms = 0;
  int64_t inserted_us = 0;
  int64_t updated_us = 0;
};

std::optional<job_record> load_job(store::connection& c, const std::string& id);
// The pending job with this hash, if any.
std::optional<job_record> pending_job_by_hash(store::connection& c, const std::string& hash);
// Inserts a job as it is: pending, or already finished (processed when it was accepted).
void insert_job(store::connection& c, const job_record& j);
// Whether any job of the patient is still pending.
bool has_pending_job(store::connection& c, const std::string& patient_id);
// Sets the outcome of a job that is still pending; false when it is not (redelivery).
bool finish_job(store::connection& c, const std::string& id, job_status s, int status_code,
                const json& response, int64_t now_us);
// Deletes finished jobs not updated since `cutoff_us`; pending jobs are never deleted.
int delete_finished_jobs_before(store::connection& c, int64_t cutoff_us);

// -- entities ---------------------------------------------------------------------------------------

// Upserts a document; returns its new version (1, 2, ...). Throws error_exception(409) when
// the id is taken by another patient.
int64_t put_entity(store::connection& c, kind k, const std::string& patient_id,
                   const std::string& id, const json& doc, int64_t now_us);
// Rewrites a document the caller read at `version_before` in this transaction, as put_entity
// would (its version becomes version_before + 1); false, writing nothing, when the patient's
// row is not at that version (then put_entity decides). A plain UPDATE: cheaper than the
// upsert when the row is known to be there.
bool update_entity(store::connection& c, kind k, const std::string& patient_id,
                   const std::string& id, const json& doc, int64_t version_before,
                   int64_t now_us);
// Deletes a document; returns the version its deletion has (last version + 1), 0 if absent.
int64_t delete_entity(store::connection& c, kind k, const std::string& id);
// The stored document and its version, if any.
std::optional<std::pair<int64_t, json>> entity_with_version(store::connection& c, kind k,
                                                            const std::string& id);
// The current version of a document (0 when absent).
int64_t entity_version(store::connection& c, kind k, const std::string& id);
// A page of a patient's entities of one kind (insertion order) and the total count.
std::pair<std::vector<json>, int64_t> page_entities(store::connection& c, kind k,
                                                    const std::string& patient_id, int64_t page,
                                                    int64_t page_size);
// Every entity of a kind with a given status ("active" service requests, "new" approvals).
std::vector<std::pair<std::string, json>> entities_with_status(store::connection& c, kind k,
                                                               const std::string& status);

// -- registries ----------------------------------------------------------------------------------

void put_person(store::connection& c, const person& p, int64_t now_us);
void put_legal_entity(store::connection& c, const legal_entity& l, int64_t now_us);
void put_employee(store::connection& c, const employee& e, int64_t now_us);

// -- resource changes ------------------------------------------------------------------------------

// Records a change of a resource at the version it produced.
void record_change(store::connection& c, const resource_change& ch, int64_t version,
                   const std::string& job_id, int64_t now_us);

// -- the view the handlers read ---------------------------------------------------------------------

class sqlite_view : public view {
 public:
  explicit sqlite_view(store::connection& c) : c_(c) {}
  // `remember`: documents read by get and find are kept with their versions (read_before),
  // so a job that writes what it read does not read and parse it again.
  sqlite_view(store::connection& c, bool remember) : c_(c), remember_(remember) {}
  std::optional<json> get(kind k, const std::string& patient_id, const std::string& id) override;
  std::vector<json> list(kind k, const std::string& patient_id) override;
  std::optional<std::pair<std::string, json>> find(kind k, const std::string& id) override;
  std::optional<person> get_person(const std::string& id) override;
  bool exists(kind k, const std::string& patient_id, const std::string& id) override;
  std::optional<std::string> person_status(const std::string& id) override;
  std::optional<legal_entity> get_legal_entity(const std::string& id) override;
  std::optional<employee> get_employee(const std::string& id) override;
  std::vector<employee> employees_of_user(const std::string& user_id) override;
  // Only valid on the writer's connection (it writes the sequence).
  int64_t next_number(const std::string& sequence) override;
  // A document get or find read (remember mode): its version and content as stored then,
  // or null. Valid while the job has not written it.
  const std::pair<int64_t, json>* read_before(kind k, const std::string& id) const;

 private:
  void keep(kind k, const std::string& id, int64_t version, const json& doc);

  store::connection& c_;
  bool remember_ = false;
  std::map<std::pair<kind, std::string>, std::pair<int64_t, json>> read_;
};

}  // namespace medflow::flows::medical_events
