#include "flows/resource_events/cursor.hpp"

#include "core/base64.hpp"

#include <charconv>

namespace medflow::flows::resource_events {

std::string encode_cursor(const positions& p) {
  std::string plain;
  for (const auto& [key, offset] : p) {
    if (!plain.empty()) plain += ',';
    plain += key.first;
    plain += ':';
    plain += std::to_string(key.second);
    plain += ':';
    plain += std::to_string(offset);
  }
  return base64::encode_url(plain);
}

namespace {

template <class Int>
bool parse_non_negative(std::string_view s, Int& out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  if (s.size() > 1 && s[0] == '0') return false;  // canonical form only
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
}

bool topic_chars(std::string_view s) {
  if (s.empty() || s.size() > 249) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

result<positions> decode_cursor(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes)
    return error::bad_request("cursor: longer than " + std::to_string(max_bytes) + " bytes");
  for (char c : text)
    if (c == '+' || c == '/' || c == '=')
      return error::bad_request("cursor: not a cursor of this subscription's events");
  auto plain = base64::decode(text);
  if (!plain) return error::bad_request("cursor: not a cursor of this subscription's events");
  positions out;
  std::string_view rest = *plain;
  std::size_t index = 0;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty())
      return error::bad_request("cursor: not a cursor of this subscription's events");
    auto last = entry.rfind(':');
    auto first = last == std::string_view::npos ? last : entry.rfind(':', last - 1);
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    if (first == std::string_view::npos || last == 0 ||
        !topic_chars(entry.substr(0, first)) ||
        !parse_non_negative(entry.substr(first + 1, last - first - 1), partition) ||
        !parse_non_negative(entry.substr(last + 1), offset))
      return error::bad_request("cursor: entry " + std::to_string(index + 1) +
                                " is not topic:partition:offset");
    if (!out.emplace(partition_key{std::string(entry.substr(0, first)), partition}, offset).second)
      return error::bad_request("cursor: entry " + std::to_string(index + 1) +
                                " repeats a topic partition");
    ++index;
  }
  return out;
}

}  // namespace medflow::flows::resource_events
