#include "http/medical_events_routes.hpp"

#include "core/ids.hpp"
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
  auto m = json::parse(meta_text, nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("client_id") || !m["client_id"].is_string())
    return unauthorized("Invalid header x-consumer-metadata: expected {\"client_id\": <legal entity>}");
  return consumer{user, m["client_id"].get<std::string>()};
}

result<json> read_body(const net::request& req) {
  if (req.body.empty()) return json::object();
  auto b = json::parse(req.body, nullptr, false);
  if (b.is_discarded()) return error::bad_request("Malformed JSON in the request body");
  return b;
}

const std::vector<std::string> consumer_headers{"x-consumer-id", "x-consumer-metadata"};

// -- job routes ------------------------------------------------------------------------------------

struct job_route {
  const char* method;
  const char* path;
  me::job_type type;
  const char* summary;
};

const job_route job_routes[] = {
    {"POST", "/api/patients/{patient_id}/episodes", me::job_type::episode_create, "Create an episode"},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}", me::job_type::episode_update, "Update an episode"},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}/actions/close", me::job_type::episode_close, "Close an episode"},
    {"PATCH", "/api/patients/{patient_id}/episodes/{id}/actions/cancel", me::job_type::episode_cancel, "Cancel an episode"},
    {"POST", "/api/patients/{patient_id}/encounter_package", me::job_type::package_create, "Submit an encounter package"},
    {"PATCH", "/api/patients/{patient_id}/encounter_package", me::job_type::package_cancel, "Cancel an encounter package"},
    {"POST", "/api/patients/{patient_id}/diagnostic_report_package", me::job_type::diagnostic_report_package_create, "Submit a diagnostic report package"},
    {"PATCH", "/api/patients/{patient_id}/diagnostic_report_package", me::job_type::diagnostic_report_package_cancel, "Cancel a diagnostic report package"},
    {"POST", "/api/patients/{patient_id}/service_requests", me::job_type::service_request_create, "Create a service request"},
    {"PATCH", "/api/service_requests/{id}/actions/use", me::job_type::service_request_use, "Use a service request"},
    {"PATCH", "/api/service_requests/{id}/actions/release", me::job_type::service_request_release, "Release a service request"},
    {"PATCH", "/api/service_requests/{id}/actions/process", me::job_type::service_request_process, "Start processing a service request"},
    {"PATCH", "/api/service_requests/{id}/actions/complete", me::job_type::service_request_complete, "Complete a service request"},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/recall", me::job_type::service_request_recall, "Recall a service request"},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/cancel", me::job_type::service_request_cancel, "Cancel a service request"},
    {"PATCH", "/api/patients/{patient_id}/service_requests/{id}/actions/close", me::job_type::service_request_close, "Close a service request"},
    {"POST", "/api/patients/{patient_id}/approvals", me::job_type::approval_create, "Create an approval"},
    {"PATCH", "/api/patients/{patient_id}/approvals/{id}/actions/resend", me::job_type::approval_resend, "Resend an approval's code"},
};

void add_job_routes(server& srv, me::service& svc) {
  for (auto& jr : job_routes) {
    auto type = jr.type;
    srv.add(
        jr.method, jr.path,
        [&svc, type](const net::request& req, net::response& res, const params& ps) {
          auto who = read_consumer(req);
          if (!who) return send_me_error(req, res, who.err());
          auto body = read_body(req);
          if (!body) return send_me_error(req, res, body.err());
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
          auto out = svc.submit(r);
          if (!out) return send_me_error(req, res, out.err());
          // A new job is 202; the same request while its job is pending gets that job, 200.
          send_data(req, res, out->created ? 202 : 200, me::pending_data(out->job));
        },
        {jr.summary, "medical events", {{"type", "object"}},
         {{202, "job created (pending)"}, {200, "an identical request's job is still pending"},
          {401, "missing consumer headers"}, {404, "unknown patient or target"},
          {409, "person not active"}, {422, "invalid body"}},
         {}, consumer_headers});
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
      },
      {"A job's status and result", "medical events", nullptr,
       {{200, "pending, failed, or processed with response_data"},
        {303, "processed: the result is at the links (and at Location with "
              "medical_events.job_location)"},
        {404, "unknown job"}},
       {}, consumer_headers});
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
      },
      {std::string("A patient's ") + me::kind_plural(k), "medical events", nullptr,
       {{200, "a page of documents"}, {404, "unknown patient"}}, {"page", "page_size"},
       consumer_headers});
  srv.add(
      "GET", base + "/{id}",
      [&svc, k](const net::request& req, net::response& res, const params& ps) {
        auto who = read_consumer(req);
        if (!who) return send_me_error(req, res, who.err());
        auto out = svc.get(k, ps.at("patient_id"), ps.at("id"));
        if (!out) return send_me_error(req, res, out.err());
        send_data(req, res, 200, *out);
      },
      {std::string("One ") + me::kind_name(k) + " of a patient", "medical events", nullptr,
       {{200, "the document"}, {404, "unknown patient or id"}}, {}, consumer_headers});
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
      },
      {"Verify an approval (new -> active) with its code", "medical events",
       {{"type", "object"}, {"properties", {{"code", {{"type", "string"}}}}}},
       {{200, "the active approval"}, {403, "another patient's approval"}, {404, "unknown approval"},
        {409, "not new"}, {422, "wrong code"}},
       {}, consumer_headers});
}

