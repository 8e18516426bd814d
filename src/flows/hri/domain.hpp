// The batches flow (Alvearie HRI), pure domain logic: tenants, streams and their topics,
// batches and their status machine, request validation with HRI's error texts, the scopes a
// caller needs, the validation tracker's decisions, the record validators, and the JSON of
// batches, notifications and invalid records. No SQLite, HTTP or CAF here.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::flows::hri {

using json = nlohmann::json;

// -- statuses ----------------------------------------------------------------------------------------

enum class status { started, send_completed, completed, failed, terminated };
const char* status_name(status s);  // "started", "sendCompleted", "completed", "failed", "terminated"
std::optional<status> parse_status(std::string_view text);

// -- batches -------------------------------------------------------------------------------------

struct batch {
  std::string id;
  std::string tenant;
  std::string name;
  std::string integrator_id;   // the creator's JWT sub ("NoAuthUnkIntegrator" without auth)
  std::string topic;           // the input topic, e.g. ingest.t1.s1.in
  std::string data_type;
  status st = status::started;
  int64_t start_ms = 0;
  std::optional<int64_t> end_ms;                 // set on completed / failed / terminated
  std::optional<int64_t> expected_record_count;  // from sendComplete; mirrored as recordCount
  std::optional<int64_t> actual_record_count;    // from processingComplete / fail
  std::optional<int64_t> invalid_record_count;
  int64_t invalid_threshold = -1;                // -1: no threshold (0 or absent at create)
  json metadata;                                 // null when absent
  std::optional<std::string> failure_message;    // failed only

  // -- tracking (medflow's validation processing; not part of the API body) --
  int64_t valid_count = 0;
  int64_t invalid_count = 0;
  int64_t status_changed_ms = 0;  // when the status last changed (the completion delay counts from it)
  // Per input partition ("<topic>/<partition>"), the last offset counted: a record delivered
  // again after a crash is recognised and not counted twice.
  std::map<std::string, int64_t> seen_offsets;
};

// The batch as the API returns it and notifications carry it: keys in alphabetical order (HRI
// marshals a Go map), dates as 2006-01-02T15:04:05Z, recordCount mirrored from
// expectedRecordCount, absent fields omitted.
json to_json(const batch& b);

// -- the caller -----------------------------------------------------------------------------------

struct principal {
  std::string sub;
  std::set<std::string> scopes;
  bool auth_disabled = false;
  bool has(const std::string& scope) const { return scopes.count(scope) > 0; }
};

inline const char* no_auth_integrator = "NoAuthUnkIntegrator";
inline const char* scope_integrator = "hri_data_integrator";
inline const char* scope_consumer = "hri_consumer";
inline const char* scope_internal = "hri_internal";

// -- requests and their validation (400) ---------------------------------------------------------------
// Errors are medflow::error{400, "bad_request", <HRI's text>}: e.g. "invalid request arguments:
// \n- name (json field in request body) is a required field", or "invalid request param
// \"name\": expected type string, but received type number".

// tenantId: "may only contain lower-case alpha-numeric chars and the following 2 special
// chars: '-', '_'"; streamId: lower-case alpha-numerics, at most one '.', '-' and '_'.
std::optional<error> check_tenant_id(const std::string& id);
std::optional<error> check_stream_id(const std::string& id);
// The path checks of the requests without a body, as HRI's request structs declare them: most
// only require the ids to be present ("tenantId (url path parameter) is a required field", "id
// (url path parameter) is a required field"); deleting a stream also checks the stream id's form.
std::optional<error> check_tenant_present(const std::string& tenant);
std::optional<error> check_batch_ids(const std::string& tenant, const std::string& batch_id);
std::optional<error> check_stream_ids(const std::string& tenant, const std::string& stream);

struct create_batch {
  std::string name;
  std::string topic;
  std::string data_type;
  int64_t invalid_threshold = -1;
  json metadata;  // null when absent
};
result<create_batch> parse_create_batch(const std::string& body);
// The same with the tenant path parameter, whose errors HRI lists together with the body's
// (sorted into one "invalid request arguments" text). An empty body binds nothing (Echo skips
// it), so it yields the "required" errors; a body that is not JSON yields Echo's binder text.
result<create_batch> parse_create_batch(const std::string& tenant, const std::string& body);

