// Server-sent events (the WHATWG HTML "text/event-stream" format): the text of one event or
// comment, for a streamed answer (net/http_server's answer_stream). No I/O.
#pragma once

#include <string>
#include <string_view>

namespace medflow::net {

inline constexpr const char* sse_content_type = "text/event-stream";

// Appends one event: "id: <id>", "event: <type>" (each left out when empty), one "data: " line
// per line of `data` (split at CRLF, LF or CR, as a client splits it), and the empty line that
// dispatches it. A line break or NUL in `id` or `type` would end the field early and forge
// another: they are replaced by a space (a NUL in an id also makes clients ignore it).
void append_sse_event(std::string& out, std::string_view id, std::string_view type,
                      std::string_view data);
// Appends a comment (": <text>" and the empty line): clients ignore it; a proxy sees traffic.
void append_sse_comment(std::string& out, std::string_view text);

}  // namespace medflow::net
