#include "net/sse.hpp"

namespace medflow::net {

namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  for (char c : value) out.push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  out.push_back('\n');
}

}  // namespace

void append_sse_event(std::string& out, std::string_view id, std::string_view type,
                      std::string_view data) {
  if (!id.empty()) append_field(out, "id", id);
  if (!type.empty()) append_field(out, "event", type);
  for (;;) {
    size_t end = data.find_first_of("\r\n");
    out.append("data: ");
    out.append(data.substr(0, end));
    out.push_back('\n');
    if (end == std::string_view::npos) break;
    size_t next = end + 1;
    if (data[end] == '\r' && next < data.size() && data[next] == '\n') ++next;
    data.remove_prefix(next);
  }
  out.push_back('\n');
}

void append_sse_comment(std::string& out, std::string_view text) {
  append_field(out, "", text);
  out.push_back('\n');
}

}  // namespace medflow::net
