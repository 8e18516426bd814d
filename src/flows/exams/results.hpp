// One result file's way through the inbox: read it (under a byte cap), have it applied (the
// exams service records the outcome, and what belongs with it, in one store transaction), then
// move it to the folder of that outcome. No threads here: the result workers call it.
//
// The outcome is recorded before the move, so a kill -9 between the two leaves the file in
// completed/ with its outcome in the store: applying it again finds that outcome (and adds
// nothing), and the move is finished. A file over the byte cap goes to stuck/ unread.
#pragma once

#include "flows/exams/inbox.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace medflow::exams {

// Applies one file's bytes under its key (month/name, the same in every folder) and returns
// the folder it belongs in (processed, stuck, denied or deleted). Must be idempotent per key.
// An error leaves the file where it is, for a later pass.
using apply_fn = std::function<result<folder>(const std::string& key, std::string_view bytes)>;

// The key of a result file: "<month>/<name>".
std::string result_key(const inbox_file& f);

struct file_outcome {
  enum class kind {
    moved,  // applied (or found applied) and moved to `to`
    gone,   // no longer in completed/ (moved by an earlier run, or removed)
    left,   // left in completed/ for a later pass: `why`
  };
  kind what = kind::left;
  folder to = folder::completed;
  std::string why;
};

file_outcome process_result_file(inbox& in, const inbox_file& f, size_t max_bytes,
                                 const apply_fn& apply);

}  // namespace medflow::exams
