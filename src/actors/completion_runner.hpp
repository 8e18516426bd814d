// completion_runner: runs the callbacks of finished outbound HTTP calls on a CAF scheduler
// thread, a whole I/O round per message (net::http_client::client::options::deliver). Messages that
// those callbacks send with `post` are queued on the runner's own scheduler thread, so a round
// of answers wakes one scheduler thread once, instead of the I/O thread waking (and being
// preempted by) a scheduler thread for every answer. (With actors.scheduler=sharing there are
// no per-thread queues: `post` then queues centrally and the saving is gone.)
#pragma once

#include "actors/protocol.hpp"
#include "net/http_client.hpp"

#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace medflow::actors {

// A round of completions on its way to the runner. Whatever it has not run when it is
// destroyed runs then, on the destroying thread: if the runner has stopped (the message is
// dropped where it was sent) or its handler ended early, every callback still runs once.
class completion_round {
 public:
  explicit completion_round(std::vector<net::http_client::completion> items)
      : items_(std::move(items)) {}
  ~completion_round() { run(); }
  completion_round(const completion_round&) = delete;
  completion_round& operator=(const completion_round&) = delete;

  // Runs the callbacks not run yet, in order.
  void run() noexcept {
    while (next_ < items_.size()) net::http_client::run(items_[next_++]);
  }

 private:
  std::vector<net::http_client::completion> items_;
  size_t next_ = 0;
};

caf::behavior completion_runner(caf::event_based_actor* self);

// An options::deliver that hands each round to `runner`.
std::function<void(std::vector<net::http_client::completion>)> deliver_to(caf::actor runner);

namespace detail {
// The scheduler thread of the completion_runner running callbacks on this thread, or null.
caf::execution_unit* current_runner_unit() noexcept;
}  // namespace detail

// Sends (xs...) to `to` from a callback, with no sender: inside completion_runner queued on
// its scheduler thread (as `self->send` would, without a sender), anywhere else an anon_send.
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

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<medflow::actors::completion_round>)
