#include "http/hri_routes.hpp"

#include "core/clock.hpp"
#include "core/health.hpp"
#include "core/ids.hpp"
#include "core/jwt.hpp"
#include "http/server.hpp"


namespace medflow::http {

namespace hri = flows::hri;
using json = nlohmann::json;

namespace {

// -- HRI's response conventions -------------------------------------------------------------------

std::string request_id(const net::request& req, net::response& res) {
  auto id = req.header("X-Request-ID");
  if (id.empty()) id = res.header("X-Request-ID");
  if (id.empty()) id = ids::random_hex(10);
  res.set_header("X-Request-ID", id);
  return id;
}

// Echo's c.JSON: Go's encoder escapes <, > and & and ends the body with a newline.
void send_go_json(net::response& res, int status, const json& body) {
  std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  out += '\n';
  res.status = status;
  res.set_content(out, "application/json; charset=UTF-8");
}

void send_hri_error(const net::request& req, net::response& res, int status,
                    const std::string& text) {
  send_go_json(res, status, {{"errorEventId", request_id(req, res)}, {"errorDescription", text}});
}

void send_hri_error(const net::request& req, net::response& res, const error& e) {
  send_hri_error(req, res, e.status, e.message);
}

void send_empty(net::response& res, int status) {
  res.status = status;
  res.set_content("", "application/json");
}

// -- authentication ----------------------------------------------------------------------------------

struct authn {
  hri::principal who;
  std::string scope_text;  // the token's scope claim as given (HRI quotes it in errors)
};

// Verifies the bearer token (HRI's texts). With auth disabled everyone is "NoAuthUnkIntegrator"
// with every role.
result<authn> authenticate(const hri_api& api, const net::request& req) {
  if (!api.verifier) {
    hri::principal p;
    p.auth_disabled = true;
    p.sub = hri::no_auth_integrator;
    return authn{p, ""};
  }
  auto header = req.header("Authorization");
  std::string token = header;
  for (const char* prefix : {"Bearer ", "bearer "})
    if (token.rfind(prefix, 0) == 0) token = token.substr(7);
  auto claims = api.verifier->verify(token, clock::now_ms() / 1000);
  if (!claims) {
    auto why = claims.err().message;
    if (why == "compact JWS format must have three parts")
      why = "oidc: malformed jwt: square/go-jose: " + why;
    else if (why.rfind("expected audience", 0) == 0)
      why = "oidc: " + why;
    return error{401, "unauthorized", "Authorization token validation failed: " + why, {}};
  }
  authn a;
  a.who.sub = claims->sub;
  a.who.scopes.insert(claims->scopes.begin(), claims->scopes.end());
  a.scope_text = claims->payload.value("scope", std::string{});
  return a;
}

// Tenants and streams: medflow's stand-in for HRI's IBM Cloud IAM check is a valid token with
// the scope hri_admin.
std::optional<error> authorize_admin(const hri_api& api, const net::request& req) {
  if (!api.verifier) return std::nullopt;
  if (req.header("Authorization").empty())
    return error{401, "unauthorized", "missing header 'Authorization'", {}};
  auto a = authenticate(api, req);
  if (!a) return a.err();
  if (!a->who.has("hri_admin")) return error{401, "unauthorized", "Unauthorized to manage resource", {}};
  return std::nullopt;
}

// A valid token whose scopes include the tenant (HRI checks the tenant before the role).
result<authn> authenticate_tenant(const hri_api& api, const net::request& req,
                                  const std::string& tenant) {
  auto a = authenticate(api, req);
  if (!a) return a;
  if (auto e = hri::check_tenant_scope(a->who, tenant, a->scope_text)) return *e;
  return a;
}

// -- routes --------------------------------------------------------------------------------------------

void add_tenant_routes(server& srv, const std::shared_ptr<hri_api>& api) {
  srv.add(
      "POST", "/hri/tenants/{tenantId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        if (auto e = hri::check_tenant_id(t)) return send_hri_error(req, res, *e);
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        auto made = api->svc.create_tenant(t);
        if (!made) return send_hri_error(req, res, made.err());
        request_id(req, res);
        send_go_json(res, 201, {{"tenantId", t}});
      });
  srv.add(
      "GET", "/hri/tenants",
      [api](const net::request& req, net::response& res, const params&) {
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        json results = json::array();
        for (auto& t : api->svc.tenants()) results.push_back({{"id", t}});
        request_id(req, res);
        send_go_json(res, 200, {{"results", results}});
      });
  srv.add(
      "GET", "/hri/tenants/{tenantId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        if (auto e = hri::check_tenant_id(t)) return send_hri_error(req, res, *e);
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        auto info = api->svc.tenant_info(t);
        if (!info) return send_hri_error(req, res, info.err());
        request_id(req, res);
        send_go_json(res, 200, *info);
      });
  srv.add(
      "DELETE", "/hri/tenants/{tenantId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        if (auto e = hri::check_tenant_id(t)) return send_hri_error(req, res, *e);
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        auto done = api->svc.delete_tenant(t);
        if (!done) return send_hri_error(req, res, done.err());
        api->tenant_deleted(t);
        request_id(req, res);
        send_empty(res, 200);
      });
}

