// The results inbox on a local directory (the embedded default).
//
// New files are noticed with inotify: the root is watched for new month directories, each
// month for its completed/ folder, and each completed/ folder for files closed after writing
// (IN_CLOSE_WRITE) or renamed in (IN_MOVED_TO). Only complete files are listed: one such event
// was seen for it, or it has not been modified for settle_ms (what a rescan finds that no
// event announced: files from before start-up, hard links, a lost event queue). Writers
// should write elsewhere (or under a dot name) and rename into completed/; names starting with
// '.' are never listed. A periodic rescan (wait_for_files returns rescan_due) is the safety net.
//
// Moves are rename(2) without replacing (renameat2 RENAME_NOREPLACE), then both directories are
// fsynced: atomic, and durable once move returns. The directory fsyncs are group commits: the
// moves (from several workers) whose renames finish while an fsync of that directory runs share
// the next one, so one fsync covers many renames. A repeated move (the file is at the
// destination already, e.g. after a crash) fsyncs the month and both folders again before it
// succeeds; the destination folder is created (and the month fsynced) only when missing.
#pragma once

#include "flows/exams/inbox.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace medflow::exams {

struct local_inbox_options {
  std::string root;  // created when missing
  folder_names folders;
  int64_t rescan_interval_ms = 30000;
  int64_t settle_ms = 5000;
  size_t max_dir_entries = 100000;  // a completed/ folder or the root with more is an error
  size_t max_months = 1200;         // month directories watched (100 years)
};

class local_inbox final : public inbox {
 public:
  // Throws std::invalid_argument for bad folder names, std::runtime_error when the root cannot
  // be created or inotify set up.
  explicit local_inbox(local_inbox_options opts);
  ~local_inbox() override;
  local_inbox(const local_inbox&) = delete;
  local_inbox& operator=(const local_inbox&) = delete;

  result<inbox_page> list_completed(const std::string& cursor, size_t max_files) override;
  result<std::string> read(const inbox_file& f, size_t max_bytes) override;
  status move(const inbox_file& f, folder to) override;
  wake_reason wait_for_files(std::chrono::milliseconds timeout) override;
  void wake() override;

  // Probe: directory fsyncs run so far (one may cover the renames of several moves).
  uint64_t directory_fsyncs() const { return dir_fsyncs_.load(); }

 private:
  // Reads the pending inotify events (non-blocking); true when one announced a complete file
  // or a new directory. Requires mu_.
  bool drain_events();
  void watch_month(const std::string& month);      // requires mu_
  void watch_completed(const std::string& month);  // requires mu_
  std::string path(const std::string& month, folder f) const;
  // fsyncs dir after the caller's changes to it, sharing the fsync with concurrent callers.
  status sync_dir(const std::string& dir);

  struct dir_sync;

  local_inbox_options opts_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd
  std::mutex mu_;
  std::map<int, std::string> month_watches_;      // wd -> month
  std::map<int, std::string> completed_watches_;  // wd -> month
  std::set<std::string> complete_;                // "month/name" announced complete
  std::chrono::steady_clock::time_point next_rescan_;
  std::mutex syncs_mu_;
  std::map<std::string, std::shared_ptr<dir_sync>> syncs_;  // directory -> its group commit
  std::atomic<uint64_t> dir_fsyncs_{0};
};

}  // namespace medflow::exams
