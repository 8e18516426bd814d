#include "http/exams_routes.hpp"

#include "core/clock.hpp"
#include "core/json.hpp"
#include "http/server.hpp"

namespace medflow::http {

namespace ex = medflow::exams;
using json = nlohmann::json;

namespace {

// -- the reference's envelope (A.4) -------------------------------------------------------------------

struct error_kind {
  const char* title;
  const char* key;
};

error_kind kind_of(const error& e) {
  if (e.code == "input" || e.status == 413) return {"Input Error", "error.InputError"};
  if (e.code == "patient") return {"Patient Error", "error.PatientError"};
  if (e.code == "exam") return {"Exam Error", "error.ExamError"};
  if (e.code == "upstream") return {"Patient Manager Error", "error.PatientManagerError"};
  if (e.status == 404) return {"Not Found", "error.NotFound"};
  if (e.status == 405) return {"Method Not Allowed", "error.MethodNotAllowed"};
  return {"Internal Server Error", "error.InternalServerError"};
}

void send_data(net::response& res, int status, json data) {
  send_json(res, status, {{"data", std::move(data)}});
}

void send_zmed_error(net::response& res, const error& e) {
  send_json(res, e.status, exams_error_body(e));
}

error dto_error(const std::string& why) { return {400, "input", "Request DTO error", json(why)}; }
error field_missing(const std::string& err) {
  return {400, "input", "request field not found", json(err)};
}

// The body as a JSON object ("Request DTO error" otherwise); an empty body is an error too, as
// in the reference (A.4), unless `empty_ok`.
result<json> read_body(const net::request& req, bool empty_ok = false) {
  if (req.body.empty()) {
    if (empty_ok) return json::object();
    return dto_error("unexpected end of JSON input");
  }
  auto b = parse_json_limited(req.body);
  if (!b) return dto_error(b.err().message);
  if (!b->is_object()) return dto_error("expected a JSON object");
  return std::move(*b);
}

// A non-empty string field; "" when absent or null; an error when of another type.
result<std::string> text(const json& b, const char* name) {
  auto it = b.find(name);
  if (it == b.end() || it->is_null()) return std::string();
  if (!it->is_string()) return dto_error(std::string(name) + ": expected a string");
  if (it->get_ref<const std::string&>().size() > 4096)
    return dto_error(std::string(name) + ": longer than 4096 bytes");
  return it->get<std::string>();
}

// The body's string fields `names` (each "" when absent or null), read as text() reads one.
result<std::map<std::string, std::string>> texts(const json& b,
                                                 std::initializer_list<const char*> names) {
  std::map<std::string, std::string> out;
  for (const char* n : names) {
    auto t = text(b, n);
    if (!t) return t.err();
    out[n] = std::move(*t);
  }
  return out;
}

// An integer field: nullopt when absent or null; an error when not an integer.
result<std::optional<int64_t>> integer(const json& b, const char* name) {
  auto it = b.find(name);
  if (it == b.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer() || (it->is_number_unsigned() &&
                                   it->get<uint64_t>() > uint64_t(INT64_MAX)))
    return dto_error(std::string(name) + ": expected an integer");
  return std::optional<int64_t>(it->get<int64_t>());
}

template <class T>
std::function<void(result<T>)> answer(responder respond, std::function<json(const T&)> render) {
  return [respond = std::move(respond), render = std::move(render)](result<T> r) {
    net::response res;
    if (r) send_data(res, 200, render(*r));
    else send_zmed_error(res, r.err());
    respond(std::move(res));
  };
}

void answer_now(const responder& respond, const error& e) {
  net::response res;
  send_zmed_error(res, e);
  respond(std::move(res));
}

// Every exam call ends within the patient manager's timeout plus the store's time to commit.
void bound(const responder& respond, const ex::service& svc) {
  net::response late;
  send_zmed_error(late, {504, "internal", "Request timed out", json("no answer in time")});
  respond.deadline(svc.config().patient_manager_timeout_ms + 10000, std::move(late));
}

// -- exam routes --------------------------------------------------------------------------------------

void add_exam_routes(server& srv, ex::service& svc) {
  auto* api = &svc;
  srv.add_async(
      "POST", "/exam/new",
      [api](const net::request& req, const params&, responder respond) {
        auto b = read_body(req);
        if (!b) return answer_now(respond, b.err());
        auto doc = text(*b, "document");
        if (!doc) return answer_now(respond, doc.err());
        auto type = integer(*b, "exam_type");
        if (!type) return answer_now(respond, type.err());
        if (doc->empty()) return answer_now(respond, field_missing("document"));
        if (!*type) return answer_now(respond, field_missing("exam_type"));
        bound(respond, *api);
        api->register_exam(*doc, **type, clock::now_ms(),
                           answer<ex::exam>(respond, [](const ex::exam& e) { return to_json(e); }));
      },
      false);

  auto info = [api](const net::request& req, const params&, responder respond) {
    // The README's query parameter, or the code's JSON body (A.5).
    std::string doc = req.param("document");
    if (doc.empty()) {
      auto b = read_body(req, true);
      if (!b) return answer_now(respond, b.err());
      auto d = text(*b, "document");
      if (!d) return answer_now(respond, d.err());
      doc = *d;
    }
    if (doc.empty()) return answer_now(respond, field_missing("document"));
    bound(respond, *api);
    api->exams_of(doc, answer<std::vector<ex::exam>>(respond, [](const std::vector<ex::exam>& es) {
                    json list = json::array();
                    for (auto& e : es) list.push_back(to_json(e));
                    return list;
                  }));
  };
  srv.add_async("GET", "/exams/info", info,
                false);

  srv.add_async(
      "POST", "/exam/start",
      [api](const net::request& req, const params&, responder respond) {
        auto b = read_body(req);
        if (!b) return answer_now(respond, b.err());
        auto f = texts(*b, {"document", "exam_id"});
        if (!f) return answer_now(respond, f.err());
        auto type = integer(*b, "exam_type");
        if (!type) return answer_now(respond, type.err());
        auto &doc = (*f)["document"], &id = (*f)["exam_id"];
        if (doc.empty() || id.empty() || !*type)
          return answer_now(respond, field_missing("needs exam_id, patient_id and exam_type"));
        bound(respond, *api);
        api->start_exam(doc, id, **type, clock::now_ms(),
                        answer<std::string>(respond, [](const std::string& t) { return json(t); }));
      },
      false);

  auto communicate = [api](const net::request& req, const params&, responder respond) {
    auto b = read_body(req);
    if (!b) return answer_now(respond, b.err());
    for (const char* f : {"exam_token", "result_token"}) {
      auto t = text(*b, f);
      if (!t) return answer_now(respond, t.err());
      if (t->empty()) return answer_now(respond, field_missing(f));
    }
    auto f = ex::read_result_file(*b, false);
    if (!f) return answer_now(respond, dto_error(f.err().message));
    bound(respond, *api);
    api->communicate(*f, clock::now_ms(),
                     answer<ex::exam>(respond, [](const ex::exam& e) { return to_json(e); }));
  };
  // The README says POST, the code GET with a body (A.5): both.
  srv.add_async("POST", "/exams/communicate", communicate, false);
  srv.add_async("GET", "/exams/communicate", communicate, false);

  srv.add_async(
      "POST", "/exam/revoke",
      [api](const net::request& req, const params&, responder respond) {
        auto b = read_body(req);
        if (!b) return answer_now(respond, b.err());
        auto f = texts(*b, {"document", "exam_id", "reason"});
        if (!f) return answer_now(respond, f.err());
        for (const char* name : {"document", "exam_id", "reason"})
          if ((*f)[name].empty()) return answer_now(respond, field_missing(name));
        if ((*f)["reason"].size() > 1000)
          return answer_now(respond, dto_error("reason: longer than 1000 bytes"));
        bound(respond, *api);
        api->revoke_exam((*f)["document"], (*f)["exam_id"], (*f)["reason"], clock::now_ms(),
                         answer<ex::exam>(respond, [](const ex::exam& e) { return to_json(e); }));
      },
      false);
}

// -- patient routes (built in) ------------------------------------------------------------------------

void add_patient_routes(server& srv, ex::service& svc) {
  auto* api = &svc;
  auto reply = [](net::response& res, int status, const result<ex::patient>& p) {
    if (!p) return send_zmed_error(res, p.err());
    send_data(res, status, to_json(p.value()));
  };
  auto input = [](const net::request& req) -> result<ex::patient_input> {
    auto b = read_body(req);
    if (!b) return b.err();
    auto in = ex::read_patient_input(*b);
    if (!in) return error{400, "input", in.err().message, json(in.err().message)};
    return in;
  };
  srv.add(
      "POST", "/patients",
      [api, reply, input](const net::request& req, net::response& res, const params&) {
        auto in = input(req);
        if (!in) return send_zmed_error(res, in.err());
        reply(res, 201, api->create_patient(*in, clock::now_ms()));
      });
  srv.add(
      "GET", "/patients/{id}",
      [api, reply](const net::request&, net::response& res, const params& ps) {
        reply(res, 200, api->get_patient(ps.at("id")));
      });
  srv.add(
      "PUT", "/patients/{id}",
      [api, reply, input](const net::request& req, net::response& res, const params& ps) {
        auto in = input(req);
        if (!in) return send_zmed_error(res, in.err());
        reply(res, 200, api->update_patient(ps.at("id"), *in, clock::now_ms()));
      });
  srv.add(
      "DELETE", "/patients/{id}",
      [api, reply](const net::request&, net::response& res, const params& ps) {
        reply(res, 200, api->delete_patient(ps.at("id"), clock::now_ms()));
      });
  srv.add(
      "POST", "/document/find",
      [api](const net::request& req, net::response& res, const params&) {
        auto b = read_body(req);
        if (!b) return send_zmed_error(res, b.err());
        auto doc = text(*b, "document");
        if (!doc) return send_zmed_error(res, doc.err());
        if (doc->empty()) return send_zmed_error(res, field_missing("document"));
        auto p = api->find_patient_by_document(*doc);
        if (!p) return send_zmed_error(res, p.err());
        // A.7: a bare Patient, not in the envelope.
        send_json(res, 200, to_json(*p));
      });
}

}  // namespace

json exams_error_body(const error& e) {
  auto k = kind_of(e);
  std::string err = e.detail.is_string() ? e.detail.get<std::string>() : e.message;
  return {{"title", k.title}, {"status", e.status}, {"detail", e.message}, {"err", err},
          {"errorKey", k.key}};
}

void add_exams_routes(server& srv, ex::service& svc) {
  auto render = [](const net::request&, net::response& res, const error& e) {
    send_zmed_error(res, e);
  };
  for (const char* prefix : {"/exam/", "/exams/", "/patients", "/document/"})
    srv.set_error_renderer(prefix, render);
  add_exam_routes(srv, svc);
  if (!svc.external_patients()) add_patient_routes(srv, svc);
}

}  // namespace medflow::http
