#include "actors/key_worker.hpp"

#include "core/error.hpp"

namespace medflow::actors {

namespace {

void hand_over(caf::stateful_actor<key_worker_state>* self, work_item& item) {
  auto& st = self->state;
  auto me = caf::actor_cast<caf::actor>(self);
  int64_t offset = item.rec.offset;
  done_fn done = [me, offset](std::exception_ptr e) {
    caf::anon_send(me, completed_atom::value, offset, medflow::describe(e));
  };
  if (item.dead_letter)
    st.handlers->dead_letter(item.rec, item.reason, std::move(done));
  else
    st.handlers->process(item.rec, std::move(done));
}

// Starts the front item; its completion arrives as a `completed` message.
void start_next(caf::stateful_actor<key_worker_state>* self) {
  auto& st = self->state;
  if (st.busy || st.queue.empty()) return;
  st.busy = true;
  hand_over(self, st.queue.front());
}

}  // namespace

caf::behavior key_worker(caf::stateful_actor<key_worker_state>* self, std::string key,
                         std::shared_ptr<const record_handlers> handlers, caf::actor sequencer) {
  self->state.key = std::move(key);
  self->state.handlers = std::move(handlers);
  self->state.sequencer = std::move(sequencer);
  // A handler that throws ends this worker with the exception's text as the exit reason.
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& e) -> caf::error {
    return caf::make_error(caf::sec::runtime_error, medflow::describe(e));
  });
  return {
      [self](dispatch_atom, work_item& item) {
        self->state.queue.push_back(std::move(item));
        start_next(self);
      },
      [self](completed_atom, int64_t offset, const std::string& err) {
        auto& st = self->state;
        if (!err.empty()) {
          self->quit(caf::make_error(caf::sec::runtime_error, err));
          return;
        }
        if (st.queue.empty() || st.queue.front().rec.offset != offset) return;  // stale
        st.queue.pop_front();
        st.busy = false;
        self->send(st.sequencer, handled_atom::value, st.key, offset);
        start_next(self);
      },
  };
}

}  // namespace medflow::actors
