// ASCII helpers for protocol text (header names, Go's EqualFold on JSON names, engagement
// categories, percent-escapes and hex ids): locale-free, so "I" never becomes a dotless i.
#pragma once

#include <string>
#include <string_view>

namespace medflow::strings {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string s) {
  for (auto& c : s) c = ascii_lower(c);
  return s;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace medflow::strings
