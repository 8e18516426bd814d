#include "flows/exams/notifications.hpp"

#include "store/lease.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace medflow::exams {

namespace {

const char* columns =
    "id, exam_id, patient_id, channel, address, subject, text, status, attempts, "
    "next_attempt_ms, last_error, created_ms, finished_ms";

channel channel_from(std::string_view s) {
  if (s == "email") return channel::email;
  if (s == "sms") return channel::sms;
  return channel::none;
}

notification_status status_from(std::string_view s) {
  if (s == "sent") return notification_status::sent;
  if (s == "undeliverable") return notification_status::undeliverable;
  if (s == "failed") return notification_status::failed;
  return notification_status::pending;
}

}  // namespace

const char* to_string(channel c) {
  switch (c) {
    case channel::email: return "email";
    case channel::sms: return "sms";
    case channel::none: break;
  }
  return "none";
}

const char* to_string(notification_status s) {
  switch (s) {
    case notification_status::pending: return "pending";
    case notification_status::sent: return "sent";
    case notification_status::undeliverable: return "undeliverable";
    case notification_status::failed: break;
  }
  return "failed";
}

channel channel_for(const contact& c) {
  if (c.email_verified && !c.email.empty()) return channel::email;
  if (c.cellphone_verified && !c.cellphone.empty()) return channel::sms;
  return channel::none;
}

message_text render_message(const notification_request& r, const notification_settings& s) {
  std::string what = r.exam_name.empty() ? "Your exam" : "Your exam (" + r.exam_name + ")";
  return {s.subject, what + " " + r.exam_id + " has its result ready."};
}

std::optional<int64_t> next_attempt_after(int attempts, bool permanent, int64_t now_ms,
                                          const notification_settings& s) {
  if (permanent || attempts >= s.max_attempts) return std::nullopt;
  int64_t delay = s.retry_initial_ms;
  for (int i = 1; i < attempts && delay < s.retry_max_ms; ++i) delay *= 2;
  return now_ms + std::min(delay, s.retry_max_ms);
}

notifications::notifications(store::database& db, crypto::key256 key, notification_settings s)
    : db_(db), key_(key), settings_(std::move(s)) {
  if (settings_.holder.empty()) settings_.holder = store::instance_id();
  if (settings_.max_attempts < 1 || settings_.retry_initial_ms < 1 ||
      settings_.retry_max_ms < settings_.retry_initial_ms)
    throw std::invalid_argument("notification settings: max_attempts >= 1 and "
                                "1 <= retry_initial_ms <= retry_max_ms");
}

std::vector<store::migration> notifications::migrations() {
  return {
      {"exam_notifications", 1, "the notification outbox, one row per finished exam",
       "CREATE TABLE exam_notifications ("
       "  id INTEGER PRIMARY KEY, exam_id TEXT NOT NULL UNIQUE, patient_id TEXT NOT NULL,"
       "  channel TEXT NOT NULL, address TEXT NOT NULL, subject TEXT NOT NULL,"
       "  text TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,"
       "  next_attempt_ms INTEGER NOT NULL, last_error TEXT NOT NULL,"
       "  created_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL);"
       "CREATE INDEX exam_notifications_due ON exam_notifications(next_attempt_ms)"
       "  WHERE status = 'pending';",
       // PostgreSQL: the row id from an identity column, 64-bit times.
       "CREATE TABLE exam_notifications ("
       "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, exam_id TEXT NOT NULL UNIQUE,"
       "  patient_id TEXT NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL,"
       "  subject TEXT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL,"
       "  attempts INTEGER NOT NULL, next_attempt_ms BIGINT NOT NULL, last_error TEXT NOT NULL,"
       "  created_ms BIGINT NOT NULL, finished_ms BIGINT NOT NULL);"
       "CREATE INDEX exam_notifications_due ON exam_notifications(next_attempt_ms)"
       "  WHERE status = 'pending';"},
      // Several instances on one PostgreSQL: who sends a row, until when (unused on SQLite).
      {"exam_notifications", 2, "claims: one sender per row across instances",
       "ALTER TABLE exam_notifications ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';"
       "ALTER TABLE exam_notifications ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;"},
  };
}

