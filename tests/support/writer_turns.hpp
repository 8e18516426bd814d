// The store writer and CAF's deterministic scheduler taking turns. The writer commits on its
// own thread and its completions send messages to actors, but the test coordinator may only be
// touched by the test's thread. So while the scheduler runs, the writer is held inside a unit
// that waits; then the scheduler waits while the writer commits what the actors submitted and
// runs their completions (whose messages are then queued for the scheduler's next turn).
#pragma once

#include "store/writer.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>

namespace medflow::test {

class writer_turns {
 public:
  explicit writer_turns(store::writer& w) : w_(w) {}
  writer_turns(const writer_turns&) = delete;
  writer_turns& operator=(const writer_turns&) = delete;
  ~writer_turns() {
    if (go_) go_->set_value();
  }

  // Returns once the writer runs a unit that waits for release(): units submitted from now on
  // are queued behind it.
  void hold() {
    if (go_) throw std::logic_error("writer_turns: held already");
    auto entered = std::make_shared<std::promise<void>>();
    go_ = std::make_shared<std::promise<void>>();
    auto in = entered->get_future();
    std::shared_future<void> go = go_->get_future().share();
    w_.submit([entered, go](store::tx&) {
      entered->set_value();
      if (go.wait_for(limit) != std::future_status::ready)
        throw std::runtime_error("writer_turns: never released");
    }, nullptr);
    if (in.wait_for(limit) != std::future_status::ready)
      throw std::runtime_error("writer_turns: the writer did not take its turn");
  }

  // Lets the writer go; returns once it has committed everything submitted before and run
  // every completion.
  void release() {
    if (!go_) throw std::logic_error("writer_turns: not held");
    go_->set_value();
    go_.reset();
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    w_.submit([](store::tx&) {}, [done](std::exception_ptr) { done->set_value(); });
    if (f.wait_for(limit) != std::future_status::ready)
      throw std::runtime_error("writer_turns: the writer did not finish its turn");
  }

 private:
  static constexpr std::chrono::seconds limit{10};
  store::writer& w_;
  std::shared_ptr<std::promise<void>> go_;
};

}  // namespace medflow::test