void add_stream_routes(server& srv, const std::shared_ptr<hri_api>& api) {
  srv.add(
      "POST", "/hri/tenants/{tenantId}/streams/{streamId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId"), s = ps.at("streamId");
        auto settings = hri::parse_stream(t, s, req.body);
        if (!settings) return send_hri_error(req, res, settings.err());
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        auto row = api->svc.create_stream(t, s, *settings);
        if (!row) return send_hri_error(req, res, row.err());
        api->stream_created(*row);
        request_id(req, res);
        send_go_json(res, 201, {{"id", s}});
      });
  srv.add(
      "GET", "/hri/tenants/{tenantId}/streams",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        if (auto e = hri::check_tenant_present(t)) return send_hri_error(req, res, *e);
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        json results = json::array();
        for (auto& s : api->svc.streams(t)) results.push_back({{"id", s}});
        request_id(req, res);
        send_go_json(res, 200, {{"results", results}});
      });
  srv.add(
      "DELETE", "/hri/tenants/{tenantId}/streams/{streamId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId"), s = ps.at("streamId");
        if (auto e = hri::check_stream_ids(t, s)) return send_hri_error(req, res, *e);
        if (auto e = authorize_admin(*api, req)) return send_hri_error(req, res, *e);
        api->stream_deleted(t, s);  // consumers stop before their topics go
        auto row = api->svc.delete_stream(t, s);
        if (!row) return send_hri_error(req, res, row.err());
        request_id(req, res);
        send_empty(res, 200);
      });
}