// -- registries (admin) ------------------------------------------------------------------------------

std::optional<std::string> required_string(const json& b, const char* field) {
  if (!b.is_object() || !b.contains(field) || !b[field].is_string() ||
      b[field].get<std::string>().empty())
    return std::nullopt;
  return b[field].get<std::string>();
}

template <class Get, class Put, class Make>
void add_registry(server& srv, const std::string& path, const char* what, Get get, Put put,
                  Make make, json schema) {
  srv.add(
      "PUT", path,
      [put, make](const net::request& req, net::response& res, const params& ps) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        if (!body->is_object()) return send_error(res, error::bad_request("body must be a JSON object"));
        auto made = make(ps.at("id"), *body);
        if (!made) return send_error(res, made.err());
        put(*made);
        json out = *body;
        out["id"] = ps.at("id");
        send_json(res, 200, out);
      },
      {std::string("Create or replace a ") + what, "registries", schema, {{200, "stored"}, {400, "invalid"}}});
  srv.add(
      "GET", path,
      [get, what](const net::request&, net::response& res, const params& ps) {
        auto found = get(ps.at("id"));
        if (!found) return send_error(res, error::not_found(std::string(what) + " " + ps.at("id") + " not found"));
        json out = found->doc;
        out["id"] = ps.at("id");
        send_json(res, 200, out);
      },
      {std::string("A ") + what, "registries", nullptr, {{200, "found"}, {404, "unknown"}}});
}

void add_registries(server& srv, me::service& svc) {
  add_registry(
      srv, "/admin/persons/{id}", "person", [&svc](const std::string& id) { return svc.get_person(id); },
      [&svc](const me::person& p) { svc.put_person(p); },
      [](const std::string& id, json b) -> result<me::person> {
        auto status = required_string(b, "status");
        if (!status || (*status != "active" && *status != "inactive"))
          return error::bad_request("status must be \"active\" or \"inactive\"");
        b["id"] = id;
        return me::person{id, *status, b};
      },
      {{"type", "object"},
       {"required", {"status"}},
       {"properties",
        {{"status", {{"enum", {"active", "inactive"}}}},
         {"authentication_methods", {{"type", "array"}}}}}});
  add_registry(
      srv, "/admin/legal_entities/{id}", "legal entity",
      [&svc](const std::string& id) { return svc.get_legal_entity(id); },
      [&svc](const me::legal_entity& l) { svc.put_legal_entity(l); },
      [](const std::string& id, json b) -> result<me::legal_entity> {
        auto status = required_string(b, "status");
        if (!status) return error::bad_request("status (e.g. \"ACTIVE\") is required");
        b["id"] = id;
        return me::legal_entity{id, *status, b};
      },
      {{"type", "object"}, {"required", {"status"}}, {"properties", {{"status", {{"type", "string"}}}}}});
  add_registry(
      srv, "/admin/employees/{id}", "employee",
      [&svc](const std::string& id) { return svc.get_employee(id); },
      [&svc](const me::employee& e) { svc.put_employee(e); },
      [](const std::string& id, json b) -> result<me::employee> {
        me::employee e;
        e.id = id;
        for (auto [field, target] : {std::pair<const char*, std::string*>{"legal_entity_id", &e.legal_entity_id},
                                     {"employee_type", &e.employee_type},
                                     {"status", &e.status},
                                     {"user_id", &e.user_id}}) {
          auto v = required_string(b, field);
          if (!v) return error::bad_request(std::string(field) + " (string) is required");
          *target = *v;
        }
        if (b.contains("tax_id")) {
          if (!b["tax_id"].is_string()) return error::bad_request("tax_id must be a string");
          e.tax_id = b["tax_id"].get<std::string>();
        }
        b["id"] = id;
        e.doc = b;
        return e;
      },
      {{"type", "object"},
       {"required", {"legal_entity_id", "employee_type", "status", "user_id"}},
       {"properties",
        {{"legal_entity_id", {{"type", "string"}}},
         {"employee_type", {{"type", "string"}}},
         {"status", {{"type", "string"}}},
         {"user_id", {{"type", "string"}}},
         {"tax_id", {{"type", "string"}}}}}});
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
