#include "http/medical_events_routes.hpp"

#include "core/ids.hpp"
#include "core/json.hpp"
#include "flows/medical_events/service.hpp"
#include "http/server.hpp"

namespace medflow::http {

namespace me = flows::medical_events;
using json = nlohmann::json;

namespace {

// -- eHealth's envelope (EView) --------------------------------------------------------------------

std::string request_id(const net::request& req) {
  auto id = req.header("x-request-id");
  return id.empty() ? ids::uuid4() : id;
}

json meta(const net::request& req, int code, const char* type, const std::string& rid) {
  auto host = req.header("Host");
  return {{"code", code},
          {"url", "http://" + (host.empty() ? std::string("localhost") : host) + req.path},
          {"type", type},
          {"request_id", rid}};
}

void send_data(const net::request& req, net::response& res, int code, const json& data) {
  auto rid = request_id(req);
  res.set_header("x-request-id", rid);
  send_json(res, code,
            {{"data", data}, {"meta", meta(req, code, data.is_array() ? "list" : "object", rid)}});
}

void send_me_error(const net::request& req, net::response& res, const error& e) {
  auto rid = request_id(req);
  res.set_header("x-request-id", rid);
  json err = {{"type", e.code}, {"message", e.message}};
  if (!e.detail.is_null()) err["invalid"] = e.detail;
  send_json(res, e.status, {{"meta", meta(req, e.status, "object", rid)}, {"error", err}});
}

// The caller, from the headers the API gateway sets.
struct consumer {
  std::string user_id;
  std::string client_id;
};

result<consumer> read_consumer(const net::request& req) {
  auto unauthorized = [](std::string m) { return error{401, "access_denied", std::move(m), {}}; };
  auto user = req.header("x-consumer-id");
  if (user.empty()) return unauthorized("Missing header x-consumer-id");
  auto meta_text = req.header("x-consumer-metadata");
  if (meta_text.empty()) return unauthorized("Missing header x-consumer-metadata");
  auto parsed = parse_json_limited(meta_text);
  json m = parsed ? std::move(*parsed) : json();
  if (!m.is_object() || !m.contains("client_id") || !m["client_id"].is_string())
    return unauthorized("Invalid header x-consumer-metadata: expected {\"client_id\": <legal entity>}");
  return consumer{user, m["client_id"].get<std::string>()};
}

result<json> read_body(const net::request& req) {
  if (req.body.empty()) return json::object();
  auto b = parse_json_limited(req.body);
  if (b) return std::move(*b);
  // Too deep, or a number out of range: the limit or the field is named.
  if (!b.err().detail.is_null()) return error::bad_request("Request body: " + b.err().message);
  return error::bad_request("Malformed JSON in the request body");
}

// -- job routes ------------------------------------------------------------------------------------

struct job_route {
  const char* method;
  const char* path;
  me::job_type type;
};

const job_route job_routes[] = {
    {"POST", "/api/patients/{patient_id}/episodes", me::job_type::episode_create},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}", me::job_type::episode_update},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}/actions/close", me::job_type::episode_close},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}/actions/cancel", me::job_type::episode_cancel},
    {"POST", "/api/patients/{patient_id}/encounter_package", me::job_type::package_create},
    {"PATCH", "/api/patients/{patient_id}/encounter_package", me::job_type::package_cancel},
    {"POST", "/api/patients/{patient_id}/diagnostic_report_package", me::job_type::diagnostic_report_package_create},
    {"PATCH", "/api/patients/{patient_id}/diagnostic_report_package", me::job_type::diagnostic_report_package_cancel},
    {"POST", "/api/patients/{patient_id}/service_requests", me::job_type::service_request_create},
    {"PATCH", "/api/service_requests/{id}/actions/use", me::job_type::service_request_use},
    {"PATCH", "/api/service_requests/{id}/actions/release", me::job_type::service_request_release},
    {"PATCH", "/api/service_requests/{id}/actions/process", me::job_type::service_request_process},
    {"PATCH", "/api/service_requests/{id}/actions/complete", me::job_type::service_request_complete},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/recall", me::job_type::service_request_recall},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/cancel", me::job_type::service_request_cancel},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/close", me::job_type::service_request_close},
    {"POST", "/api/patients/{patient_id}/approvals", me::job_type::approval_create},
    {"PATCH", "/api/patients/{patient_id}/approvals/{id}/actions/resend", me::job_type::approval_resend},
};

