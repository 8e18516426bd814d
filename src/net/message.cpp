#include "net/message.hpp"

#include "core/strings.hpp"

#include <algorithm>

namespace medflow::net {

const std::string* find_field(const fields& fs, std::string_view name) {
  for (const auto& [k, v] : fs)
    if (strings::iequals(k, name)) return &v;
  return nullptr;
}

std::string request::header(std::string_view name) const {
  const std::string* v = find_field(headers, name);
  return v ? *v : std::string();
}

bool request::has_param(std::string_view name) const {
  return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
}

std::string request::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

void response::set_header(std::string name, std::string value) {
  auto same = [&](const auto& f) { return strings::iequals(f.first, name); };
  auto it = std::find_if(headers.begin(), headers.end(), same);
  if (it == headers.end()) {
    headers.emplace_back(std::move(name), std::move(value));
    return;
  }
  it->second = std::move(value);
  headers.erase(std::remove_if(std::next(it), headers.end(), same), headers.end());
}

std::string response::header(std::string_view name) const {
  const std::string* v = find_field(headers, name);
  return v ? *v : std::string();
}

}  // namespace medflow::net
