#include "http/resource_events_routes.hpp"

#include "http/server.hpp"
#include "http/subscription_stream.hpp"

namespace medflow::http {

namespace re = flows::resource_events;

namespace {
// {"cursor": ..., "events": [...]} from the events' texts, without parsing them again.
std::string events_body(const re::pull_batch& b) {
  std::size_t size = 64;
  for (const auto& e : b.events) size += e.size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"cursor\":\"";
  out += re::encode_cursor(b.next);  // base64url: nothing to escape
  out += "\",\"events\":[";
  for (std::size_t i = 0; i < b.events.size(); ++i) {
    if (i) out += ',';
    out += b.events[i];
  }
  out += "]}";
  return out;
}
}  // namespace

void add_resource_events_routes(server& srv, subscriptions_api api) {
  re::subscription_service* svc = &api.svc;
  auto hooks = std::make_shared<const subscriptions_api>(api);

  srv.add(
      "POST", "/subscriptions",
      [svc, hooks](const net::request& req, net::response& res, const params&) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto created = svc->create(*body);
        if (!created) return send_error(res, created.err());
        hooks->created(created->at("id").get<std::string>());
        send_json(res, 201, *created);
      });

  srv.add(
      "GET", "/subscriptions",
      [svc](const net::request&, net::response& res, const params&) {
        send_json(res, 200, {{"subscriptions", svc->list()}});
      });

  srv.add(
      "GET", "/subscriptions/{id}",
      [svc](const net::request&, net::response& res, const params& ps) {
        auto s = svc->get(ps.at("id"));
        if (!s) return send_error(res, s.err());
        send_json(res, 200, *s);
      });

  srv.add(
      "DELETE", "/subscriptions/{id}",
      [svc, hooks](const net::request&, net::response& res, const params& ps) {
        auto s = svc->remove(ps.at("id"));
        if (!s) return send_error(res, s.err());
        hooks->deleted(ps.at("id"));
        res.status = 204;
      });

  srv.add_async(
      "GET", "/subscriptions/{id}/events",
      [hooks](const net::request& req, const params& ps, responder respond) {
        auto fail = [&respond](const error& e) {
          net::response res;
          send_error(res, e);
          respond(std::move(res));
        };
        auto max = query_int(req, "max", std::min<int64_t>(100, hooks->max_events), 1,
                             hooks->max_events);
        if (!max) return fail(max.err());
        auto wait = query_int(req, "wait_ms", 0, 0, hooks->max_wait_ms);
        if (!wait) return fail(wait.err());
        // The actor answers within wait_ms; this only guards against one that cannot.
        net::response late;
        send_error(late, error{503, "unavailable", "the subscription did not answer in time; "
                                                   "ask again", {}});
        respond.deadline(*wait + 10000, std::move(late));
        hooks->pull(ps.at("id"), std::nullopt, static_cast<std::size_t>(*max), *wait,
                    [respond](re::pull_batch b) {
                      net::response res;
                      if (b.err) {
                        send_error(res, *b.err);
                      } else {
                        res.status = 200;
                        res.set_content(events_body(b), "application/json");
                      }
                      respond(std::move(res));
                    },
                    [respond] { return respond.answered(); });
      },
      /*nonblocking=*/true);

  srv.add_async(
      "GET", "/subscriptions/{id}/stream",
      [svc, hooks](const net::request& req, const params& ps, responder respond) {
        const std::string& id = ps.at("id");
        // Where to resume: after the event of this id (EventSource sends it when it
        // reconnects); the query parameter serves clients that cannot set a header.
        std::string last = req.header("Last-Event-ID");
        if (last.empty()) last = req.param("last_event_id");
        std::optional<re::positions> from;
        if (!last.empty()) {
          auto p = svc->cursor_of(id, last);
          if (!p) {
            net::response res;
            send_error(res, p.err());
            respond(std::move(res));
            return;
          }
          from = std::move(*p);
        }
        start_subscription_stream(hooks->pull, std::min(hooks->heartbeat_ms, hooks->max_wait_ms),
                                  id, std::move(from), std::move(respond));
      },
      /*nonblocking=*/false);

  srv.add(
      "POST", "/subscriptions/{id}/ack",
      [svc](const net::request& req, net::response& res, const params& ps) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto s = svc->ack(ps.at("id"), *body);
        if (!s) return send_error(res, s.err());
        res.status = 204;
      });
}

}  // namespace medflow::http
