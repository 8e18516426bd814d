#include "flows/exams/inbox.hpp"

#include <set>

namespace medflow::exams {

const std::string& folder_names::of(folder f) const {
  switch (f) {
    case folder::completed:
      return completed;
    case folder::processed:
      return processed;
    case folder::stuck:
      return stuck;
    case folder::denied:
      return denied;
    case folder::deleted:
      break;
  }
  return deleted;
}

status folder_names::validate() const {
  std::set<std::string> seen;
  for (auto* n : {&completed, &processed, &stuck, &denied, &deleted}) {
    if (!is_file_name(*n) || n->size() > 255)
      return error::bad_request("invalid inbox folder name \"" + *n + "\"");
    if (!seen.insert(*n).second)
      return error::bad_request("inbox folder name \"" + *n + "\" used twice");
  }
  return ok_status();
}

bool is_month(std::string_view s) {
  if (s.size() != 7 || s[4] != '_') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6})
    if (s[i] < '0' || s[i] > '9') return false;
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  return month >= 1 && month <= 12;
}

bool is_file_name(std::string_view s) {
  if (s.empty() || s.size() > 1024 || s == "." || s == "..") return false;
  return s.find('/') == std::string_view::npos && s.find('\0') == std::string_view::npos;
}

status check_file(const inbox_file& f) {
  if (!is_month(f.month)) return error::bad_request("invalid month \"" + f.month + "\"");
  if (!is_file_name(f.name)) return error::bad_request("invalid file name");
  return ok_status();
}

}  // namespace medflow::exams
