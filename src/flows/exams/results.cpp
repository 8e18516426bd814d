#include "flows/exams/results.hpp"

namespace medflow::exams {

std::string result_key(const inbox_file& f) { return f.month + "/" + f.name; }

file_outcome process_result_file(inbox& in, const inbox_file& f, size_t max_bytes,
                                 const apply_fn& apply) {
  using kind = file_outcome::kind;
  folder to;
  auto bytes = in.read(f, max_bytes);
  if (!bytes) {
    const auto& e = bytes.err();
    if (e.code == "not_found") return {kind::gone, folder::completed, e.message};
    if (e.code != "too_large") return {kind::left, folder::completed, e.message};
    to = folder::stuck;  // never read, so never applied: nothing to record
  } else {
    auto applied = apply(result_key(f), *bytes);
    if (!applied) return {kind::left, folder::completed, applied.err().message};
    to = *applied;
    if (to == folder::completed)
      return {kind::left, folder::completed, "the outcome of a result cannot be completed/"};
  }
  auto moved = in.move(f, to);
  if (moved) return {kind::moved, to, {}};
  if (moved.err().code == "not_found") return {kind::gone, to, moved.err().message};
  return {kind::left, to, moved.err().message};
}

}  // namespace medflow::exams
