#include "http/aggregation_routes.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/strings.hpp"
#include "http/server.hpp"


namespace medflow::http {

namespace agg = flows::aggregation;
using json = nlohmann::json;

namespace {

std::optional<std::string> header(const net::request& req, const char* name) {
  if (!req.has_header(name)) return std::nullopt;
  return req.header(name);
}

// The headers every source gets: the caller's identity headers as received, the correlation
// id, this platform's instance id, and any other x-rivta-* header (name lower-cased). Built
// only once there is a source to call.
std::vector<std::pair<std::string, std::string>> propagated(const net::request& req,
                                                            const agg::caller& c,
                                                            const std::string& instance) {
  std::vector<std::pair<std::string, std::string>> hs = {
      {"Content-Type", "application/json"},
      {"x-vp-sender-id", c.sender_id},
      {"x-rivta-original-serviceconsumer-hsaid", c.original_consumer},
      {"x-skltp-correlation-id", c.correlation_id},
      {"x-vp-instance-id", instance}};
  for (auto& [k, v] : req.headers) {
    if (k.size() < 8 || !strings::iequals(std::string_view(k).substr(0, 8), "x-rivta-")) continue;
    auto name = strings::ascii_lower(k);
    if (name != "x-rivta-original-serviceconsumer-hsaid" && name != "x-rivta-logical-address")
      hs.emplace_back(std::move(name), v);
  }
  return hs;
}

// What the platform adds to an answer: the request's time in medflowd minus its slowest source
// call (index lookup, fan-out, collection, answer).
metrics::histogram& overhead_histogram() {
  static auto& h = metrics::registry::global().get_histogram(
      "medflow_agp_overhead_seconds",
      "time an aggregated request spent in medflowd beyond its slowest source call",
      metrics::latency_buckets_seconds());
  return h;
}

net::response error_response(const error& e) {
  net::response res;
  send_error(res, e);
  return res;
}

// Answered through `respond`: the aggregator's reply goes to the client from the actor that
// built it; no thread waits for it.
void aggregated_request(const aggregation_api& api, const net::request& req,
                        const std::string& name, const responder& respond) {
  auto start_us = clock::steady_us();
  auto it = api.services.find(name);
  if (it == api.services.end())
    return void(respond(error_response(error::not_found("unknown aggregating service " + name))));
  auto& svc = it->second;
  auto sender = header(req, "x-vp-sender-id");
  auto original = header(req, "x-rivta-original-serviceconsumer-hsaid");
  auto correlation = header(req, "x-skltp-correlation-id");
  if (auto e = agg::check_headers(sender, original, correlation))
    return void(respond(error_response(*e)));
  agg::caller c{*sender, *original, *correlation};
  auto body = parse_json_body(req);
  if (!body) return void(respond(error_response(body.err())));
  auto q = agg::read_query(*svc, *body);
  if (!q) return void(respond(error_response(q.err())));
  auto found = api.index->find(agg::find_content_for(*svc, *q), c);
  if (!found) return void(respond(error_response(found.err())));
  auto list = agg::make_request_list(*svc, *found, c, *api.tak, api.own_logical_address, *q);
  for (auto& [source, why] : list.filtered)
    log::debug("aggregation", name, " ", q->patient_id, ": ", source, " filtered (", why, ")");
  if (list.calls.empty()) {
    net::response res;
    send_json(res, 200, agg::aggregate(*svc, {}, {}, clock::now_ms()));
    return void(respond(std::move(res)));
  }
  // The aggregator answers at the aggregate timeout at the latest; this is the outer bound.
  auto limit = svc->limits.aggregated_service_ms;
  respond.deadline(limit, error_response({504, "aggregated_service_timeout",
                                          "no aggregated answer within " +
                                              std::to_string(limit) + " ms",
                                          {}}));
  api.fan_out(svc, std::move(list.calls), req.body, propagated(req, c, api.vp_instance_id),
              [respond, start_us](json answer, int64_t slowest_us) {
                net::response res;
                send_json(res, 200, answer);
                if (!respond(std::move(res))) return;
                overhead_histogram().observe(
                    static_cast<double>(
                        std::max<int64_t>(0, clock::steady_us() - start_us - slowest_us)) /
                    1e6);
              });
}

}  // namespace

void add_aggregation_routes(server& srv, aggregation_api api_in) {
  auto api = std::make_shared<aggregation_api>(std::move(api_in));
  // With the local index a request only reads SQLite before its fan-out: it runs on the
  // connection's own thread. An external index is an HTTP call: that one runs on the pool.
  srv.add_async(
      "POST", "/aggregation/{service}",
      [api](const net::request& req, const params& ps, responder respond) {
        aggregated_request(*api, req, ps.at("service"), respond);
      },
      {"Ask every source system holding data for the patient; one answer with a processing "
       "status per source",
       "aggregation", {{"type", "object"}},
       {{200, "the aggregated list and processingStatus"}, {400, "missing headers or bad body"},
        {404, "unknown service"}, {502, "engagement index failed"},
        {504, "engagement index or the whole request timed out"}},
       {}, {"x-vp-sender-id", "x-rivta-original-serviceconsumer-hsaid", "x-skltp-correlation-id"}},
      api->local != nullptr);
  srv.add(
      "GET", "/aggregation",
      [api](const net::request&, net::response& res, const params&) {
        json list = json::array();
        for (auto& [n, s] : api->services)
          list.push_back({{"name", n}, {"serviceDomain", s->service_domain},
                          {"contract", s->contract}, {"listField", s->list_field}});
        send_json(res, 200, {{"services", list}});
      },
      {"The aggregating services configured", "aggregation", nullptr, {{200, "services"}}});
  srv.add(
      "POST", "/aggregation/engagement-index/find-content",
      [api](const net::request& req, net::response& res, const params&) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto f = agg::find_content_from_json(*body);
        if (!f) return send_error(res, f.err());
        auto found = api->index->find(*f, {});
        if (!found) return send_error(res, found.err());
        json list = json::array();
        for (auto& e : *found) list.push_back(agg::to_json(e));
        send_json(res, 200, {{"engagement", list}});
      },
      {"FindContent: the engagements of a patient in a service domain", "aggregation",
       {{"type", "object"}, {"required", {"registeredResidentIdentification", "serviceDomain"}}},
       {{200, "engagements"}, {400, "invalid request"}}});
  srv.add(
      "POST", "/aggregation/engagement-index/update",
      [api](const net::request& req, net::response& res, const params&) {
        if (!api->local)
          return send_error(res, {409, "external_index",
                                  "the engagement index is external; update it there", {}});
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto done = api->local->update(*body);
        if (!done) return send_error(res, done.err());
        send_json(res, 200, {{"resultCode", "OK"},
                             {"upserted", done->first},
                             {"deleted", done->second}});
      },
      {"Update: upsert (or delete, deleteFlag) engagements, all or nothing", "aggregation",
       {{"type", "object"}, {"required", {"engagementTransaction"}}},
       {{200, "applied"}, {400, "an invalid engagement; nothing written"}}});
}

}  // namespace medflow::http
