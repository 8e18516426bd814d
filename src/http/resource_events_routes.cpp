#include "http/resource_events_routes.hpp"

#include "http/server.hpp"

namespace medflow::http {

namespace re = flows::resource_events;

void add_resource_events_routes(server& srv, subscriptions_api api) {
  re::subscription_service* svc = &api.svc;

  srv.add(
      "POST", "/subscriptions",
      [svc](const net::request& req, net::response& res, const params&) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto created = svc->create(*body);
        if (!created) return send_error(res, created.err());
        send_json(res, 201, *created);
      },
      {"Subscribe to topics (ActiveMQ wildcards) with a JMS message selector", "subscriptions",
       {{"type", "object"},
        {"required", {"topic"}},
        {"properties",
         {{"topic", {{"type", "string"}}},
          {"selector", {{"type", "string"}}},
          {"delivery", {{"type", "object"}}}}}},
       {{201, "the subscription"}, {400, "invalid topic pattern, selector or delivery"},
        {409, "subscriptions.max_count reached"}}});

  srv.add(
      "GET", "/subscriptions",
      [svc](const net::request&, net::response& res, const params&) {
        send_json(res, 200, {{"subscriptions", svc->list()}});
      },
      {"List subscriptions", "subscriptions", nullptr, {{200, "subscriptions"}}});

  srv.add(
      "GET", "/subscriptions/{id}",
      [svc](const net::request&, net::response& res, const params& ps) {
        auto s = svc->get(ps.at("id"));
        if (!s) return send_error(res, s.err());
        send_json(res, 200, *s);
      },
      {"A subscription", "subscriptions", nullptr, {{200, "the subscription"}, {404, "unknown"}}});

  srv.add(
      "DELETE", "/subscriptions/{id}",
      [svc](const net::request&, net::response& res, const params& ps) {
        auto s = svc->remove(ps.at("id"));
        if (!s) return send_error(res, s.err());
        res.status = 204;
      },
      {"Delete a subscription and its cursor", "subscriptions", nullptr,
       {{204, "deleted"}, {404, "unknown"}}});

  int64_t max_events = api.max_events;
  srv.add(
      "GET", "/subscriptions/{id}/events",
      [svc, max_events](const net::request& req, net::response& res, const params& ps) {
        auto max = query_int(req, "max", std::min<int64_t>(100, max_events), 1, max_events);
        if (!max) return send_error(res, max.err());
        auto sub = svc->open(ps.at("id"));
        if (!sub) return send_error(res, sub.err());
        auto from = svc->acked(sub->row.id);
        auto events = svc->collect(*sub, from, static_cast<std::size_t>(*max));
        nlohmann::json list = nlohmann::json::array();
        for (auto& e : events) list.push_back(std::move(e));
        send_json(res, 200, {{"events", std::move(list)}, {"cursor", re::encode_cursor(from)}});
      },
      {"Pull the matching events after the acked cursor (unacked ones come again)",
       "subscriptions", nullptr,
       {{200, "events, each with its cursor; cursor: ack it to skip everything read"},
        {400, "max out of range"}, {404, "unknown"}},
       {"max"}});

  srv.add(
      "POST", "/subscriptions/{id}/ack",
      [svc](const net::request& req, net::response& res, const params& ps) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto s = svc->ack(ps.at("id"), *body);
        if (!s) return send_error(res, s.err());
        res.status = 204;
      },
      {"Commit a cursor durably (positions only move forward)", "subscriptions",
       {{"type", "object"}, {"required", {"cursor"}}, {"properties", {{"cursor", {{"type", "string"}}}}}},
       {{204, "committed"}, {400, "not a cursor of this subscription"}, {404, "unknown"}}});
}

}  // namespace medflow::http
