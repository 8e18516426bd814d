#include "net/url.hpp"

namespace medflow::net {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.reserve(out.size() + in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return false;  // fewer than two characters left
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char decoded = static_cast<char>(hi * 16 + lo);
      // A NUL is where C strings (file names, logs, other hops) stop reading.
      if (decoded == '\0') return false;
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool parse_query(std::string_view query,
                 std::vector<std::pair<std::string, std::string>>& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    if (out.size() >= max_query_params) return false;
    size_t eq = piece.find('=');
    std::string name, value;
    if (!percent_decode(piece.substr(0, eq), name, true)) return false;
    if (eq != std::string_view::npos && !percent_decode(piece.substr(eq + 1), value, true))
      return false;
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace medflow::net
