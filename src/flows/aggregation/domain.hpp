// The aggregation flow (Sweden's aggregation platform, AgP), pure domain logic: engagements
// and the engagement index's find-content, aggregating service definitions (configuration),
// the authorization and route table (TAK), the request list rules, per-source processing
// status, the aggregated answer, and the per-source answer cache. No SQLite, HTTP or CAF here.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace medflow::flows::aggregation {

using json = nlohmann::json;

// -- engagements (itintegration:engagementindex:1 EngagementType, as JSON) ----------------------

struct engagement {
  std::string registered_resident_identification;  // ^[0-9]{8}[0-9pPtTfF][0-9]{3}$
  std::string service_domain;
  std::string categorization;
  std::string logical_address;
  std::string business_object_instance_identifier;
  std::string clinical_process_interest_id;
  std::optional<std::string> most_recent_content;  // TS yyyyMMddHHmmss
  std::string source_system;
  std::optional<std::string> creation_time;
  std::optional<std::string> update_time;
  std::string data_controller;
  std::optional<std::string> owner;
};

// JSON with the XSD's element names (registeredResidentIdentification, serviceDomain, ...).
json to_json(const engagement& e);
// Validates required fields and formats; errors are 400 naming the field
// (e.g. "engagement.registeredResidentIdentification must match ^[0-9]{8}[0-9pPtTfF][0-9]{3}$").
result<engagement> engagement_from_json(const json& j);
// The engagement index's identity of an engagement (an upsert replaces the same identity):
// registeredResidentIdentification, serviceDomain, categorization, logicalAddress,
// businessObjectInstanceIdentifier, clinicalProcessInterestId, sourceSystem, dataController.
std::string identity_key(const engagement& e);

// FindContent: registeredResidentIdentification and serviceDomain, optional categorization.
struct find_content {
  std::string registered_resident_identification;
  std::string service_domain;
  std::optional<std::string> categorization;
};
result<find_content> find_content_from_json(const json& j);
json to_json(const find_content& f);
bool matches(const find_content& f, const engagement& e);

// -- configuration ----------------------------------------------------------------------------------

struct timeouts {
  int64_t service_ms = 4000;             // SERVICE_TIMEOUT_MS: one source call (and the index)
  int64_t aggregate_ms = 4500;           // AGGREGATE_TIMEOUT_MS: collecting the answers
  int64_t aggregated_service_ms = 5000;  // AGGREGATED_SERVICE_TIMEOUT_MS: the whole request
};
// AGGREGATED_SERVICE > AGGREGATE > SERVICE, else an error that says so with the values, e.g.
// "AGGREGATE_TIMEOUT_MS (3000) must be greater than SERVICE_TIMEOUT_MS (4000)". Not `strict`
// (a service's own override): only AGGREGATED_SERVICE > AGGREGATE is required.
std::optional<error> check_timeouts(const timeouts& t, const std::string& where,
                                    bool strict = true);

struct cache_settings {
  bool enabled = false;
  int64_t max_entries = 1000;            // CACHE_MAX_ENTRIES
  int64_t ttl_ms = 5000;                 // CACHE_TTL_MS: an answer this young is served as is
  int64_t expiration_interval_ms = 1000; // CACHE_EXPIRATION_INTERVAL_MS: how often to sweep
  int64_t stale_ms = 300000;             // how long an older answer may stand in for a failure
};

enum class dedupe_on { source_system, logical_address };

// One aggregating service (a file under config/aggregation/).
struct service_definition {
  std::string name;                         // POST /aggregation/{name}
  std::string service_domain;               // the engagement index's serviceDomain
  std::vector<std::string> categorizations; // none: all; one: asked of the index; more: filter
  std::string contract;                     // the authorization (TAK) contract
  std::string patient_id_pointer;           // JSON pointer into the request
  std::string source_system_pointer;        // JSON pointer of the optional filter ("": none)
  dedupe_on dedupe = dedupe_on::source_system;
  std::string list_field;                   // the list each source answers with / aggregated
  timeouts limits;
  cache_settings cache;
};
// Parses a service file's JSON; unset timeouts and cache settings come from `defaults_*`.
// Errors name the file's field, e.g. "service GetX: patientIdPointer is required".
result<service_definition> parse_service(const json& j, const timeouts& default_timeouts,
                                         const cache_settings& default_cache);

// TAK: who may call whom on which contract (anropsbehörighet), and where a logical address is
// reached (vägval). "*" as a permission's logical address means every receiver.
struct permission {
  std::string consumer;         // HSA id of the sender or original consumer
  std::string contract;
  std::string logical_address;
};
struct route {
  std::string contract;
  std::string logical_address;
  std::string url;
};
struct tak {
  std::vector<permission> permissions;
  std::vector<route> routes;
  bool authorized(const std::string& consumer, const std::string& contract,
                  const std::string& logical_address) const;
  const route* route_for(const std::string& contract, const std::string& logical_address) const;
  // Hashes both tables, so that a check costs as little with thousands of routes (one per care
  // unit) as with a few: an aggregated request checks every engagement the patient has.
  // parse_tak indexes what it reads; a table whose size changed since is scanned instead.
  void reindex();