// A job's answer is given by the store's writer thread once the job is durable (no thread
// waits for the commit), and rendered and written by the connection's loop thread. Its checks
// run where the request was read when they only read a local SQLite file (a few indexed reads:
// less than the hand-off to the pool costs), on the pool when they are PostgreSQL round trips
// (issue 20, bench/README.md).
void add_job_routes(server& srv, me::service& svc) {
  bool on_io_thread = svc.checks_are_local();
  for (auto& jr : job_routes) {
    auto type = jr.type;
    srv.add_async(
        jr.method, jr.path,
        [&svc, type](const net::request& req, const params& ps, responder respond) {
          auto refuse = [&](const error& e) {
            net::response res;
            send_me_error(req, res, e);
            respond(std::move(res));
          };
          auto who = read_consumer(req);
          if (!who) return refuse(who.err());
          auto body = read_body(req);
          if (!body) return refuse(body.err());
          me::request r;
          r.type = type;
          r.user_id = who->user_id;
          r.client_id = who->client_id;
          r.params = json::object();
          for (auto& [k, v] : ps) {
            if (k == "patient_id") r.patient_id = v;
            else r.params[k] = v;
          }
          r.body = std::move(*body);
          // The responder keeps the exchange, and so `req`, alive until it has answered.
          svc.submit_async(r, [&req, respond](result<me::service::submitted> out) {
            respond.later([&req, out = std::move(out)] {
              net::response res;
              if (!out) send_me_error(req, res, out.err());
              // A new job is 202 (processed already, or pending); the same request while its
              // job is pending gets that job, 200.
              else send_data(req, res, out->created ? 202 : 200, me::accepted_data(out->job));
              return res;
            });
          });
        },
        on_io_thread);
  }
}

// -- reads -----------------------------------------------------------------------------------------

void add_job_view(server& srv, me::service& svc, const std::string& path) {
  srv.add(
      "GET", path,
      [&svc](const net::request& req, net::response& res, const params& ps) {
        auto who = read_consumer(req);
        if (!who) return send_me_error(req, res, who.err());
        auto job = svc.job(ps.at("id"));
        if (!job) return send_me_error(req, res, error::not_found("Job not found"));
        auto view = me::render_job(*job, svc.options().job_location);
        if (view.location) res.set_header("Location", *view.location);
        send_data(req, res, view.http_status, view.data);
      });
}

void add_entity_reads(server& srv, me::service& svc, me::kind k) {
  std::string base = std::string("/api/patients/{patient_id}/") + me::kind_plural(k);
  srv.add(
      "GET", base,
      [&svc, k](const net::request& req, net::response& res, const params& ps) {
        auto who = read_consumer(req);
        if (!who) return send_me_error(req, res, who.err());
        auto page = query_int(req, "page", 1, 1, 1000000);
        auto size = query_int(req, "page_size", 50, 1, 300);
        if (!page) return send_me_error(req, res, me::request_invalid("$.page", page.err().message));
        if (!size)
          return send_me_error(req, res, me::request_invalid("$.page_size", size.err().message));
        auto out = svc.list(k, ps.at("patient_id"), *page, *size);
        if (!out) return send_me_error(req, res, out.err());
        auto& [items, total] = *out;
        auto rid = request_id(req);
        res.set_header("x-request-id", rid);
        send_json(res, 200,
                  {{"data", items},
                   {"meta", meta(req, 200, "list", rid)},
                   {"paging",
                    {{"page_number", *page},
                     {"page_size", *size},
                     {"total_entries", total},
                     {"total_pages", (total + *size - 1) / *size}}}});
      });
  srv.add(
      "GET", base + "/{id}",
      [&svc, k](const net::request& req, net::response& res, const params& ps) {
        auto who = read_consumer(req);
        if (!who) return send_me_error(req, res, who.err());
        auto out = svc.get(k, ps.at("patient_id"), ps.at("id"));
        if (!out) return send_me_error(req, res, out.err());
        send_data(req, res, 200, *out);
      });
}

