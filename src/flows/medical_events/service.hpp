// The medical events flow's operations, as HTTP handlers and actors call them: accept a
// request as a job (one transaction: dedup, job row, message on the bus), process a job's
// message (one transaction: data, job outcome, resource changes, published records),
// dead-letter a message, registries, reads, and scheduled maintenance.
#pragma once

#include "bus/log.hpp"
#include "core/metrics.hpp"
#include "flows/medical_events/jobs.hpp"
#include "store/database.hpp"

#include <array>
#include <atomic>
#include <exception>
#include <functional>
#include <string>

namespace medflow::flows::medical_events {

class sqlite_view;

// A change as committed, for the resource events publisher: handed over on the writer thread
// inside the change's own transaction (so its events commit, or roll back, with it).
struct committed_change {
  const resource_change& change;
  int64_t version_before = 0;    // 0: the resource did not exist
  int64_t version_after = 0;     // deleted: the version of the deletion (last version + 1)
  const json* before = nullptr;  // the stored document before (null when created)
  const json* after = nullptr;   // the document written (null when deleted)
};
using change_listener = std::function<void(store::tx&, const committed_change&)>;

struct settings {
  int32_t partitions = 8;
  int64_t job_eta_ms = 600000;
  int64_t job_ttl_days = 7;
  int64_t approval_ttl_hours = 12;
  int32_t person_events_partitions = 1;
  bool job_location = false;  // a processed job's 303 carries a Location (eHealth's has none)
  // A job whose patient has no job waiting is processed in the transaction that accepts it
  // (no message on the topic, one commit instead of two); otherwise it queues behind the
  // patient's earlier jobs on the topic. Only where one writer serialises every transaction
  // (SQLite): with several instances on a shared store, the check "nothing waits" and a
  // concurrent instance's job for the same patient could both pass.
  bool inline_jobs = false;
  // Called for every committed resource change (empty: nobody listens; nothing extra is read).
  change_listener on_change;
};

// Wrong verification codes accepted for one approval code before verify refuses (409).
inline constexpr int64_t max_verify_failures = 5;

class service {
 public:
  service(store::database& db, bus::log& bus, settings s);

  const settings& options() const { return s_; }

  // Creates the flow's topics (idempotent).
  void create_topics();

  // -- requests ------------------------------------------------------------------------------
  struct submitted {
    job_record job;  // pending, or finished when it was processed at once (inline_jobs)
    bool created;    // false: an identical request's job is still pending (deduplicated)
  };
  // Synchronous checks, then the job and its message in one transaction.
  result<submitted> submit(const request& r);
  // The same without waiting for the commit: the checks run on the caller's thread, then
  // `answer` gets the outcome once the job is durable (on the writer thread), or at once when
  // a check refused the request. A failed commit reaches `answer` as an error_exception's
  // error (e.g. 507, disk full) or, for any other failure, a 500. No thread waits for the
  // commit (issue 20: one hand-off less per job).
  using submit_answer = std::function<void(result<submitted>)>;
  void submit_async(const request& r, submit_answer answer);
  // Whether submit's checks read a local database (SQLite: a few indexed reads of a file in
  // the page cache, tens of microseconds) rather than a server (PostgreSQL: network round
  // trips, and a reader slot that may have to be waited for).
  bool checks_are_local() const { return db_.backend() == store::backend::sqlite; }
  std::optional<job_record> job(const std::string& id);
  // A patient's entities: 404 "Person is not found" for an unknown patient.
  result<std::pair<std::vector<json>, int64_t>> list(kind k, const std::string& patient_id,
                                                     int64_t page, int64_t page_size);
  result<json> get(kind k, const std::string& patient_id, const std::string& id);
  result<json> verify(const std::string& patient_id, const std::string& approval_id,
                      const json& body, const std::string& user_id, const std::string& client_id);

