#include "actors/exams/result_worker.hpp"

namespace medflow::actors {

caf::behavior result_worker(caf::stateful_actor<result_worker_state>* self,
                            std::shared_ptr<exams::inbox> inbox, exams::apply_fn apply,
                            size_t max_file_bytes) {
  auto& st = self->state;
  st.inbox = std::move(inbox);
  st.apply = std::move(apply);
  st.max_file_bytes = max_file_bytes;
  return {
      [self](result_file_atom, const exams::inbox_file& f) {
        auto& st = self->state;
        exams::file_outcome out;
        try {
          out = exams::process_result_file(*st.inbox, f, st.max_file_bytes, st.apply);
        } catch (const std::exception& e) {
          // A store failure (e.g. a full disk) leaves the file for a later pass.
          out = {exams::file_outcome::kind::left, exams::folder::completed, e.what()};
        }
        auto scanner = caf::actor_cast<caf::actor>(self->current_sender());
        if (scanner) self->send(scanner, result_done_atom::value, f, std::move(out));
      },
  };
}

}  // namespace medflow::actors
