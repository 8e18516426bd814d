// The exams flow's HTTP API (issue 17, reference Part A): the exam manager's routes
// (/exam/new, /exams/info, /exam/start, /exams/communicate, /exam/revoke) with its
// {"data": ...} envelope and {title, status, detail, err, errorKey} errors, and the built-in
// patient manager (/patients, /document/find; not served when patients are external).
#pragma once

#include "flows/exams/service.hpp"

namespace medflow::http {
class server;

void add_exams_routes(server& srv, exams::service& svc);

// The reference's error body (A.4) for an error of the exams flow.
nlohmann::json exams_error_body(const error& e);

}  // namespace medflow::http
