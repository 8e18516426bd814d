#include "net/status.hpp"

#include <algorithm>
#include <iterator>

namespace medflow::net {

namespace {

struct entry {
  int status;
  const char* reason;
  const char* code;     // nullptr: not an error medflowd renders itself
  const char* message;
};

// Sorted by status.
constexpr entry table[] = {
    {100, "Continue", nullptr, nullptr},
    {200, "OK", nullptr, nullptr},
    {201, "Created", nullptr, nullptr},
    {202, "Accepted", nullptr, nullptr},
    {204, "No Content", nullptr, nullptr},
    {301, "Moved Permanently", nullptr, nullptr},
    {302, "Found", nullptr, nullptr},
    {303, "See Other", nullptr, nullptr},
    {304, "Not Modified", nullptr, nullptr},
    {307, "Temporary Redirect", nullptr, nullptr},
    {400, "Bad Request", "bad_request", "bad request"},
    {401, "Unauthorized", "unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden", "forbidden"},
    {404, "Not Found", "not_found", "not found"},
    {405, "Method Not Allowed", "method_not_allowed", "method not allowed"},
    {408, "Request Timeout", "request_timeout", "request timeout"},
    {409, "Conflict", nullptr, nullptr},
    {410, "Gone", nullptr, nullptr},
    {411, "Length Required", nullptr, nullptr},
    {412, "Precondition Failed", nullptr, nullptr},
    {413, "Content Too Large", "payload_too_large", "request body too large"},
    {414, "URI Too Long", "uri_too_long", "request URI too long"},
    {415, "Unsupported Media Type", "unsupported_media_type", "unsupported media type"},
    {422, "Unprocessable Content", nullptr, nullptr},
    {429, "Too Many Requests", nullptr, nullptr},
    {431, "Request Header Fields Too Large", "header_fields_too_large",
     "request header fields too large"},
    {500, "Internal Server Error", "internal_error", "internal error"},
    {501, "Not Implemented", "not_implemented", "not implemented"},
    {502, "Bad Gateway", nullptr, nullptr},
    {503, "Service Unavailable", "unavailable", "service unavailable"},
    {504, "Gateway Timeout", nullptr, nullptr},
    {505, "HTTP Version Not Supported", "http_version_not_supported",
     "HTTP version not supported"},
    {507, "Insufficient Storage", nullptr, nullptr},
};

const entry* find(int status) {
  auto it = std::lower_bound(std::begin(table), std::end(table), status,
                             [](const entry& e, int s) { return e.status < s; });
  return it != std::end(table) && it->status == status ? it : nullptr;
}

}  // namespace

const char* reason_phrase(int status) {
  const entry* e = find(status);
  return e ? e->reason : "Unknown";
}

const char* error_code_for(int status) {
  const entry* e = find(status);
  return e && e->code ? e->code : "internal_error";
}

const char* error_message_for(int status) {
  const entry* e = find(status);
  return e && e->message ? e->message : "error";
}

}  // namespace medflow::net