 private:
  struct lookup_index;
  std::shared_ptr<const lookup_index> index_;
  const lookup_index* current_index() const;
};
// {"permissions": [{"consumer","contract","logicalAddress"}], "routes": [{"contract",
// "logicalAddress","url"}]}
result<tak> parse_tak(const json& j);

// -- a request ---------------------------------------------------------------------------------------

struct caller {
  std::string sender_id;          // x-vp-sender-id
  std::string original_consumer;  // x-rivta-original-serviceconsumer-hsaid
  std::string correlation_id;     // x-skltp-correlation-id
};
// The mandatory headers: every missing one is named, in AgP's order and texts, one line each:
// "Mandatory HTTP header x-vp-sender-id is missing\n" ... (400).
std::optional<error> check_headers(const std::optional<std::string>& sender_id,
                                   const std::optional<std::string>& original_consumer,
                                   const std::optional<std::string>& correlation_id);

// The patient id and the optional source-system filter read from the request by the
// service's pointers (400 when the patient id is missing or not a string).
struct query {
  std::string patient_id;
  std::optional<std::string> source_system;
};
result<query> read_query(const service_definition& s, const json& request);
// What the engagement index is asked: categorization only when exactly one is configured.
find_content find_content_for(const service_definition& s, const query& q);

// One call to make.
struct source_call {
  std::string logical_address;  // what the source is addressed as (processing status key)
  std::string source_system;
  std::string url;
};
struct request_list {
  std::vector<source_call> calls;
  // Engagements left out and why: "FT" (filtered by TAK: no permission or no route), "FS"
  // (filtered by the service: category, own address, source-system filter).
  std::vector<std::pair<std::string, std::string>> filtered;
  // Of the "FT" ones, those left out because neither the sender nor the original consumer is
  // permitted on the address called: that address (the engagement's logicalAddress, or its
  // sourceSystem when that is what would be called).
  std::vector<std::string> unauthorized;
};
// AgP's rules in its order: the category list (more than one configured; lower-case compare),
// the own logical address (recursion guard), authorization (sender OR original consumer is
// permitted on the engagement's logical address, and a route exists), the source-system filter
// (equal to the engagement's logicalAddress), then dedupe (on sourceSystem or logicalAddress).
request_list make_request_list(const service_definition& s, const std::vector<engagement>& found,
                               const caller& c, const tak& t,
                               const std::string& own_logical_address, const query& q);

// -- answers and processing status ---------------------------------------------------------------------

// How one source call ended.
struct source_result {
  enum class kind { answered, timeout, fault, failed, not_answered } k = kind::not_answered;
  int http_status = 0;     // fault: the source's HTTP status
  json items = json::array();  // answered: the source's list
  std::string error_text;  // timeout / fault / failed: what went wrong
  // Cache (set by the caller of processing_status):
  bool from_cache = false;          // a fresh cached answer was used, no call made
  bool cache_fallback = false;      // the call failed and a cached answer stands in
  std::optional<int64_t> cached_at_ms;  // when the cached answer was stored
  int64_t elapsed_us = 0;           // how long the call took (0: no call was made)
};

// The ProcessingStatus record of one expected source, per AgP's table (timestamps
// yyyyMMddHHmmss): DataFromSource / DataFromCache / DataFromCacheSynchFailed /
// NoDataSynchFailed with lastUnsuccessfulSynchError {causingAgent "virtualization_platform",
// code: "504" for timeouts, the HTTP status for faults, "43000" otherwise (and "Unknown
// error" for a source still out when the aggregate timeout fired)}.
json processing_status_record(const std::string& logical_address, const source_result& r,
                              int64_t now_ms);

// The answer: the service's list (every answered or cached source's items concatenated, in
// the request list's order) and "processingStatus": exactly one record per expected source.
json aggregate(const service_definition& s, const std::vector<source_call>& calls,
               std::vector<source_result> results, int64_t now_ms);

// Reads a source's answer body: a JSON object whose `list_field` is an array (missing: empty
// list). Anything else is a failure with a message (e.g. garbage bodies).
result<json> parse_source_answer(const service_definition& s, const std::string& body);

// -- the per-source answer cache -----------------------------------------------------------------------

// Answers of sources keyed by (service, logical address, request body); thread-safe; bounded
// (least recently used goes first); entries older than stale_ms are swept.
class answer_cache {
 public:
  explicit answer_cache(cache_settings s);
  struct entry {
    json items;
    int64_t stored_ms = 0;
  };
  static std::string key(const std::string& service, const std::string& logical_address,
                         const std::string& request_body);
  std::optional<entry> get(const std::string& key, int64_t now_ms);
  bool fresh(const entry& e, int64_t now_ms) const { return now_ms - e.stored_ms < s_.ttl_ms; }
  void put(const std::string& key, json items, int64_t now_ms);
  size_t sweep(int64_t now_ms);
  size_t size() const;
  const cache_settings& settings() const { return s_; }

 private:
  cache_settings s_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recent first
  struct slot {
    entry e;
    std::list<std::string>::iterator pos;
  };
  std::unordered_map<std::string, slot> map_;
};

}  // namespace medflow::flows::aggregation
