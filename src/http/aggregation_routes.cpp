#include "http/aggregation_routes.hpp"

#include "core/clock.hpp"
#include "core/jwt.hpp"
#include "core/strings.hpp"
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

// Writes to the engagement index need a bearer token (RFC 6750) with the scope agp_admin, as
// tenants and streams need hri_admin: whoever may write engagements decides which source
// systems every aggregated request calls. 401 without a valid token, 403 without the scope.
bool authorized_writer(const jwt::verifier* writers, const net::request& req,
                       net::response& res) {
  if (!writers) return true;
  auto refuse = [&](int status, const char* code, std::string message, const char* challenge) {
    if (challenge) res.set_header("WWW-Authenticate", challenge);
    send_error(res, {status, code, std::move(message), {}});
    return false;
  };
  const char* realm = "Bearer realm=\"medflow\", scope=\"agp_admin\"";
  auto header = req.header("Authorization");
  if (header.empty())
    return refuse(401, "unauthorized",
                  "the engagement index takes writes with a bearer token (Authorization: Bearer "
                  "<JWT> with the scope agp_admin) only",
                  realm);
  std::string_view token = header;
  if (token.size() < 7 || !strings::iequals(token.substr(0, 7), "Bearer "))
    return refuse(401, "unauthorized", "the Authorization header must be \"Bearer <JWT>\"",
                  realm);
  auto claims = writers->verify(std::string(token.substr(7)), clock::now_ms() / 1000);
  if (!claims)
    return refuse(401, "unauthorized", "invalid bearer token: " + claims.err().message,
                  "Bearer realm=\"medflow\", error=\"invalid_token\"");
  if (!claims->has_scope(index_writer_scope))
    return refuse(403, "forbidden",
                  std::string("the token's scopes do not include ") + index_writer_scope,
                  "Bearer realm=\"medflow\", error=\"insufficient_scope\", scope=\"agp_admin\"");
  return true;
}

// Update and ProcessNotification carry the same engagement transactions; both are applied to
// the local index, all or nothing.
handler index_write(agg::service* api, const jwt::verifier* writers) {
  return [api, writers](const net::request& req, net::response& res, const params&) {
    if (!authorized_writer(writers, req, res)) return;
    if (!api->local())
      return send_error(res, {409, "external_index",
                              "the engagement index is external; update it there", {}});
    auto body = parse_json_body(req);
    if (!body) return send_error(res, body.err());
    auto done = api->local()->update(*body);
    if (!done) return send_error(res, done.err());
    send_json(res, 200,
              {{"resultCode", "OK"}, {"upserted", done->first}, {"deleted", done->second}});
  };
}

}  // namespace

void add_aggregation_routes(server& srv, agg::service& svc, const jwt::verifier* index_writers) {
  auto* api = &svc;
  // With the local index the route only checks the request on the connection's own thread;
  // the lookup (SQLite, as many engagements as the patient has, up to
  // aggregation.max_engagements) runs on an actor. An external index is an HTTP call: the
  // route runs on the pool, and the lookup with it.
  srv.add_async(
      "POST", "/aggregation/{service}",
      [api](const net::request& req, const params& ps, responder respond) {
        aggregated_request(*api, req, ps.at("service"), respond);
      },
      api->local() != nullptr);
  srv.add(
      "GET", "/aggregation",
      [api](const net::request&, net::response& res, const params&) {
        json list = json::array();
        for (auto& [n, s] : api->services())
          list.push_back({{"name", n}, {"serviceDomain", s->service_domain},
                          {"contract", s->contract}, {"listField", s->list_field}});
        send_json(res, 200, {{"services", list}});
      });
  srv.add(
      "POST", "/aggregation/engagement-index/find-content",
      [api](const net::request& req, net::response& res, const params&) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto f = agg::find_content_from_json(*body);
        if (!f) return send_error(res, f.err());
        auto found = api->index().find(*f, {}, api->options().max_engagements);
        if (!found) return send_error(res, found.err());
        json list = json::array();
        for (auto& e : *found) list.push_back(agg::to_json(e));
        send_json(res, 200, {{"engagement", list}});
      });
  srv.add("POST", "/aggregation/engagement-index/update", index_write(api, index_writers));
  srv.add("POST", "/aggregation/engagement-index/process-notification",
          index_write(api, index_writers));
}

}  // namespace medflow::http
