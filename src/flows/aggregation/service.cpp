#include "flows/aggregation/service.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <stdexcept>

namespace medflow::flows::aggregation {

namespace {

// What the platform adds to an answer: the request's time in medflowd minus its slowest source
// call (index lookup, fan-out, collection, answer).
metrics::histogram& overhead_histogram() {
  static auto& h = metrics::registry::global().get_histogram(
      "medflow_agp_overhead_duration_seconds",
      "time an aggregated request spent in medflowd beyond its slowest source call",
      metrics::latency_buckets_seconds());
  return h;
}

}  // namespace

std::optional<std::string> header_value(const header_list& headers, std::string_view name) {
  for (auto& [k, v] : headers)
    if (strings::iequals(k, name)) return v;
  return std::nullopt;
}

header_list propagated_headers(const header_list& received, const caller& c,
                               const std::string& vp_instance_id) {
  header_list hs = {{"Content-Type", "application/json"},
                    {"x-vp-sender-id", c.sender_id},
                    {"x-rivta-original-serviceconsumer-hsaid", c.original_consumer},
                    {"x-skltp-correlation-id", c.correlation_id},
                    {"x-vp-instance-id", vp_instance_id}};
  for (auto& [k, v] : received) {
    if (k.size() < 8 || !strings::iequals(std::string_view(k).substr(0, 8), "x-rivta-")) continue;
    auto name = strings::ascii_lower(k);
    if (name != "x-rivta-original-serviceconsumer-hsaid" && name != "x-rivta-logical-address")
      hs.emplace_back(std::move(name), v);
  }
  return hs;
}

service::service(catalog c, settings s, store::database& db, net::http_client::client* http,
                 fan_out_fn fan_out, run_fn run_lookup)
    : catalog_(std::move(c)),
      s_(std::move(s)),
      fan_out_(std::move(fan_out)),
      run_lookup_(std::move(run_lookup)) {
  overhead_histogram();  // in /metrics from the start, not from the first request on
  if (s_.index_url.empty()) {
    local_ = std::make_unique<local_index>(db);
    index_ = local_.get();
  } else {
    if (!http) throw std::invalid_argument("an external engagement index needs an HTTP client");
    remote_ = std::make_unique<remote_index>(
        remote_index::options{s_.index_url, s_.index_sender_id, s_.vp_instance_id,
                              s_.index_timeout_ms},
        *http);
    index_ = remote_.get();
  }
  auto& registry = metrics::registry::global();
  for (auto& [n, svc] : catalog_.services) {
    if (svc->cache.enabled) caches_[n] = std::make_unique<answer_cache>(svc->cache);
    unauthorized_[n] = &registry.get_counter(
        "medflow_agp_engagements_unauthorized_total",
        "engagements left out of aggregated requests because neither the sender nor the "
        "original consumer is permitted (TAK) on the address they would be called at",
        {{"service", n}});
  }
}

void service::request(const std::string& name, header_list headers, std::string body,
                      replies r) {
  auto start_us = clock::steady_us();
  auto it = catalog_.services.find(name);
  if (it == catalog_.services.end())
    return r.fail(error::not_found("unknown aggregating service " + name));
  auto& svc = it->second;
  auto sender = header_value(headers, "x-vp-sender-id");
  auto original = header_value(headers, "x-rivta-original-serviceconsumer-hsaid");
  auto correlation = header_value(headers, "x-skltp-correlation-id");
  if (auto e = check_headers(sender, original, correlation)) return r.fail(*e);
  caller c{*sender, *original, *correlation};
  auto parsed = parse_json_limited(body);
  if (!parsed) {
    const auto& e = parsed.err();
    return r.fail(error::bad_request(
        (e.detail.is_null() ? "request body is not valid JSON: " : "request body: ") + e.message));
  }
  json request_json = std::move(*parsed);
  auto q = read_query(*svc, request_json);
  if (!q) return r.fail(q.err());
  if (!local_ || !run_lookup_)
    return resolve(svc, *q, c, headers, std::move(body), std::move(r), start_us);
  run_lookup_([this, svc, q = std::move(*q), c = std::move(c), headers = std::move(headers),
               body = std::move(body), r = std::move(r), start_us]() mutable {
    resolve(svc, q, c, headers, std::move(body), std::move(r), start_us);
  });
}

void service::resolve(const std::shared_ptr<const service_definition>& svc, const query& q,
                      const caller& c, const header_list& headers, std::string body, replies r,
                      int64_t start_us) {
  const std::string& name = svc->name;
  auto found = index_->find(find_content_for(*svc, q), c, s_.max_engagements);
  if (!found) return r.fail(found.err());
  auto list = make_request_list(*svc, *found, c, *catalog_.permissions, s_.own_logical_address, q);
  for (auto& [source, why] : list.filtered)
    log::debug("aggregation", name, " ", q.patient_id, ": ", source, " filtered (", why, ")");
  if (!list.unauthorized.empty()) {
    if (auto counter = unauthorized_.find(name); counter != unauthorized_.end())
      counter->second->inc(list.unauthorized.size());
    for (auto& address : list.unauthorized)
      log::debug("aggregation", name, " correlation ", c.correlation_id,
                 ": engagement dropped, no permission on logical address ", address,
                 " (sender ", c.sender_id, ", original consumer ", c.original_consumer,
                 ", contract ", svc->contract, ")");
  }
  if (list.calls.empty()) {
    r.answer(aggregate(*svc, {}, {}, clock::now_ms()));
    return;
  }
  // The aggregator answers at the aggregate timeout at the latest; this is the outer bound.
  auto limit = svc->limits.aggregated_service_ms;
  r.deadline(limit, {504, "aggregated_service_timeout",
                     "no aggregated answer within " + std::to_string(limit) + " ms", {}});
  fan_out_request job;
  job.service = svc;
  job.calls = std::move(list.calls);
  job.request_body = std::move(body);
  job.headers = propagated_headers(headers, c, s_.vp_instance_id);
  auto cache = caches_.find(name);
  job.cache = cache == caches_.end() ? nullptr : cache->second.get();
  job.reply = [answer = std::move(r.answer), start_us](json aggregated, int64_t slowest_us) {
    if (!answer(aggregated)) return;
    overhead_histogram().observe(
        static_cast<double>(std::max<int64_t>(0, clock::steady_us() - start_us - slowest_us)) /
        1e6);
  };
  fan_out_(std::move(job));
}

std::optional<int64_t> service::sweep_interval_ms() const {
  std::optional<int64_t> every;
  for (auto& [n, c] : caches_)
    every = std::min(every.value_or(INT64_MAX), c->settings().expiration_interval_ms);
  return every;
}

void service::sweep_caches(int64_t now_ms) {
  for (auto& [n, c] : caches_) c->sweep(now_ms);
}

}  // namespace medflow::flows::aggregation
