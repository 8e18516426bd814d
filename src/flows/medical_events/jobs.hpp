// Jobs: the message a job becomes on topic medical_events, the request hash that deduplicates
// identical pending requests, and how a job is shown by GET /api/jobs/:id.
#pragma once

#include "flows/medical_events/domain.hpp"
#include "flows/medical_events/store.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace medflow::flows::medical_events {

// The record value on topic medical_events (key = patient id): plain JSON any Kafka client reads.
struct job_message : job_input {
  int64_t inserted_us = 0;
};

std::string encode_message(const job_message& m);
// Says what is wrong with a value that is not a job message.
result<job_message> decode_message(std::string_view value);

// Identical requests (type, path parameters, body, user, client) hash alike. Approval creates
// are salted with the job id, so they are never deduplicated (as in the reference).
std::string request_hash(const request& r, const std::string& salt = "");

// GET /api/jobs/:id: the HTTP status (200 or 303), the "data" of the envelope, and the
// Location of a 303.
struct job_view {
  int http_status = 200;
  json data;
  std::optional<std::string> location;
};
// A processed job without response_data is 303 with its links and no Location, as eHealth
// answers it (clients built on HttpURLConnection would follow a Location and show another
// answer). `with_location` (medical_events.job_location): a Location to the first link, and
// 200 when there is none.
job_view render_job(const job_record& j, bool with_location = false);

// The body answering a request: {eta, status, links} as eHealth's 202 (or the deduplicated
// 200), the status the job has now: "pending", or "processed" / "failed" when it was processed
// at once (medical_events.inline_jobs); its result is read at the link as always.
json accepted_data(const job_record& j);

// Caps a stored response at `max_bytes` of JSON as the reference does: validation rules lose
// their params first, then invalid entries are dropped from the end; strings are cut to
// max_bytes - 3 characters plus "...".
json cut_response(json response, size_t max_bytes = 10000);

}  // namespace medflow::flows::medical_events
