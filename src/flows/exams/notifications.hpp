// The exams flow's notification outbox: "your exam result is ready", one row per finished exam.
//
// A row is written by enqueue_in in the same store transaction that finishes the exam, so a
// finished exam always has its notification and a repeated result (a second file, a restart
// after kill -9) never adds a second one: exam_id is unique. The channel is chosen then, from
// the patient's contact data: e-mail when it is verified, else SMS when the cellphone is, else
// the row is recorded as not deliverable and nothing is sent.
//
// The notification_sender actor takes due rows, sends them, and records each attempt: sent,
// a retry later (backoff doubling from retry_initial_ms up to retry_max_ms), or failed (a
// permanent refusal, or max_attempts used up). A crash between a send and its record sends it
// again on the next start: at least once. The address is stored sealed (AES-256-GCM, the exam
// id as associated data) and erased once the row is finished.
//
// Several medflowd on one PostgreSQL: each row is sent by one instance. due() claims the rows
// it returns (claimed_by, claimed_until = now + claim_ms, under FOR UPDATE SKIP LOCKED, so two
// senders never get the same row); the other instances leave a claimed row alone until its
// attempt is recorded (which ends the claim) or the claim expires (its instance died: another
// one sends it then, at least once). The claimer itself sees its rows as before (its sender
// skips those being sent). On SQLite (one instance) due() only reads, as before.
#pragma once

#include "core/crypto.hpp"
#include "store/database.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace medflow::exams {

enum class channel { email, sms, none };
enum class notification_status { pending, sent, undeliverable, failed };

const char* to_string(channel c);
const char* to_string(notification_status s);

// Where a patient can be reached, as the exams store knows it.
struct contact {
  std::string email;
  bool email_verified = false;
  std::string cellphone;
  bool cellphone_verified = false;
};

// E-mail when verified (and non-empty), else SMS when the cellphone is verified, else none.
channel channel_for(const contact& c);

// What a finished exam asks to be told to its patient.
struct notification_request {
  std::string exam_id;
  std::string patient_id;
  std::string exam_name;  // e.g. the catalog's name of the exam type; may be empty
  contact to;
};

struct notification {
  int64_t id = 0;
  std::string exam_id;
  std::string patient_id;
  channel via = channel::none;
  std::string address;  // opened; empty once the row is finished
  std::string subject;
  std::string text;
  notification_status status = notification_status::pending;
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;  // 0 while pending
};

struct notification_settings {
  int max_attempts = 10;
  int64_t retry_initial_ms = 1000;
  int64_t retry_max_ms = 600000;
  std::string subject = "Your exam result is ready";
  // PostgreSQL: how long a claim by due() keeps the row from the other instances, and who
  // claims (empty: store::instance_id()).
  int64_t claim_ms = 60000;
  std::string holder;
};

// The subject and text of the message for r (the same for both channels).
struct message_text {
  std::string subject;
  std::string text;
};
message_text render_message(const notification_request& r, const notification_settings& s);

// After attempt number `attempts` (1 = the first) failed: the time of the next attempt, or
// nullopt when no attempt is left (permanent failure or max_attempts reached).
std::optional<int64_t> next_attempt_after(int attempts, bool permanent, int64_t now_ms,
                                          const notification_settings& s);

// Counts per status.
struct notification_counts {
  int64_t pending = 0, sent = 0, undeliverable = 0, failed = 0;
};

class notifications {
 public:
  notifications(store::database& db, crypto::key256 key, notification_settings s);

  static std::vector<store::migration> migrations();

  // Runs after each commit that added a row (the sender's wake-up). May be replaced at any time
  // (a restarted sender), from any thread.
  void on_enqueued(std::function<void()> f);

  // In the caller's transaction: the exam's notification, unless it already has one. True when
  // a row was added.
  bool enqueue_in(store::tx& t, const notification_request& r, int64_t now_ms);

  // Pending rows due at now_ms, oldest first, at most max; rows whose id is in `skip` (being
  // sent) are left out. PostgreSQL: only rows no other instance holds, and they are claimed
  // for this one (until their attempt is recorded, or claim_ms).
  std::vector<notification> due(int64_t now_ms, size_t max, const std::vector<int64_t>& skip = {});
  // The earliest next attempt of a pending row not in `skip`, or nullopt when there is none
  // (PostgreSQL: a row another instance holds counts from the end of its claim).
  std::optional<int64_t> next_attempt_ms(const std::vector<int64_t>& skip = {});

  // The outcome of one attempt on row `id`. error empty: sent. Otherwise a retry is scheduled
  // unless `permanent` or the attempts are used up (then failed). Returns the new status.
  notification_status record_attempt(int64_t id, const std::string& error, bool permanent,
                                     int64_t now_ms);

  std::optional<notification> find_by_exam(const std::string& exam_id);
  notification_counts counts();
  const notification_settings& settings() const { return settings_; }

 private:
  notification read_row(store::query& q) const;

  store::database& db_;
  crypto::key256 key_;
  notification_settings settings_;
  std::mutex wake_mu_;
  std::function<void()> on_enqueued_;  // guarded by wake_mu_
  std::vector<notification> claim_due(int64_t now_ms, size_t max,
                                      const std::vector<int64_t>& skip);
};

}  // namespace medflow::exams
