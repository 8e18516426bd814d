// The results inbox in an S3 bucket: keys <YYYY_MM>/<folder>/<file> (no leading slash; the
// reference's "/<folder>/<YYYY>_<MonthName>/" keys were a defect).
//
// New files are found by polling: wait_for_files returns rescan_due every poll_interval_ms and
// the caller lists. Listing walks the months with ListObjectsV2 and start-after (one request
// finds the next month, then its completed/ keys are listed in pages): it needs no delimiter
// support, which some S3 servers (s3rver) only half have, and never reads the other folders.
//
// A move is a server-side copy then a delete of the source. A move interrupted between the two
// (copy made, delete failed) is finished by repeating it: a source whose copy already sits at
// the destination (same size and ETag) is only deleted.
#pragma once

#include "flows/exams/inbox.hpp"
#include "net/s3_client.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace medflow::exams {

struct s3_inbox_options {
  s3::options s3;  // bucket, endpoint, credentials, timeouts
  folder_names folders;
  int64_t poll_interval_ms = 30000;
  // Most ListObjectsV2 requests one list_completed makes; past it the page ends early (its
  // `next` goes on from there).
  int max_requests_per_page = 100;
};

class s3_inbox final : public inbox {
 public:
  // Throws std::invalid_argument for bad folder names or S3 options.
  explicit s3_inbox(s3_inbox_options opts);

  result<inbox_page> list_completed(const std::string& cursor, size_t max_files) override;
  result<std::string> read(const inbox_file& f, size_t max_bytes) override;
  status move(const inbox_file& f, folder to) override;
  wake_reason wait_for_files(std::chrono::milliseconds timeout) override;
  void wake() override;

  std::string key_of(const inbox_file& f) const;

 private:
  s3_inbox_options opts_;
  s3::client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  std::chrono::steady_clock::time_point next_poll_;
};

}  // namespace medflow::exams
