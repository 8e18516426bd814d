#include "core/threads.hpp"

#include "core/log.hpp"

#include <dirent.h>
#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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
      if (comm != name) return;
      sched_param none{};  // SCHED_BATCH has no static priority
      if (::sched_setscheduler(tid, SCHED_BATCH, &none) == 0)
        ++changed;
      else
        log::warn("threads", "sched_setscheduler(", tid, " ", comm, ", SCHED_BATCH): ",
                  std::strerror(errno));
    });
    if (changed > 0 || std::chrono::steady_clock::now() >= until) return changed;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace medflow::threads
