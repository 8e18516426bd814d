// The one table of HTTP statuses medflowd speaks: the reason phrase written on the status line
// (RFC 9110 15), and, for an error answer no route wrote itself (404, 405, 413, a request that
// could not be read), medflow's error code and message.
#pragma once

namespace medflow::net {

// "Not Found"; "Unknown" for a status the table does not name (clients go by the code).
const char* reason_phrase(int status);
// "not_found"; "internal_error" for a status without an error code of its own.
const char* error_code_for(int status);
// "not found"; "error" for a status without a message of its own.
const char* error_message_for(int status);

}  // namespace medflow::net
