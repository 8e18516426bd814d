// One consumer request: the mandatory headers, the query read from the body, what the
// engagement index is asked, and the list of source calls (AgP's FilterFindContentResponse-
// Processor followed by RequestListUtil.createRequestList).
#include "flows/aggregation/domain.hpp"

#include "core/strings.hpp"

#include <algorithm>
#include <unordered_set>

namespace medflow::flows::aggregation {

namespace {

// The value at `pointer`, or nullptr when the path does not exist (including paths that go
// through a non-container or use a non-numeric index into an array).
const json* at_pointer(const json& j, const std::string& pointer) {
  try {
    json::json_pointer p(pointer);
    if (!j.contains(p)) return nullptr;
    return &j.at(p);
  } catch (const json::exception&) {
    return nullptr;
  }
}

}  // namespace

// AgP 4.x (CheckInboundHeadersProcessor) tests for null only: a header sent empty is present.
std::optional<error> check_headers(const std::optional<std::string>& sender_id,
                                   const std::optional<std::string>& original_consumer,
                                   const std::optional<std::string>& correlation_id) {
  std::string msg;
  auto missing = [&](const char* header) {
    msg += std::string("Mandatory HTTP header ") + header + " is missing\n";
  };
  if (!sender_id) missing("x-vp-sender-id");
  if (!original_consumer) missing("x-rivta-original-serviceconsumer-hsaid");
  if (!correlation_id) missing("x-skltp-correlation-id");
  if (msg.empty()) return std::nullopt;
  return error::bad_request(msg);
}

// The patient id is taken as given: its format is the engagement index's business, and an id
// that matches nothing simply finds no engagements. An empty source-system filter is no filter,
// as in AgP (RequestListUtil keeps every engagement when the filter is empty or null).
result<query> read_query(const service_definition& s, const json& request) {
  if (!request.is_object()) return error::bad_request("the request must be a JSON object");
  query q;
  const json* patient = at_pointer(request, s.patient_id_pointer);
  if (!patient || patient->is_null())
    return error::bad_request("the request has no patient id at " + s.patient_id_pointer);
  if (!patient->is_string())
    return error::bad_request("the patient id at " + s.patient_id_pointer + " must be a string");
  q.patient_id = patient->get<std::string>();
  if (q.patient_id.empty())
    return error::bad_request("the patient id at " + s.patient_id_pointer + " is empty");
  if (!s.source_system_pointer.empty()) {
    const json* filter = at_pointer(request, s.source_system_pointer);
    if (filter && !filter->is_null()) {
      if (!filter->is_string())
        return error::bad_request("the source system at " + s.source_system_pointer +
                                  " must be a string");
      auto value = filter->get<std::string>();
      if (!value.empty()) q.source_system = std::move(value);
    }
  }
  return q;
}

find_content find_content_for(const service_definition& s, const query& q) {
  find_content f;
  f.registered_resident_identification = q.patient_id;
  f.service_domain = s.service_domain;
  // One category is asked of the index; several are fetched all and filtered afterwards
  // (AgServiceFactoryBase.createFindContent).
  if (s.categorizations.size() == 1) f.categorization = s.categorizations.front();
  return f;
}

// Addressing. AgP 4.x checks authority on engagement.logicalAddress, then sends one call per
// sourceSystem addressed to the sourceSystem, and the virtualization platform (VP) routes that
// call by its address and checks the consumer's rights on it again. medflow plays both parts,
// so for each engagement:
//   1. AgP's filter, as in FilterFindContentResponseProcessor: the sender or the original
//      consumer is permitted on engagement.logicalAddress (or "*") and a route exists for it;
//   2. the VP's part: the call's address (sourceSystem, or logicalAddress when the service
//      dedupes on it) must have a route, which gives the URL, and when it differs from
//      engagement.logicalAddress the same permission rule must hold for it too. Where AgP would
//      send a call the VP refuses (VP004/VP007), medflow leaves the engagement out as "FT".
// source_call.logical_address is the call's address: the processing status record's key.
// The recursion guard also looks at the call's address, since a call addressed to the
// platform's own address is the same recursion whichever field named it.
request_list make_request_list(const service_definition& s, const std::vector<engagement>& found,
                               const caller& c, const tak& t,
                               const std::string& own_logical_address, const query& q) {
  // A list of categories filters the index's answer (case-insensitively); one was asked of it.
  auto category_wanted = [&](const std::string& category) {
    return s.categorizations.size() <= 1 ||
           std::any_of(s.categorizations.begin(), s.categorizations.end(),
                       [&](const std::string& c) { return strings::iequals(c, category); });
  };
  const bool filter_on_source = q.source_system && !q.source_system->empty();

  auto authorized = [&](const std::string& address) {
    return t.authorized(c.sender_id, s.contract, address) ||
           t.authorized(c.original_consumer, s.contract, address);
  };
  auto routed = [&](const std::string& address) {
    return t.route_for(s.contract, address) != nullptr;
  };

  request_list out;
  std::unordered_set<std::string> called;
  for (const auto& e : found) {
    const std::string& address =
        s.dedupe == dedupe_on::source_system ? e.source_system : e.logical_address;
    if (!category_wanted(e.categorization)) {
      out.filtered.emplace_back(address, "FS");
      continue;
    }
    if (!own_logical_address.empty() &&
        (e.logical_address == own_logical_address || address == own_logical_address)) {
      out.filtered.emplace_back(address, "FS");
      continue;
    }
    const bool other_address = address != e.logical_address;
    if (!authorized(e.logical_address) || (other_address && !authorized(address))) {
      out.filtered.emplace_back(address, "FT");
      out.unauthorized.push_back(authorized(e.logical_address) ? address : e.logical_address);
      continue;
    }
    if (!routed(e.logical_address) || (other_address && !routed(address))) {
      out.filtered.emplace_back(address, "FT");
      continue;
    }
    if (filter_on_source && *q.source_system != e.logical_address) {
      out.filtered.emplace_back(address, "FS");
      continue;
    }
    if (!called.insert(address).second) continue;  // one call per address, first one kept
    out.calls.push_back({address, e.source_system, t.route_for(s.contract, address)->url});
  }
  return out;
}

}  // namespace medflow::flows::aggregation
