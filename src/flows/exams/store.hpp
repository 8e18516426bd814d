// The exams flow's tables (module "exams") and the statements over them. Personal data is
// sealed at rest (core/crypto: AES-256-GCM, a fresh nonce per value, the record's id as
// associated data): a patient's document, name, e-mail, phone and data, the document an exam
// was registered with, and a result's content. A patient is found by document through a
// keyed hash (HMAC-SHA256 under a key derived from the sealing key), never the clear text.
// Functions take the connection they run on: a reader lease or the writer's transaction.
#pragma once

#include "core/crypto.hpp"
#include "flows/exams/domain.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <vector>

namespace medflow::exams {

// The store's schema (module "exams").
std::vector<store::migration> migrations();

// What the applied-files table remembers of a result file's first handling.
struct applied_record {
  std::string outcome;  // result_outcome_name
  std::string reason;
  std::string exam_id;
  std::string patient_id;
  std::string result_id;
};

class records {
 public:
  explicit records(const crypto::key256& sealing_key);

  // A sealed value that does not open (another key, altered bytes) throws std::runtime_error:
  // the store is not readable with this configuration.
  std::optional<patient> patient_by_id(store::connection& c, const std::string& id) const;
  // The patient (not deleted) registered with that document.
  std::optional<patient> patient_by_document(store::connection& c, const std::string& doc) const;
  // Throws store::store_error (is_constraint) when another patient has the document.
  void insert_patient(store::connection& c, const patient& p) const;
  void update_patient(store::connection& c, const patient& p) const;

  std::optional<exam> exam_by_id(store::connection& c, const std::string& id) const;
  // The document the exam was registered with (to ask an external patient manager).
  std::optional<std::string> exam_document(store::connection& c, const std::string& id) const;
  // A patient's exams, oldest first, at most `limit`.
  std::vector<exam> exams_of(store::connection& c, const std::string& patient_id,
                             size_t limit) const;
  void insert_exam(store::connection& c, const exam& e, const std::string& document) const;
  void update_exam(store::connection& c, const exam& e) const;

  bool result_exists(store::connection& c, const std::string& result_id) const;
  void insert_result(store::connection& c, const result_claims& r, const std::string& content_type,
                     const std::string& content, int64_t now_ms) const;

  // Whether this is the key the store's values were sealed with (a first call records it).
  bool key_matches(store::connection& c) const;

  std::optional<applied_record> applied_file(store::connection& c, const std::string& key) const;
  void record_applied(store::connection& c, const std::string& key, const applied_record& r,
                      int64_t now_ms) const;

 private:
  std::string seal(std::string_view v, std::string_view aad) const;
  std::string open(std::string_view sealed, std::string_view aad) const;
  std::string document_hash(std::string_view doc) const;

  crypto::key256 key_;
  crypto::key256 lookup_key_;
};

}  // namespace medflow::exams