void notifications::on_enqueued(std::function<void()> f) {
  std::lock_guard<std::mutex> g{wake_mu_};
  on_enqueued_ = std::move(f);
}

bool notifications::enqueue_in(store::tx& t, const notification_request& r, int64_t now_ms) {
  auto via = channel_for(r.to);
  std::string address = via == channel::email ? r.to.email
                        : via == channel::sms ? r.to.cellphone
                                              : std::string{};
  auto text = render_message(r, settings_);
  bool deliverable = via != channel::none;
  int inserted =
      t.conn
          .prepare("INSERT INTO exam_notifications (exam_id, patient_id, channel, address, "
                   "subject, text, status, attempts, next_attempt_ms, last_error, created_ms, "
                   "finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) "
                   "ON CONFLICT(exam_id) DO NOTHING")
          .bind_all(r.exam_id, r.patient_id, to_string(via),
                    deliverable ? crypto::seal(key_, address, r.exam_id) : std::string{},
                    text.subject, text.text,
                    deliverable ? "pending" : "undeliverable", now_ms,
                    deliverable ? "" : "no verified e-mail address or cellphone",
                    now_ms, deliverable ? int64_t{0} : now_ms)
          .exec();
  if (inserted > 0 && deliverable) {
    std::lock_guard<std::mutex> g{wake_mu_};
    if (on_enqueued_) t.after_commit(on_enqueued_);
  }
  return inserted > 0;
}

notification notifications::read_row(store::query& q) const {
  notification n;
  n.id = q.int64(0);
  n.exam_id = q.text(1);
  n.patient_id = q.text(2);
  n.via = channel_from(q.text_view(3));
  auto sealed = q.text(4);
  if (!sealed.empty()) {
    auto opened = crypto::open(key_, sealed, n.exam_id);
    // A row sealed under another key cannot be sent; the attempt fails on the empty address.
    if (opened) n.address = std::move(*opened);
  }
  n.subject = q.text(5);
  n.text = q.text(6);
  n.status = status_from(q.text_view(7));
  n.attempts = static_cast<int>(q.int64(8));
  n.next_attempt_ms = q.int64(9);
  n.last_error = q.text(10);
  n.created_ms = q.int64(11);
  n.finished_ms = q.int64(12);
  return n;
}

std::vector<notification> notifications::due(int64_t now_ms, size_t max,
                                             const std::vector<int64_t>& skip) {
  if (db_.backend() == store::backend::postgres) return claim_due(now_ms, max, skip);
  std::vector<notification> out;
  auto r = db_.reader();
  auto q = r->prepare(std::string("SELECT ") + columns +
                      " FROM exam_notifications WHERE status = 'pending' AND "
                      "next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?");
  // The rows being sent are among the first ones: ask for enough to fill `max` past them.
  q.bind_all(now_ms, static_cast<int64_t>(max + skip.size()));
  while (q.step() && out.size() < max) {
    if (std::find(skip.begin(), skip.end(), q.int64(0)) != skip.end()) continue;
    out.push_back(read_row(q));
  }
  return out;
}

std::vector<notification> notifications::claim_due(int64_t now_ms, size_t max,
                                                   const std::vector<int64_t>& skip) {
  std::string ids;  // a bigint[] literal: {1,2,3}
  for (auto id : skip) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  auto out = db_.write().run([&](store::tx& t) {
    std::vector<notification> rows;
    auto q = t.conn.prepare(
        std::string("UPDATE exam_notifications SET claimed_by = ?, claimed_until = ? "
                    "WHERE id IN (SELECT id FROM exam_notifications WHERE status = 'pending' "
                    "AND next_attempt_ms <= ? AND (claimed_by = ? OR claimed_until <= ?) "
                    "AND NOT (id = ANY(?::bigint[])) ORDER BY next_attempt_ms, id LIMIT ? "
                    "FOR UPDATE SKIP LOCKED) RETURNING ") +
        columns);
    q.bind_all(settings_.holder, now_ms + settings_.claim_ms, now_ms, settings_.holder, now_ms,
               "{" + ids + "}", static_cast<int64_t>(max));
    while (q.step()) rows.push_back(read_row(q));
    return rows;
  });
  std::sort(out.begin(), out.end(), [](const notification& a, const notification& b) {
    return std::tie(a.next_attempt_ms, a.id) < std::tie(b.next_attempt_ms, b.id);
  });
  return out;
}

