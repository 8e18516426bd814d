// The exams flow's entry (issue 17, reference Part A): patients (built in, or an external
// patient manager over A.7's contract), exams with their signed tokens, and applying a
// result, whether it comes from the results inbox (apply_result_file) or from an attendant
// (/exams/communicate).
//
// Errors are values whose `code` is the reference's error kind and whose status the HTTP layer
// answers (A.4): "input" 400 (Input Error), "patient" 404 unknown patient / 422 not eligible
// (Patient Error), "exam" 404 unknown exam / 409 transition not allowed (Exam Error), "upstream"
// 502 (the external patient manager failed), "internal" 500 (storage). `message` is the
// reference's detail text and `detail` (a string) its err text.
//
// Threads: patient calls and apply_result_file block on the store (call them from a pool
// thread or a blocking worker, never from an actor of the shared scheduler). The exam calls
// answer through a callback, which runs on the store's writer thread or on an I/O thread of the
// HTTP client (external patient manager): keep it short (answer a responder, send a message).
#pragma once

#include "core/crypto.hpp"
#include "core/error.hpp"
#include "flows/exams/domain.hpp"
#include "flows/exams/store.hpp"
#include "store/database.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::net::http_client {
class client;
}

namespace medflow::exams {

// -- the contract with the results inbox ------------------------------------------------------------

// Where a result file goes (its folder): processed (exam Finished, result stored, patient to
// notify); stuck (tokens unreadable, forged, expired, or not agreeing with each other or with
// the store; a file that is not a result file; a result already applied); denied (the patient
// is missing, inactive or not the exam's); deleted (the exam was Revoked).
enum class result_outcome { processed, stuck, denied, deleted };
const char* result_outcome_name(result_outcome o);  // "processed", "stuck", "denied", "deleted"

struct result_applied {
  result_outcome outcome = result_outcome::stuck;
  std::string reason;       // why (stable text), e.g. "exam token: token is expired"
  std::string exam_id;      // "" when the tokens could not be read
  std::string patient_id;
  std::string result_id;
  bool repeated = false;    // the outcome was recorded by an earlier call for this file_key
  // For the notification (outcome processed; empty otherwise). Contact data is decrypted.
  int64_t exam_type = 0;
  std::string exam_type_name;
  std::string patient_name;
  std::string email;        // "" when the patient has none
  bool email_verified = false;      // email_verified_at is set
  std::string cellphone;    // "" when none
  bool cellphone_verified = false;  // cellphone_verified_at is set
  int64_t finished_at = 0;  // ms since the epoch
  int64_t result_valid_until = 0;  // finished_at + the exam type's result validity
};

// Runs inside the store transaction that records a result's outcome (on the writer thread).
using result_listener = std::function<void(store::tx&, const result_applied&)>;

// -- resource changes -------------------------------------------------------------------------------

// One committed change of an exam, for the resource events flow (app/ wires it to its
// publish_in): created (before null) or updated.
struct exam_change {
  const exam* before = nullptr;
  const exam& after;
};
using change_listener = std::function<void(store::tx&, const exam_change&)>;

// -- the service ------------------------------------------------------------------------------------

struct settings {
  crypto::key256 crypto_key;       // seals name, e-mail, phone, document, data (KEY_CRYPTO)
  std::string exam_token_key;      // HS256 key of exam tokens (ZMED_JWT_KEY)
  std::string result_token_key;    // HS256 key of result tokens
  int64_t exam_token_ttl_s = 30 * 86400;
  int64_t clock_skew_s = 60;       // leeway of exp / iat checks
  catalog types;
  size_t max_result_bytes = 16u << 20;  // a larger result file is stuck
  // External patient manager (ZMED_PATIENT_MANAGER_HOST), e.g. "http://10.0.0.5:80"; empty:
  // the built-in patients. Looked up with POST <url>/document/find over `http`.
  std::string patient_manager_url;
  int64_t patient_manager_timeout_ms = 8000;
  size_t max_patient_answer_bytes = 1u << 20;
  size_t max_exams_listed = 10000;  // most exams /exams/info answers (oldest first)
  change_listener on_change;        // may be empty
  result_listener on_result;        // results applied through communicate(); may be empty
};

class service {
 public:
  template <class T>
  using reply = std::function<void(result<T>)>;

  // `http` is needed (and must outlive the service) when patient_manager_url is set.
  service(store::database& db, settings s, net::http_client::client* http = nullptr);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  bool external_patients() const;
  // Throws std::runtime_error when the sealing key is not the one the store was sealed with
  // (the first call records it): medflowd refuses to start rather than answer 500s.
  void check_sealing_key();
  const settings& config() const { return s_; }

  // -- patients (built in; with an external manager these answer 404 "patients are managed
  // externally" except find_patient_by_document, which asks it) --
  result<patient> create_patient(const patient_input& in, int64_t now_ms);
  result<patient> get_patient(const std::string& id);  // not deleted
  result<patient> update_patient(const std::string& id, const patient_input& in, int64_t now_ms);
  // Soft: deleted_at set, status inactive; the patient as deleted.
  result<patient> delete_patient(const std::string& id, int64_t now_ms);
  result<patient> find_patient_by_document(const std::string& document);  // built in only

  // -- exams --
  void register_exam(const std::string& document, int64_t exam_type, int64_t now_ms,
                     reply<exam> done);
  void exams_of(const std::string& document, reply<std::vector<exam>> done);
  // The exam token of a Registered exam, which becomes Started.
  void start_exam(const std::string& document, const std::string& exam_id, int64_t exam_type,
                  int64_t now_ms, reply<std::string> done);
  void revoke_exam(const std::string& document, const std::string& exam_id,
                   const std::string& reason, int64_t now_ms, reply<exam> done);
  // Applies a result given by hand (A.5): the same checks as a result file, the outcome as an
  // error (stuck: 400 / 404 / 409; denied: 404 / 422; deleted: 409), settings::on_result
  // called in the transaction of a processed one. `content` may be empty.
  void communicate(const result_file& f, int64_t now_ms, reply<exam> done);

  // Applies one result file's JSON {"exam_token","result_token","content_type","content"}
  // (content base64). Idempotent per file_key (e.g. "<month>/<name>"): the first call decides
  // the outcome and records it in the store (table of applied files); a repeat returns the
  // recorded outcome (repeated = true) without side effects. `in_tx` (may be empty) runs inside
  // the same store transaction as the outcome, for the first call only, whatever the outcome.
  // An error only when the outcome could not be decided and recorded (storage failure, the
  // external patient manager unreachable): nothing was recorded, try again later.
  // Blocks (store; external patient manager up to its timeout).
  result<result_applied> apply_result_file(
      const std::string& file_key, std::string_view bytes,
      const std::function<void(store::tx&, const result_applied&)>& in_tx);
  result<result_applied> apply_result_file(
      const std::string& file_key, std::string_view bytes,
      const std::function<void(store::tx&, const result_applied&)>& in_tx, int64_t now_ms);

  struct impl;

 private:
  store::database& db_;
  settings s_;
  std::unique_ptr<impl> impl_;
};

// config/exams.json as shipped, built into medflowd (generated by CMakeLists.txt).
std::string_view shipped_catalog();
// Reads the catalog file at `path` (empty: the shipped one) under the JSON depth limit; throws
// std::runtime_error naming the file and what is wrong.
catalog load_catalog(const std::string& path, size_t max_bytes = 1u << 20);

}  // namespace medflow::exams
