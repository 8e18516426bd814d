// delivery_pool: the threads on which the subscription actors read, select and render the
// events of their pulls, off the CAF scheduler. A subscription actor only hands a round of
// collects over (at most one round per actor at a time, so the queue holds at most one task
// per subscription) and takes back the sinks still waiting: the jobs' actors keep both
// scheduler threads however many subscriptions deliver. The threads ("mf.deliver") run under
// SCHED_BATCH: their fair share of the CPU, but a woken one never preempts a running thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace medflow::actors {

class delivery_pool {
 public:
  explicit delivery_pool(std::size_t threads);
  // Lets the running tasks end and drops the queued ones (by then the subscription actors have
  // drained: none has a round out).
  ~delivery_pool();
  delivery_pool(const delivery_pool&) = delete;
  delivery_pool& operator=(const delivery_pool&) = delete;

  // Queues `task` (run once, on one of the threads, in the order queued per thread).
  void run(std::function<void()> task);

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace medflow::actors