std::optional<int64_t> notifications::next_attempt_ms(const std::vector<int64_t>& skip) {
  auto r = db_.reader();
  auto q = r->prepare(store::sql(
      *r,
      "SELECT id, next_attempt_ms FROM exam_notifications WHERE status = 'pending' "
      "ORDER BY next_attempt_ms, id LIMIT ?",
      "SELECT id, CASE WHEN claimed_by = ? THEN next_attempt_ms "
      "ELSE GREATEST(next_attempt_ms, claimed_until) END AS at FROM exam_notifications "
      "WHERE status = 'pending' ORDER BY at, id LIMIT ?"));
  if (db_.backend() == store::backend::postgres)
    q.bind_all(settings_.holder, static_cast<int64_t>(skip.size() + 1));
  else
    q.bind_all(static_cast<int64_t>(skip.size() + 1));
  while (q.step())
    if (std::find(skip.begin(), skip.end(), q.int64(0)) == skip.end()) return q.int64(1);
  return std::nullopt;
}

notification_status notifications::record_attempt(int64_t id, const std::string& error,
                                                  bool permanent, int64_t now_ms) {
  return db_.write().run([&](store::tx& t) {
    auto q = t.conn.prepare(
        "SELECT attempts, status FROM exam_notifications WHERE id = ?");
    q.bind_all(id);
    if (!q.step()) throw std::runtime_error("no notification " + std::to_string(id));
    int attempts = static_cast<int>(q.int64(0)) + 1;
    auto current = status_from(q.text_view(1));
    q.reset();
    if (current != notification_status::pending) return current;  // recorded already
    if (error.empty()) {
      t.conn
          .prepare("UPDATE exam_notifications SET status = 'sent', attempts = ?, address = '', "
                   "last_error = '', finished_ms = ?, claimed_until = 0 WHERE id = ?")
          .bind_all(attempts, now_ms, id)
          .exec();
      return notification_status::sent;
    }
    auto next = next_attempt_after(attempts, permanent, now_ms, settings_);
    if (next) {
      t.conn
          .prepare("UPDATE exam_notifications SET attempts = ?, next_attempt_ms = ?, "
                   "last_error = ?, claimed_until = 0 WHERE id = ?")
          .bind_all(attempts, *next, error, id)
          .exec();
      return notification_status::pending;
    }
    t.conn
        .prepare("UPDATE exam_notifications SET status = 'failed', attempts = ?, address = '', "
                 "last_error = ?, finished_ms = ?, claimed_until = 0 WHERE id = ?")
        .bind_all(attempts, error, now_ms, id)
        .exec();
    return notification_status::failed;
  });
}

std::optional<notification> notifications::find_by_exam(const std::string& exam_id) {
  auto r = db_.reader();
  auto q = r->prepare(std::string("SELECT ") + columns +
                      " FROM exam_notifications WHERE exam_id = ?");
  q.bind_all(exam_id);
  if (!q.step()) return std::nullopt;
  return read_row(q);
}

notification_counts notifications::counts() {
  notification_counts c;
  auto r = db_.reader();
  auto q = r->prepare("SELECT status, COUNT(*) FROM exam_notifications GROUP BY status");
  while (q.step()) {
    switch (status_from(q.text_view(0))) {
      case notification_status::pending: c.pending = q.int64(1); break;
      case notification_status::sent: c.sent = q.int64(1); break;
      case notification_status::undeliverable: c.undeliverable = q.int64(1); break;
      case notification_status::failed: c.failed = q.int64(1); break;
    }
  }
  return c;
}

}  // namespace medflow::exams
