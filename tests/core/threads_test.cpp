#include "core/threads.hpp"

#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace medflow;
using namespace std::chrono_literals;

namespace {

// A thread that names itself `name` after `delay`, publishes its id and idles until stopped.
struct named_thread {
  named_thread(std::string name, std::chrono::milliseconds delay = 0ms)
      : t([this, name, delay] {
          tid = ::gettid();
          std::this_thread::sleep_for(delay);
          pthread_setname_np(pthread_self(), name.c_str());
          while (!stop) std::this_thread::sleep_for(1ms);
        }) {
    while (tid == 0) std::this_thread::yield();
  }
  ~named_thread() {
    stop = true;
    t.join();
  }
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread t;
};

}  // namespace

TEST_CASE("set_batch puts only the threads of that name under SCHED_BATCH") {
  named_thread a("mf.test-a"), a2("mf.test-a"), b("mf.test-b");
  // They name themselves right after they start; allow for that.
  size_t changed = 0;
  for (auto until = std::chrono::steady_clock::now() + 5s;
       changed < 2 && std::chrono::steady_clock::now() < until;)
    changed = threads::set_batch("mf.test-a", 0ms);
  REQUIRE(changed == 2);
  CHECK(::sched_getscheduler(a.tid) == SCHED_BATCH);
  CHECK(::sched_getscheduler(a2.tid) == SCHED_BATCH);
  CHECK(::sched_getscheduler(b.tid) == SCHED_OTHER);
  CHECK(::sched_getscheduler(::gettid()) == SCHED_OTHER);
}

TEST_CASE("set_batch waits for a thread that names itself late, and gives up on none") {
  named_thread late("mf.test-late", 50ms);
  CHECK(::sched_getscheduler(late.tid) == SCHED_OTHER);
  CHECK(threads::set_batch("mf.test-late", 5000ms) == 1);
  CHECK(::sched_getscheduler(late.tid) == SCHED_BATCH);

  auto t0 = std::chrono::steady_clock::now();
  CHECK(threads::set_batch("mf.no-such-thread", 30ms) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
}