void add_verify(server& srv, me::service& svc) {
  srv.add(
      "PATCH", "/api/patients/{patient_id}/approvals/{id}",
      [&svc](const net::request& req, net::response& res, const params& ps) {
        auto who = read_consumer(req);
        if (!who) return send_me_error(req, res, who.err());
        auto body = read_body(req);
        if (!body) return send_me_error(req, res, body.err());
        auto out = svc.verify(ps.at("patient_id"), ps.at("id"), *body, who->user_id, who->client_id);
        if (!out) return send_me_error(req, res, out.err());
        send_data(req, res, 200, *out);
      });
}

// -- registries (admin) ------------------------------------------------------------------------------

template <class Get, class Put>
void add_registry(server& srv, const std::string& path, const char* what, Get get, Put put) {
  srv.add(
      "PUT", path,
      [put](const net::request& req, net::response& res, const params& ps) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto stored = put(ps.at("id"), std::move(*body));
        if (!stored) return send_error(res, stored.err());
        send_json(res, 200, stored->doc);
      });
  srv.add(
      "GET", path,
      [get, what](const net::request&, net::response& res, const params& ps) {
        auto found = get(ps.at("id"));
        if (!found) return send_error(res, error::not_found(std::string(what) + " " + ps.at("id") + " not found"));
        json out = found->doc;
        out["id"] = ps.at("id");
        send_json(res, 200, out);
      });
}

void add_registries(server& srv, me::service& svc) {
  add_registry(
      srv, "/admin/persons/{id}", "person", [&svc](const std::string& id) { return svc.get_person(id); },
      [&svc](const std::string& id, json doc) { return svc.put_person(id, std::move(doc)); });
  add_registry(
      srv, "/admin/legal_entities/{id}", "legal entity",
      [&svc](const std::string& id) { return svc.get_legal_entity(id); },
      [&svc](const std::string& id, json doc) { return svc.put_legal_entity(id, std::move(doc)); });
  add_registry(
      srv, "/admin/employees/{id}", "employee",
      [&svc](const std::string& id) { return svc.get_employee(id); },
      [&svc](const std::string& id, json doc) { return svc.put_employee(id, std::move(doc)); });
}

}  // namespace

void add_medical_events_routes(server& srv, me::service& svc) {
  // Errors the server raises itself (unknown path, wrong method, body too large, a handler
  // that threw) come in eHealth's envelope too, like every other error of this API.
  srv.set_error_renderer("/api", send_me_error);
  srv.set_error_renderer("/jobs", send_me_error);
  add_job_routes(srv, svc);
  add_job_view(srv, svc, "/api/jobs/{id}");
  // The reference's job links say "/jobs/<id>" (no /api): serve that too, so links work.
  add_job_view(srv, svc, "/jobs/{id}");
  for (auto k : {me::kind::episode, me::kind::encounter, me::kind::condition, me::kind::observation,
                 me::kind::diagnostic_report, me::kind::service_request, me::kind::approval,
                 me::kind::immunization, me::kind::allergy_intolerance, me::kind::risk_assessment,
                 me::kind::device, me::kind::medication_statement})
    add_entity_reads(srv, svc, k);
  add_verify(srv, svc);
  add_registries(srv, svc);
}

}  // namespace medflow::http
