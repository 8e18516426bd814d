// Per-source processing status (RIV-TA interoperability headers 1.0, AgP's ProcessingStatusUtil),
// the aggregated answer, and reading one source's answer.
#include "flows/aggregation/domain.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"

namespace medflow::flows::aggregation {

namespace {

using kind = source_result::kind;

enum class status_code {
  data_from_source,
  data_from_cache,
  data_from_cache_synch_failed,
  no_data_synch_failed
};

// The cache flags only count with the time the cached answer was stored: that time is what the
// record reports as lastSuccessfulSynch, and without it there is no honest record to write.
status_code classify(const source_result& r) {
  const bool cached = r.cached_at_ms.has_value();
  if (r.from_cache && cached) return status_code::data_from_cache;
  if (r.k == kind::answered) return status_code::data_from_source;
  if (r.cache_fallback && cached) return status_code::data_from_cache_synch_failed;
  return status_code::no_data_synch_failed;
}

// lastUnsuccessfulSynchError. AgP 4.x: the causing agent is always the platform; the code is
// "504" for a socket timeout, the fault's HTTP status for a fault, "43000" for anything else
// ("default for old mule AGP"); a source with no result after the aggregate timeout gets
// "Unknown error". Empty texts get a stand-in so the record always says something.
json synch_error(const source_result& r) {
  std::string code, text;
  switch (r.k) {
    case kind::timeout:
      code = "504";
      text = r.error_text.empty() ? "Read timed out" : r.error_text;
      break;
    case kind::fault:
      // A fault is an HTTP error answer; one without a status is reported as SOAP faults are.
      code = std::to_string(r.http_status > 0 ? r.http_status : 500);
      text = r.error_text.empty() ? "HTTP " + code : r.error_text;
      break;
    case kind::failed:
      code = "43000";
      text = r.error_text.empty() ? "Unknown error" : r.error_text;
      break;
    case kind::not_answered:
    case kind::answered:  // not reached: an answered source has no error
      code = "43000";
      text = "Unknown error";
      break;
  }
  return {{"causingAgent", "virtualization_platform"}, {"code", code}, {"text", text}};
}

}  // namespace

json processing_status_record(const std::string& logical_address, const source_result& r,
                              int64_t now_ms) {
  const auto code = classify(r);
  const bool from_cache = code == status_code::data_from_cache ||
                          code == status_code::data_from_cache_synch_failed;
  const bool in_synch =
      code == status_code::data_from_source || code == status_code::data_from_cache;
  static const char* const names[] = {"DataFromSource", "DataFromCache",
                                      "DataFromCacheSynchFailed", "NoDataSynchFailed"};
  json rec = {{"logicalAddress", logical_address},
              {"statusCode", names[static_cast<int>(code)]},
              {"isResponseFromCache", from_cache},
              {"isResponseInSynch", in_synch}};
  // Data came from the source now, or from the cache as stored then. Without data,
  // lastSuccessfulSynch is left out, as AgP does (the schema's "mandatory" notwithstanding).
  // Times are local (the process's TZ), as ProcessingStatusUtil formats them.
  if (code != status_code::no_data_synch_failed)
    rec["lastSuccessfulSynch"] = clock::compact_local_ts(from_cache ? *r.cached_at_ms : now_ms);
  if (!in_synch) {
    rec["lastUnsuccessfulSynch"] = clock::compact_local_ts(now_ms);
    rec["lastUnsuccessfulSynchError"] = synch_error(r);
  }
  return rec;
}

json aggregate(const service_definition& s, const std::vector<source_call>& calls,
               std::vector<source_result> results, int64_t now_ms) {
  // A call without a result is a source still out when the aggregate timeout fired.
  static const source_result missing{};
  json items = json::array();
  json statuses = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const source_result& r = i < results.size() ? results[i] : missing;
    statuses.push_back(processing_status_record(calls[i].logical_address, r, now_ms));
    if (classify(r) == status_code::no_data_synch_failed || !r.items.is_array()) continue;
    // `missing` classifies as no data, so here r is results[i], which is ours to empty.
    for (auto& item : results[i].items) items.push_back(std::move(item));
  }
  return {{s.list_field, std::move(items)}, {"processingStatus", std::move(statuses)}};
}

// A failure here becomes the source's NoDataSynchFailed record, so the messages say what was
// wrong with the answer; 502 because it is the upstream's answer that is bad.
result<json> parse_source_answer(const service_definition& s, const std::string& body) {
  auto bad = [](std::string msg) { return error{502, "bad_gateway", std::move(msg), {}}; };
  auto parsed = parse_json_limited(body);
  if (!parsed) {
    const auto& e = parsed.err();
    return bad((e.detail.is_null() ? "the source's answer is not JSON: " : "the source's answer: ") +
               e.message);
  }
  json doc = std::move(*parsed);
  if (!doc.is_object()) return bad("the source's answer is not a JSON object");
  auto it = doc.find(s.list_field);
  if (it == doc.end() || it->is_null()) return json::array();
  if (!it->is_array())
    return bad("the source's answer has " + s.list_field + " that is not an array");
  return std::move(*it);
}

}  // namespace medflow::flows::aggregation