struct search_query {
  std::optional<std::string> name;
  std::optional<std::string> status;  // any text: unknown statuses simply match nothing
  std::optional<int64_t> gte_ms;
  std::optional<int64_t> lte_ms;
  int64_t size = 10;
  int64_t from = 0;
  // The date parameters as given (bind_search fills them; resolve_search turns them into
  // gte_ms / lte_ms the way Elasticsearch reads strict_date_optional_time||epoch_millis).
  std::optional<std::string> gte_date;
  std::optional<std::string> lte_date;
};
// Query parameters as given (name -> value): bind_search + resolve_search in one, for callers
// that do not need HRI's exact order of 400 and 401.
result<search_query> parse_search(const std::vector<std::pair<std::string, std::string>>& params);
// HRI's order: binding and validation fail before authorization ("code=400, message=
// strconv.ParseInt: parsing "x": invalid syntax, ..." for a non-integer size/from, the
// injection check on name/status/gteDate/lteDate, the tenant's presence)...
result<search_query> bind_search(const std::string& tenant,
                                 const std::vector<std::pair<std::string, std::string>>& params);
// ...while what Elasticsearch rejects comes after it: negative or non-int32 from/size, from +
// size > 10000, unparsable dates ("Get batch failed: [400] search_phase_execution_exception: all
// shards failed: parse_exception: failed to parse date field [x] with format [...]: [...]").
// size=-1 / from=-1 mean "not given" to Elasticsearch, so they become 10 / 0.
std::optional<error> resolve_search(search_query& q);

enum class action { send_complete, terminate, processing_complete, fail };
const char* action_name(action a);  // "sendComplete", "terminate", "processingComplete", "fail"

struct action_request {
  action a;
  std::optional<int64_t> expected_record_count;  // sendComplete (or its deprecated recordCount)
  std::optional<int64_t> actual_record_count;    // processingComplete, fail
  std::optional<int64_t> invalid_record_count;   // processingComplete, fail
  std::optional<std::string> failure_message;    // fail
  json metadata;                                 // sendComplete, terminate; null: keep
};
result<action_request> parse_action(action a, const std::string& body);
// The same with the path parameters (tenantId and batch id "id" are required).
result<action_request> parse_action(action a, const std::string& tenant,
                                    const std::string& batch_id, const std::string& body);

struct stream_settings {
  int64_t num_partitions = 1;
  int64_t retention_ms = 0;
  std::optional<int64_t> retention_bytes;
  std::optional<std::string> cleanup_policy;  // delete | compact
  std::optional<int64_t> segment_ms;
  std::optional<int64_t> segment_bytes;
  std::optional<int64_t> segment_index_bytes;
  std::string validator = "fhir";  // medflow: passthrough | json | fhir (streams with validation)
};
result<stream_settings> parse_stream(const std::string& body);
// The same with the path parameters (tenantId and stream id "id", both checked for their form).
result<stream_settings> parse_stream(const std::string& tenant, const std::string& stream,
                                     const std::string& body);

// -- authorization (401; HRI never uses 403) ---------------------------------------------------------

// "Unauthorized tenant access. Tenant '<t>' is not included in the authorized scopes: <scope>."
std::optional<error> check_tenant_scope(const principal& p, const std::string& tenant,
                                        const std::string& scope_text);
// Role checks per operation, with HRI's texts ("Must have hri_data_integrator role to create a
// batch", "The access token must have one of these scopes: hri_consumer, hri_data_integrator"...).
std::optional<error> check_create_role(const principal& p);
std::optional<error> check_read_role(const principal& p);
std::optional<error> check_action_role(const principal& p, action a);
// An integrator (without hri_consumer) sees only its own batches: 401 "The token's sub claim
// (clientId): <sub> does not match the data integratorId: <owner>".
std::optional<error> check_read_owner(const principal& p, const batch& b);
// Whether a search must be limited to the caller's own batches.
bool integrator_only(const principal& p);

// 404 "The document for tenantId: <t> with document (batch) ID: <id> was not found"; for the
// actions, which read the batch first, prefixed "error getting current Batch Status: ".
error batch_not_found(const std::string& tenant, const std::string& batch_id, bool for_action);

// -- the status machine ---------------------------------------------------------------------------

// Applies an action: ownership first (sendComplete/terminate by the owner only: 401 "<action>
// requested by '<sub>' but owned by '<owner>'"), then the allowed states (409 "sendComplete
// failed, batch is in '<s>' state", "'fail' failed, ..."). sendComplete goes to sendCompleted
// with validation, else completed. Metadata given on sendComplete/terminate replaces the whole
// object. Returns the new batch (status_changed_ms = now).
result<batch> apply_action(const batch& b, const action_request& r, const principal& p,
                           bool validation_enabled, int64_t now_ms);

