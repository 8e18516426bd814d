#include "actors/resource_events/delivery_pool.hpp"

#include "core/log.hpp"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstring>

namespace medflow::actors {

delivery_pool::delivery_pool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

delivery_pool::~delivery_pool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> g{mutex_};
    stopping_ = true;
    dropped.swap(tasks_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  // Not run (what they read may be gone); their sinks answer 503 "ask again" as they go.
  dropped.clear();
}

void delivery_pool::run(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> g{mutex_};
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void delivery_pool::loop() {
  pthread_setname_np(pthread_self(), "mf.deliver");  // tells it apart in top -H / perf
  sched_param none{};  // SCHED_BATCH has no static priority; 0: this thread
  if (::sched_setscheduler(0, SCHED_BATCH, &none) != 0)
    log::warn("subscriptions", "sched_setscheduler(mf.deliver, SCHED_BATCH): ",
              std::strerror(errno));
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> g{mutex_};
      cv_.wait(g, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      log::error("subscriptions", "delivery task failed: ", e.what());
    }
  }
}

}  // namespace medflow::actors
