#include "actors/hri/batch_forwarder.hpp"

#include "core/log.hpp"

namespace medflow::actors {

namespace {

using self_ptr = caf::stateful_actor<batch_forwarder_state>*;

// Appends what waited (up to max_per_append): the messages that arrived during the last append
// go together in the next one.
void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.waiting.empty()) return;
  size_t n = std::min(st.waiting.size(), st.max_per_append);
  std::vector<batch_entry_out> now(std::make_move_iterator(st.waiting.begin()),
                                   std::make_move_iterator(st.waiting.begin() + n));
  st.waiting.erase(st.waiting.begin(), st.waiting.begin() + n);
  std::vector<bus::message> msgs;
  msgs.reserve(n);
  for (auto& e : now) msgs.push_back(std::move(e.msg));
  std::exception_ptr err;
  try {
    st.bus->append(msgs);
    st.m_appended->inc(n);
  } catch (const std::exception& e) {
    log::warn("hri", "appending ", n, " entries to the batches' topic failed: ", e.what());
    err = std::current_exception();
  }
  for (auto& e : now)
    if (e.done) e.done(err);
  if (!st.waiting.empty()) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

}  // namespace

caf::behavior batch_forwarder(caf::stateful_actor<batch_forwarder_state>* self, bus::log* bus,
                              size_t max_per_append) {
  auto& st = self->state;
  st.bus = bus;
  st.max_per_append = std::max<size_t>(1, max_per_append);
  st.m_appended = &metrics::registry::global().get_counter(
      "medflow_hri_batch_entries_total", "entries appended to the HRI batches' topic");
  return {
      [self](batch_forward_atom, batch_entry_out& e) {
        auto& st = self->state;
        st.waiting.push_back(std::move(e));
        if (!st.flush_scheduled) {
          st.flush_scheduled = true;
          self->send(self, flush_atom::value);
        }
      },
      [self](flush_atom) {
        flush(self);
        if (self->state.draining && self->state.waiting.empty()) self->quit();
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        if (st.waiting.empty()) self->quit();
      },
  };
}

}  // namespace medflow::actors