  // -- registries ------------------------------------------------------------------------------
  // A registry document from the admin API, checked for what the handlers rely on, stored with
  // `id`: a person's `status` is "active" or "inactive"; a legal entity has a `status`; an
  // employee has `legal_entity_id`, `employee_type`, `status`, `user_id` (strings) and maybe a
  // string `tax_id`. 400 naming the field otherwise. Returns what was stored.
  result<person> put_person(const std::string& id, json doc);
  result<legal_entity> put_legal_entity(const std::string& id, json doc);
  result<employee> put_employee(const std::string& id, json doc);
  void put_person(const person& p);
  void put_legal_entity(const legal_entity& l);
  void put_employee(const employee& e);
  std::optional<person> get_person(const std::string& id);
  std::optional<legal_entity> get_legal_entity(const std::string& id);
  std::optional<employee> get_employee(const std::string& id);

  // -- consuming (called by the partition consumers' key workers) ----------------------------------
  // The sequencer key of a job message: the patient id (the record key).
  static std::string key_of(const bus::record& r);
  // Processes one job message in a store transaction; `done` runs after the commit. Throws, or
  // fails `done`, when the handler failed (the consumer then redelivers).
  void process(const bus::record& r, done_fn done);
  // Gives up on a message: the job ends failed_with_error (500) and the message goes to the
  // dead-letter topic with the reason, in one transaction.
  void dead_letter(const bus::record& r, const std::string& reason, done_fn done);
  // person_events: upserts the person's status (the reference's person consumer).
  void process_person_event(const bus::record& r, done_fn done);
  void dead_letter_person_event(const bus::record& r, const std::string& reason, done_fn done);

  // -- scheduled work ----------------------------------------------------------------------------
  int expire_service_requests(int64_t now_ms);
  int delete_expired_approvals(int64_t now_ms);
  int delete_old_jobs(int64_t now_ms);
  // One round of all three (the periodic maintenance), logged when it changed anything.
  struct maintenance {
    int expired_service_requests = 0;
    int deleted_approvals = 0;
    int deleted_jobs = 0;
  };
  maintenance maintain(int64_t now_ms);

 private:
  // What submit and submit_async share: the checks, then the job and its message ready to
  // insert (`insert` in a writer unit).
  struct prepared {
    job_record job;
    job_message message;
    // Drawn here, off the writer's thread: the nonce for processing the job at once
    // (inline_jobs), else the message as it queues (every job queues then).
    std::string nonce;
    std::string encoded;
  };
  result<prepared> prepare(const request& r);
  submitted insert(store::tx& t, const prepared& p);
  // Runs a pending job's handler in `t` (its data, resource changes and published records);
  // the job row is the caller's to write.
  struct outcome {
    job_status status;
    int status_code;
    json response;  // as stored (cut to the reference's 10,000 bytes)
  };
  outcome execute(store::tx& t, const job_message& m, int64_t now_us, std::string nonce);
  // Counts a finished job and its latency once `t` commits.
  void count_finished(store::tx& t, job_type type, job_status status, int64_t inserted_us,
                      int64_t now_us);
  void apply(store::tx& t, const command& c, effects& e, int64_t now_us, const sqlite_view& seen);
  void publish_dead_letter(store::tx& t, const char* topic, const bus::record& r,
                           const std::string& reason);

  store::database& db_;
  bus::log& bus_;
  settings s_;

  struct probe {
    metrics::counter* accepted;
    metrics::counter* deduplicated;
    metrics::counter* rejected;
    metrics::counter* skipped;
    metrics::counter* dead_lettered;
    metrics::histogram* latency;
    // medflow_me_jobs_finished_total by type and status, registered on first use (the writer
    // thread counts every finished job; the registry's lookup is not for a hot path).
    std::array<std::array<std::atomic<metrics::counter*>, 4>, 18> finished{};
  } m_;
  metrics::counter& finished(job_type t, job_status s);
};

}  // namespace medflow::flows::medical_events
