// The exam results inbox: where result files arrive and where they are moved once handled.
//
// Layout (the ZMED reference's documented one, its ZMED_S3_*_KEY folders):
//
//   <root>/<YYYY_MM>/<folder>/<file>     folder: completed, processed, stuck, denied, deleted
//
// New results wait in <month>/completed/. The flow lists them (every month, oldest first, in
// pages), reads one (under a byte cap), and moves it to another folder of the same month.
// Two implementations: local_inbox (a directory, inotify) and s3_inbox (a bucket, polling).
// Both are plain file I/O or HTTP: no actors here. list/read/move may be called from any
// thread; wait_for_files from one thread at a time.
#pragma once

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::exams {

enum class folder { completed, processed, stuck, denied, deleted };

// The folders' names, from configuration (the reference's ZMED_S3_COMPLETED_KEY etc.).
struct folder_names {
  std::string completed = "completed";
  std::string processed = "processed";
  std::string stuck = "stuck";
  std::string denied = "denied";
  std::string deleted = "deleted";

  const std::string& of(folder f) const;
  // Each non-empty, distinct, without '/', not "." or "..": else a bad_request error.
  status validate() const;
};

struct inbox_file {
  std::string month;  // YYYY_MM
  std::string name;   // the file's name inside its folder (no '/')
  folder in = folder::completed;
  uint64_t size = 0;
};

struct inbox_page {
  std::vector<inbox_file> files;
  std::string next;  // cursor for the next page; empty when there is none
};

enum class wake_reason {
  files_arrived,  // something new may be waiting in a completed folder
  rescan_due,     // the safety-net (local) or polling (S3) interval passed
  woken,          // wake() was called
  timed_out,      // the caller's timeout passed first
};

// Most files one page returns.
constexpr size_t max_page_files = 1000;

class inbox {
 public:
  virtual ~inbox() = default;

  // Files waiting in <month>/completed/, months in order, names in byte order within a month,
  // at most max_files (1..max_page_files) per page. cursor: "" for the first page, else the
  // previous page's `next`.
  virtual result<inbox_page> list_completed(const std::string& cursor, size_t max_files) = 0;
  // The file's bytes; error "too_large" when bigger than max_bytes, "not_found" when gone.
  virtual result<std::string> read(const inbox_file& f, size_t max_bytes) = 0;
  // Moves f (from f.in) to folder `to` of the same month, under the same name. Safe to repeat:
  // a file already at the destination and gone from its source is success. A different file of
  // that name already at the destination is error "destination_exists"; no file at either
  // place is "not_found".
  virtual status move(const inbox_file& f, folder to) = 0;
  // Blocks until new files may be waiting, a rescan is due, wake() is called, or timeout.
  virtual wake_reason wait_for_files(std::chrono::milliseconds timeout) = 0;
  // Makes a waiting (or the next) wait_for_files return woken; callable from any thread.
  virtual void wake() = 0;
};

// YYYY_MM with a month 01..12.
bool is_month(std::string_view s);
// Non-empty, at most 1,024 bytes, no '/' or NUL, not "." or "..".
bool is_file_name(std::string_view s);
// "invalid month" / "invalid file name" errors (bad_request) for f, or ok.
status check_file(const inbox_file& f);

}  // namespace medflow::exams
