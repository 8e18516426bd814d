#include "core/threads.hpp"

#include <dirent.h>
#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace medflow::threads {
namespace {

// The names of this process's threads: calls `each(tid, name)` for every one.
template <class F>
void for_each_thread(F&& each) {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name)) each(static_cast<pid_t>(std::atoi(e->d_name)), name);
  }
  ::closedir(dir);
}

}  // namespace

size_t set_batch(std::string_view name, std::chrono::milliseconds wait) {
  auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    size_t changed = 0;
    for_each_thread([&](pid_t tid, const std::string& comm) {
      sched_param none{};  // SCHED_BATCH has no static priority
      if (comm == name && ::sched_setscheduler(tid, SCHED_BATCH, &none) == 0) ++changed;
    });
    if (changed > 0 || std::chrono::steady_clock::now() >= until) return changed;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int policy_of(pid_t tid) { return ::sched_getscheduler(tid); }

}  // namespace medflow::threads
