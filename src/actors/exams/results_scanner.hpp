// results_scanner: finds the result files waiting in <month>/completed/ and hands them to its
// result workers, one file per idle worker, so files are handled in parallel and none twice at
// once. A pass lists the inbox page by page (the next page when the files of the last one are
// all handed out) until no page is left; files that arrive meanwhile start another pass.
//
// What starts a pass: wake_atom, which a watch thread sends whenever inbox::wait_for_files
// returns (new files, the rescan or poll interval, S3's polling). The thread blocks in the
// inbox between wake-ups, so an idle inbox costs no CPU. A failed listing is retried with a
// capped backoff; a file that could not be handled stays in completed/ for the next pass.
// drain_atom finishes the files in the workers' hands, then stops.
#pragma once

#include "actors/exams/messages.hpp"
#include "core/metrics.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace medflow::actors {

struct results_settings {
  size_t workers = 4;
  size_t max_file_bytes = 16 << 20;
  size_t page_files = 1000;
  // Workers on threads of their own (their calls block); off in deterministic tests.
  bool detached_workers = true;
  // Start the thread that waits on the inbox and sends wake_atom; off in deterministic tests.
  bool watch = true;
  std::chrono::milliseconds list_retry_initial{1000};
  std::chrono::milliseconds list_retry_max{30000};
  // Several instances on one inbox (a shared store): a pass starts only while `claim` says
  // this instance holds the scanner's lease (store/lease.hpp); the others let their wake-ups
  // go. `unclaim` gives it up at drain. Empty: always (one instance).
  std::function<bool()> claim;
  std::function<void()> unclaim;
};

// The thread that waits on the inbox for the scanner. Stops (and joins) when destroyed.
class inbox_watch {
 public:
  inbox_watch(std::shared_ptr<exams::inbox> in, caf::actor scanner);
  ~inbox_watch();
  inbox_watch(const inbox_watch&) = delete;
  inbox_watch& operator=(const inbox_watch&) = delete;

 private:
  std::shared_ptr<exams::inbox> inbox_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct results_scanner_state {
  static inline const char* name = "results_scanner";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<exams::inbox> inbox;
  results_settings settings;

  // -- member variables --------------------------------------------------------------------------
  std::vector<caf::actor> workers;
  std::deque<caf::actor> idle;             // workers without a file
  std::deque<exams::inbox_file> queue;     // listed, not handed out yet
  std::set<std::string> in_hand;           // keys queued or at a worker
  bool passing = false;                    // a pass is under way
  bool pass_again = false;                 // woken during the pass: another one after it
  std::string cursor;                      // the next page of this pass ("" once listed)
  std::chrono::milliseconds retry_delay{0};
  bool retry_scheduled = false;
  bool draining = false;
  std::unique_ptr<inbox_watch> watch;

  // -- probes ------------------------------------------------------------------------------------
  uint64_t handled = 0;  // moved or found gone
  uint64_t left = 0;     // left for a later pass
  uint64_t passes = 0;
  metrics::counter* m_moved[5] = {};  // by destination folder
  metrics::counter* m_left = nullptr;
  metrics::counter* m_list_failures = nullptr;

  ~results_scanner_state();
};

caf::behavior results_scanner(caf::stateful_actor<results_scanner_state>* self,
                              std::shared_ptr<exams::inbox> inbox, exams::apply_fn apply,
                              results_settings settings);

}  // namespace medflow::actors
