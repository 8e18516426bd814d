// The exams flow's pure domain (reference Part A): patients and their validation (A.3, A.10),
// exams and their transitions (A.3, A.5), the exam type catalog (config/exams.json), the
// claims of the exam and result tokens (A.6), and what a result file is. No store, no clock,
// no HTTP: callers pass `now` and persist what these functions return.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::exams {

using json = nlohmann::json;

// -- patients (A.3) ---------------------------------------------------------------------------------

enum class patient_status { pending, active, inactive };
const char* patient_status_name(patient_status s);  // "pending", "active", "inactive"
std::optional<patient_status> parse_patient_status(std::string_view s);

struct patient {
  std::string id;  // UUID v4
  std::string document;
  std::string name;
  std::string birth_date;  // YYYY-MM-DD, or "" when unknown
  patient_status status = patient_status::pending;
  int64_t created_at = 0;  // ms since the epoch
  int64_t updated_at = 0;
  std::optional<int64_t> deleted_at;
  std::string cellphone;
  std::optional<int64_t> cellphone_verified_at;
  std::string email;
  std::optional<int64_t> email_verified_at;
  json data;  // a free JSON object, or null
};

// The wire form of A.3: created_at etc. as RFC 3339 (UTC, milliseconds); updated_at,
// *_verified_at and data omitted when absent (omitempty), deleted_at null when absent.
json to_json(const patient& p);
// Reads a Patient as the external patient manager answers /document/find (A.7, the same
// form). An error names the field.
result<patient> patient_from_json(const json& j);

// What POST /patients and PUT /patients/{id} carry: every field but id and the timestamps.
struct patient_input {
  std::string document;
  std::string name;
  std::string birth_date;
  patient_status status = patient_status::pending;
  std::string cellphone;
  std::optional<int64_t> cellphone_verified_at;
  std::string email;
  std::optional<int64_t> email_verified_at;
  json data;
};

// Reads and validates a request body: document (1..64 characters), name (A.10: at least two
// space-separated parts, none of ! @ $ % *), birth_date (YYYY-MM-DD, optional), status
// (default pending), email (A.10: local@domain, neither empty, domain not blocked; optional),
// cellphone (A.10: digits only, 11..15 of them, the 9th from the end a '9'; optional),
// *_verified_at (RFC 3339, optional), data (an object, optional). Unknown fields are refused.
// Each failure is a 400 whose message names the field, e.g. "email: domain is blocked".
result<patient_input> read_patient_input(const json& body);

// A.10's rules one by one (the message of a failure names no field; read_patient_input adds it).
status check_name(std::string_view name);
status check_email(std::string_view email);
status check_cellphone(std::string_view phone);

// -- the exam type catalog (config/exams.json) ----------------------------------------------------

struct exam_type {
  int64_t code = 0;
  std::string name;
  int64_t result_validity_days = 0;  // how long a finished exam's result stays valid
};

struct catalog {
  std::map<int64_t, exam_type> types;
  const exam_type* find(int64_t code) const;
};

// {"exam_types": [{"code", "name", "result_validity_days"}...]} (keys starting with _ are
// comments). Codes unique and in 0..2^31-1, names non-empty, validity 1..36500 days, at most
// 10,000 types. The error names the place, e.g. "exam_types[2].code: duplicate code 7".
result<catalog> parse_catalog(const json& doc);

// -- exams (A.3, A.5) -------------------------------------------------------------------------------

// The resource kind of exams in resource events (config/events.json).
inline constexpr const char* exam_kind = "exam";

// Registered -> Started -> Finished; Registered or Started -> Revoked; nothing else.
enum class exam_status { registered, started, finished, revoked };
const char* exam_status_name(exam_status s);  // "Registered", "Started", "Finished", "Revoked"
std::optional<exam_status> parse_exam_status(std::string_view s);
bool transition_allowed(exam_status from, exam_status to);

struct exam {
  std::string id;  // UUID v4
  std::string patient_id;
  exam_status status = exam_status::registered;
  int64_t exam_type = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<int64_t> finished_at;
  std::optional<int64_t> result_valid_until;  // finished_at + the type's result validity
  std::optional<int64_t> revoked_at;
  std::string revoke_reason;
  std::string token_jti;   // jti of the exam token issued at start ("" before)
  std::string result_id;   // the applied result ("" before)
  int64_t version = 1;     // 1 when registered, +1 per change (resource events' versions)
};

// The wire form: exam_id, patient_id, status, exam_type, created_at, updated_at, finished_at
// (null until finished), is_revoked, and when revoked revoked_at and revoke_reason; result_id
// and result_valid_until once finished. Times RFC 3339.
json to_json(const exam& e);

// -- tokens (A.6) -----------------------------------------------------------------------------------

// The exam token's claims: patient_id, exam_id, exam_type, iat, exp, jti.
json exam_token_claims(const exam& e, const std::string& jti, int64_t now_s, int64_t ttl_s);

struct exam_claims {
  std::string patient_id;
  std::string exam_id;
  int64_t exam_type = 0;
  std::string jti;
};
struct result_claims {
  std::string exam_id;
  std::string result_id;
  std::string issued_by;
};
// The claims of a verified token's payload; an error (400) names the missing or mistyped
// claim. exam_id and result_id must be 1..64 characters of [A-Za-z0-9_.-].
result<exam_claims> read_exam_claims(const json& payload);
result<result_claims> read_result_claims(const json& payload);

// -- result files -----------------------------------------------------------------------------------

// {"exam_token", "result_token", "content_type", "content" (base64)}: what the results inbox
// holds and /exams/communicate also accepts (content optional there).
struct result_file {
  std::string exam_token;
  std::string result_token;
  std::string content_type;
  std::string content;  // decoded bytes
};
// Reads a parsed result file; errors (400) name the field. Tokens at most 8 KiB each,
// content_type 1..255 printable characters, content strict base64.
result<result_file> read_result_file(const json& doc, bool content_required);

}  // namespace medflow::exams
