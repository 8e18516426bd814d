// completion_runner: runs the callbacks of finished outbound HTTP calls on a CAF scheduler
// thread, a whole I/O round per message (http_client::client::options::deliver). Messages that
// those callbacks send with `post` are queued on the runner's own scheduler thread, so a round
// of answers wakes one scheduler thread once, instead of the I/O thread waking (and being
// preempted by) a scheduler thread for every answer.
#pragma once

#include "actors/protocol.hpp"

#include <functional>
#include <utility>
#include <vector>

namespace medflow::actors {

caf::behavior completion_runner(caf::event_based_actor* self);

// An options::deliver that hands each round to `runner`. Completions delivered after the
// runner has stopped (daemon shutdown) are dropped without running.
std::function<void(std::vector<http_client::completion>)> deliver_to(caf::actor runner);

namespace detail {
// The scheduler thread of the completion_runner running callbacks on this thread, or null.
caf::execution_unit* current_runner_unit() noexcept;
}  // namespace detail

// Sends (xs...) to `to` from a callback: inside completion_runner queued on its scheduler
// thread (what `self->send` does in an actor), anywhere else an anon_send.
template <class... Ts>
void post(const caf::actor& to, Ts&&... xs) {
  if (!to) return;
  if (auto* unit = detail::current_runner_unit())
    to->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                          std::forward<Ts>(xs)...),
                unit);
  else
    caf::anon_send(to, std::forward<Ts>(xs)...);
}

}  // namespace medflow::actors
