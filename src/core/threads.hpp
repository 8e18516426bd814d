// Scheduling policy of this process's own threads, found by the name they gave themselves
// (pthread_setname_np; what `top -H` and /proc/self/task/*/comm show).
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

namespace medflow::threads {

// Puts every thread of this process named `name` under SCHED_BATCH. Such a thread keeps its
// fair share of the CPU (same nice level, same weight) but never preempts a running thread
// when it wakes up: it runs when a core is free or when the running thread's slice ends. For
// housekeeping threads that are woken often but are not on anybody's latency path. A thread
// names itself after it has started, so this waits up to `wait` for one to appear. Returns
// how many threads it changed (no special privilege is needed to lower one's own priority).
size_t set_batch(std::string_view name, std::chrono::milliseconds wait);

}  // namespace medflow::threads