void add_batch_routes(server& srv, const std::shared_ptr<hri_api>& api) {
  srv.add(
      "POST", "/hri/tenants/{tenantId}/batches",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        auto body = hri::parse_create_batch(t, req.body);
        if (!body) return send_hri_error(req, res, body.err());
        auto a = authenticate_tenant(*api, req, t);
        if (!a) return send_hri_error(req, res, a.err());
        if (auto e = hri::check_create_role(a->who)) return send_hri_error(req, res, *e);
        auto b = api->svc.create_batch(t, *body, a->who.sub);
        if (!b) return send_hri_error(req, res, b.err());
        request_id(req, res);
        send_go_json(res, 201, {{"id", b->id}});
      });
  srv.add(
      "GET", "/hri/tenants/{tenantId}/batches",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId");
        // HRI's order: binding errors (400) before the token (401), what Elasticsearch
        // refuses (400) after the role checks.
        auto q = hri::bind_search(t, req.params);
        if (!q) return send_hri_error(req, res, q.err());
        auto a = authenticate_tenant(*api, req, t);
        if (!a) return send_hri_error(req, res, a.err());
        if (auto e = hri::check_read_role(a->who)) return send_hri_error(req, res, *e);
        if (auto e = hri::resolve_search(*q)) return send_hri_error(req, res, *e);
        std::optional<std::string> only;
        if (hri::integrator_only(a->who)) only = a->who.sub;
        auto [total, page] = api->svc.search(t, *q, only);
        json results = json::array();
        for (auto& b : page) results.push_back(hri::to_json(b));
        request_id(req, res);
        send_go_json(res, 200, {{"total", total}, {"results", results}});
      });
  srv.add(
      "GET", "/hri/tenants/{tenantId}/batches/{batchId}",
      [api](const net::request& req, net::response& res, const params& ps) {
        auto t = ps.at("tenantId"), id = ps.at("batchId");
        if (auto e = hri::check_batch_ids(t, id)) return send_hri_error(req, res, *e);
        auto a = authenticate_tenant(*api, req, t);
        if (!a) return send_hri_error(req, res, a.err());
        if (auto e = hri::check_read_role(a->who)) return send_hri_error(req, res, *e);
        auto b = api->svc.get_batch(t, id);
        if (!b) return send_hri_error(req, res, hri::batch_not_found(t, id, false));
        if (auto e = hri::check_read_owner(a->who, *b)) return send_hri_error(req, res, *e);
        request_id(req, res);
        send_go_json(res, 200, hri::to_json(*b));
      });

  for (auto act : {hri::action::send_complete, hri::action::terminate,
                   hri::action::processing_complete, hri::action::fail}) {
    srv.add_async(
        "PUT", std::string("/hri/tenants/{tenantId}/batches/{batchId}/action/") + hri::action_name(act),
        [api, act](const net::request& req, const params& ps, responder respond) {
          auto t = ps.at("tenantId"), id = ps.at("batchId");
          net::response res;
          auto body = hri::parse_action(act, t, id, req.body);
          if (!body) return send_hri_error(req, res, body.err()), void(respond(std::move(res)));
          auto a = authenticate_tenant(*api, req, t);
          if (!a) return send_hri_error(req, res, a.err()), void(respond(std::move(res)));
          // The answer comes from the batch's actor, after this request object may be gone:
          // keep what the answer needs of it (its request id).
          net::request shape;
          shape.headers.emplace_back("X-Request-ID", request_id(req, res));
          net::response late;
          send_hri_error(shape, late, 503, "the batch did not answer within 30 s");
          respond.deadline(30000, std::move(late));
          // The batch's actor checks existence (404), role (401), owner (401) and state (409)
          // in HRI's order and answers once the change and its notification are committed.
          api->act(*body, a->who, t, id, [respond, shape](int status, std::string err) {
            net::response out;
            if (status != 200) {
              send_hri_error(shape, out, status, err);
            } else {
              request_id(shape, out);
              send_empty(out, 200);
            }
            respond(std::move(out));
          });
        },
        false);  // on the pool (the checks read SQLite), which it leaves at once
  }
}

}  // namespace

void add_hri_routes(server& srv, hri_api api_in) {
  auto api = std::make_shared<hri_api>(std::move(api_in));
  // Echo's defaults for unknown routes and methods, HRI's error body for everything else.
  srv.set_error_renderer("/hri", [](const net::request& req, net::response& res, const error& e) {
    request_id(req, res);
    if (e.status == 404) return send_go_json(res, 404, {{"message", "Not Found"}});
    if (e.status == 405) return send_go_json(res, 405, {{"message", "Method Not Allowed"}});
    if (e.status == 413) return send_go_json(res, 413, {{"message", "Request Entity Too Large"}});
    send_hri_error(req, res, e);
  });
  srv.add_default_headers(
      "/hri", {{"Content-Security-Policy",
                "default-src 'none'; script-src 'none'; connect-src 'self'; img-src 'self'; "
                "style-src 'self';"},
               {"X-Content-Type-Options", "nosniff"},
               {"X-XSS-Protection", "1"}});
  srv.add(
      "GET", "/hri/healthcheck",
      [api](const net::request& req, net::response& res, const params&) {
        std::string why;
        for (auto& c : api->h.evaluate())
          if (!c.ok) why += (why.empty() ? "" : "; ") + c.name + ": " + c.detail;
        if (!why.empty())
          return send_hri_error(req, res, 503,
                                "HRI Service Temporarily Unavailable | error Detail: " + why);
        request_id(req, res);
        send_empty(res, 200);
      });
  srv.add(
      "GET", "/alive",
      [](const net::request&, net::response& res, const params&) {
        res.status = 200;
        res.set_content("yes", "text/plain");
      });
  add_tenant_routes(srv, api);
  add_stream_routes(srv, api);
  add_batch_routes(srv, api);
}

}  // namespace medflow::http
