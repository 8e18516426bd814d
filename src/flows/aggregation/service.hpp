// The aggregation flow's entry: the aggregating services and the TAK (catalog.hpp), the
// engagement index (local, or an external one over HTTP), the per-service answer caches, and
// the steps of one aggregated request up to its fan-out: service lookup, mandatory headers,
// body, query, index, request list, and the headers every source gets. The calls themselves
// are made by whoever the service hands the fan-out to (the actors; no CAF here).
#pragma once

#include "core/metrics.hpp"
#include "net/http_client.hpp"
#include "flows/aggregation/catalog.hpp"
#include "flows/aggregation/index.hpp"
#include "store/database.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace medflow::flows::aggregation {

using header_list = std::vector<std::pair<std::string, std::string>>;

// One request's fan-out: the calls to make, the body and headers every source gets, the
// service's answer cache, and where the aggregated answer goes.
struct fan_out_request {
  std::shared_ptr<const service_definition> service;
  std::vector<source_call> calls;
  std::string request_body;
  header_list headers;                // propagated to every source
  answer_cache* cache = nullptr;      // null: no cache for this service
  // The aggregated answer, and how long the slowest source call took (µs; 0 when none ran).
  std::function<void(json, int64_t)> reply;
};
using fan_out_fn = std::function<void(fan_out_request)>;
// Runs a step of a request elsewhere than on the calling thread (medflowd: on an actor, off
// the HTTP I/O threads). Empty: the step runs at once, on the caller's thread.
using run_fn = std::function<void(std::function<void()>)>;

struct settings {
  std::string own_logical_address = "5565594230";  // the recursion guard
  std::string vp_instance_id = "medflow";          // x-vp-instance-id sent to sources
  std::string index_url;                           // external find-content URL ("": local)
  std::string index_sender_id = "SKLTP";           // x-vp-sender-id towards the external index
  int64_t index_timeout_ms = 4000;                 // SERVICE_TIMEOUT_MS, as for a source
  size_t max_engagements = 10000;                  // most engagements one lookup may find
};

// How one aggregated request is answered.
struct replies {
  // At once, with an error: 400 (headers, body, query), 404 (service), 502/504 (index).
  std::function<void(const error&)> fail;
  // 200 with the aggregated answer: at once when no source is to be asked, else later, from
  // the thread that collected the answers. Returns false when it came too late (the deadline
  // had answered).
  std::function<bool(const json&)> answer;
  // Right before a fan-out: the whole request's bound (AGGREGATED_SERVICE_TIMEOUT_MS) and
  // what to answer when it passes first.
  std::function<void(int64_t ms, const error&)> deadline;
};

class service {
 public:
  // `http` is needed only for an external index (settings::index_url); the local index lives
  // in `db`. One answer cache per service that has caching on. `run_lookup` runs a request's
  // local index lookup and request list (SQLite, and as many engagements as the patient has):
  // the HTTP route calls request() on its connection's thread, which must not wait for them.
  // (An external index's lookup waits for the network: its route runs on the HTTP pool, and
  // the lookup right there.)
  service(catalog c, settings s, store::database& db, net::http_client::client* http,
          fan_out_fn fan_out, run_fn run_lookup = {});

  const settings& options() const { return s_; }

  const std::map<std::string, std::shared_ptr<const service_definition>>& services() const {
    return catalog_.services;
  }
  engagement_index& index() { return *index_; }
  local_index* local() { return local_.get(); }  // null when the index is external

  // POST /aggregation/{name}: `headers` as received (names in any case), `body` the JSON text.
  // Service, headers, body and query are checked at once; the index lookup, the request list
  // and the fan-out follow through `run_lookup` (with the local index).
  void request(const std::string& name, header_list headers, std::string body, replies r);

  // The answer caches: how often to sweep them (nullopt: no service caches), and a sweep.
  std::optional<int64_t> sweep_interval_ms() const;
  void sweep_caches(int64_t now_ms);

 private:
  catalog catalog_;
  settings s_;
  std::unique_ptr<local_index> local_;
  std::unique_ptr<remote_index> remote_;
  engagement_index* index_ = nullptr;
  // The steps after the checks: lookup, request list, fan-out (or the empty answer).
  void resolve(const std::shared_ptr<const service_definition>& svc, const query& q,
               const caller& c, const header_list& headers, std::string body, replies r,
               int64_t start_us);

  std::map<std::string, std::unique_ptr<answer_cache>> caches_;
  fan_out_fn fan_out_;
  run_fn run_lookup_;
  // Per service: engagements left out because the caller has no permission on them.
  std::map<std::string, metrics::counter*> unauthorized_;
};

// The first value of a header, its name compared without case (as HTTP names are).
std::optional<std::string> header_value(const header_list& headers, std::string_view name);
// The headers every source gets: the caller's identity headers as received, the correlation
// id, this platform's instance id, and any other x-rivta-* header (name lower-cased).
header_list propagated_headers(const header_list& received, const caller& c,
                               const std::string& vp_instance_id);

}  // namespace medflow::flows::aggregation
