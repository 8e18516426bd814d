#include "http/aggregation_routes.hpp"

#include "http/server.hpp"

namespace medflow::http {

namespace agg = flows::aggregation;
using json = nlohmann::json;

namespace {

net::response error_response(const error& e) {
  net::response res;
  send_error(res, e);
  return res;
}

// Answered through `respond`: the aggregator's reply goes to the client from the actor that
// built it; no thread waits for it.
void aggregated_request(agg::service& svc, const net::request& req, const std::string& name,
                        const responder& respond) {
  agg::replies r;
  r.fail = [respond](const error& e) { respond(error_response(e)); };
  r.answer = [respond](const json& answer) {
    net::response res;
    send_json(res, 200, answer);
    return respond(std::move(res));
  };
  r.deadline = [respond](int64_t ms, const error& e) { respond.deadline(ms, error_response(e)); };
  svc.request(name, {req.headers.begin(), req.headers.end()}, req.body, std::move(r));
}

}  // namespace

void add_aggregation_routes(server& srv, agg::service& svc) {
  auto* api = &svc;
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
      api->local() != nullptr);
  srv.add(
      "GET", "/aggregation",
      [api](const net::request&, net::response& res, const params&) {
        json list = json::array();
        for (auto& [n, s] : api->services())
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
        auto found = api->index().find(*f, {});
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
        if (!api->local())
          return send_error(res, {409, "external_index",
                                  "the engagement index is external; update it there", {}});
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto done = api->local()->update(*body);
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