// -- validation processing ---------------------------------------------------------------------------

enum class fate { forward, invalid, dropped };
struct record_decision {
  fate f;
  bool counted;         // counts toward the batch (valid or invalid)
  std::string failure;  // for invalid records
};
// What happens to a record of an input topic: no batchId header -> invalid "Bad Message - No
// header or batchId node"; unknown batch -> invalid "Bad Message - Unknown batchId";
// terminated/failed -> dropped; completed -> invalid "Bad Message - batchId is already
// completed"; started/sendCompleted -> the validator's verdict, counted.
record_decision classify(bool has_batch_header, const batch* b,
                         const std::optional<std::string>& validator_failure);

// The tracker's decision after a record was counted, a status changed, or a timer fired.
struct tracker_decision {
  enum class kind { none, fail, complete_at, complete_now } k = kind::none;
  std::string failure_message;  // for fail
  int64_t at_ms = 0;            // for complete_at: when the completion delay ends
};
// invalid == threshold -> fail "Failing Batch: <id>, too many invalid records invalidCount: <n>
// == invalidThreshold: <t>"; sendCompleted and count == expected -> complete at
// status_changed + delay (complete_now once that time has come); sendCompleted and count >
// expected -> fail "Failing batch: <id>, received too many records, actualRecordCount: <n> >
// expectedRecordCount: <e>"; sendCompleted with too few records for stuck_timeout_ms (0: never)
// -> fail with a message that says how many arrived.
tracker_decision track(const batch& b, int64_t completion_delay_ms, int64_t stuck_timeout_ms,
                       int64_t now_ms);
// When track() must be asked again although no record or status change arrives: the end of the
// completion delay (the complete_at time) or of the stuck timeout; nullopt when only a record or
// a status change can change the decision.
std::optional<int64_t> next_check_ms(const batch& b, int64_t completion_delay_ms,
                                     int64_t stuck_timeout_ms);
// The management-API call a decision makes (as HRI's Flink sink does): fail ->
// fail{actualRecordCount = valid + invalid, invalidRecordCount = invalid, failureMessage};
// complete_now -> processingComplete with the same counts. Only for fail / complete_now.
action_request decision_request(const batch& b, const tracker_decision& d);

// -- record validators ----------------------------------------------------------------------------

class validator {
 public:
  virtual ~validator() = default;
  // nullopt when the record is valid, else why not.
  virtual std::optional<std::string> check(std::string_view value) const = 0;
};
// "passthrough" (always valid), "json" (a JSON value), "fhir" (a FHIR R4 Bundle: a JSON object
// with resourceType "Bundle", a valid "type", and entry[].resource.resourceType strings).
std::unique_ptr<validator> make_validator(const std::string& kind);
bool known_validator(const std::string& kind);

// -- topics and messages ------------------------------------------------------------------------------

// ingest.<tenant>.<stream>.{in,notification} (+ .out, .invalid with validation)
struct stream_topics {
  std::string in, notification, out, invalid;
};
stream_topics topics_of(const std::string& tenant, const std::string& stream);
// The notification topic of an input topic: "<topic without .in>.notification".
std::string notification_topic(const std::string& input_topic);
// The .out / .invalid topic of an input topic (".in" replaced).
std::string output_topic(const std::string& input_topic, const std::string& suffix);

// Topics a tenant may name in a batch beyond its own namespace: tenant -> topics.
using topic_grants = std::map<std::string, std::set<std::string>>;
// hri.topic_grants: "<tenant>:<topic>" pairs separated by commas (spaces around them ignored),
// e.g. "t1:ingest.shared.s1.in, t2:ingest.shared.s1.in". Errors name the pair.
result<topic_grants> parse_topic_grants(std::string_view text);
// A batch's topic decides where its notifications (and its records' .out / .invalid) are
// written, so a tenant names only topics of its own namespace, ingest.<tenant>.*, or one
// granted to it in configuration; anything else is 403 naming the topic. (HRI does not check:
// any tenant's batch could write into another tenant's topics.)
std::optional<error> check_batch_topic(const std::string& tenant, const std::string& topic,
                                       const topic_grants& grants);

// {"batchId"?, "topic", "partition", "offset", "failure"} (null fields omitted)
json invalid_record(const std::optional<std::string>& batch_id, const std::string& topic,
                    int32_t partition, int64_t offset, const std::string& failure);

}  // namespace medflow::flows::hri
