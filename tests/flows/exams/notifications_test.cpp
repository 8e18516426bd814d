// The notification outbox on a real SQLite file: channel choice, one row per exam, the sealed
// address, due rows, retries with backoff, permanent failures and attempts used up; and the
// delivery helpers (messages built, answers judged).
#include "flows/exams/delivery.hpp"
#include "flows/exams/notifications.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>

namespace {

using namespace medflow;
using namespace medflow::exams;

crypto::key256 test_key() {
  return *crypto::parse_key_hex(std::string(64, 'a'));
}

struct outbox_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db =
      test::open_database(dir.file("t.db"), {notifications::migrations()});
  notification_settings settings = [] {
    notification_settings s;
    s.max_attempts = 3;
    s.retry_initial_ms = 1000;
    s.retry_max_ms = 1500;
    return s;
  }();
  notifications outbox{*db, test_key(), settings};
  int wakes = 0;

  outbox_fixture() { outbox.on_enqueued([this] { ++wakes; }); }

  bool enqueue(const std::string& exam, contact c, int64_t now = 1000) {
    return db->write().run([&](store::tx& t) {
      return outbox.enqueue_in(t, {exam, "patient-" + exam, "Blood count", c}, now);
    });
  }
};

contact mail_ok() { return {"ana@example.org", true, "11987654321", true}; }
contact sms_only() { return {"ana@example.org", false, "11987654321", true}; }

}  // namespace

TEST_CASE("notifications: the channel is the verified e-mail, else the verified cellphone") {
  CHECK(channel_for(mail_ok()) == channel::email);
  CHECK(channel_for(sms_only()) == channel::sms);
  CHECK(channel_for({"a@b.c", false, "1", false}) == channel::none);
  CHECK(channel_for({"", true, "1", true}) == channel::sms);
  CHECK(channel_for({"a@b.c", false, "", true}) == channel::none);
}

TEST_CASE("notifications: one row per exam, woken after the commit, address sealed") {
  outbox_fixture f;
  CHECK(f.enqueue("e1", mail_ok()));
  CHECK(f.wakes == 1);
  CHECK_FALSE(f.enqueue("e1", sms_only()));  // the exam has its notification already
  CHECK(f.wakes == 1);
  auto n = f.outbox.find_by_exam("e1");
  REQUIRE(n);
  CHECK(n->via == channel::email);
  CHECK(n->address == "ana@example.org");
  CHECK(n->status == notification_status::pending);
  CHECK(n->text.find("Blood count") != std::string::npos);
  CHECK(n->text.find("e1") != std::string::npos);
  auto r = f.db->reader();
  auto q = r->prepare("SELECT address FROM exam_notifications WHERE exam_id = 'e1'");
  REQUIRE(q.step());
  CHECK(q.text(0).rfind("v1:", 0) == 0);
  CHECK(q.text(0).find("ana@") == std::string::npos);
}

TEST_CASE("notifications: a rolled-back transaction leaves no row and no wake-up") {
  outbox_fixture f;
  CHECK_THROWS(f.db->write().run([&](store::tx& t) {
    f.outbox.enqueue_in(t, {"e1", "p1", "", mail_ok()}, 1000);
    throw std::runtime_error("the exam's own write failed");
  }));
  CHECK_FALSE(f.outbox.find_by_exam("e1"));
  CHECK(f.wakes == 0);
}

TEST_CASE("notifications: without a verified contact the row is recorded as not deliverable") {
  outbox_fixture f;
  CHECK(f.enqueue("e1", {"a@b.c", false, "11987654321", false}));
  CHECK(f.wakes == 0);
  auto n = f.outbox.find_by_exam("e1");
  REQUIRE(n);
  CHECK(n->status == notification_status::undeliverable);
  CHECK(n->address.empty());
  CHECK(f.outbox.due(1'000'000, 10).empty());
  CHECK_FALSE(f.outbox.next_attempt_ms());
  CHECK(f.outbox.counts().undeliverable == 1);
}

TEST_CASE("notifications: due rows, skipping those being sent, and the next attempt time") {
  outbox_fixture f;
  f.enqueue("e1", mail_ok(), 1000);
  f.enqueue("e2", sms_only(), 2000);
  f.enqueue("e3", mail_ok(), 3000);
  CHECK(f.outbox.due(999, 10).empty());
  auto d = f.outbox.due(2500, 10);
  REQUIRE(d.size() == 2);
  CHECK(d[0].exam_id == "e1");
  CHECK(d[1].exam_id == "e2");
  CHECK(d[1].address == "11987654321");
  auto skipped = f.outbox.due(5000, 1, {d[0].id});
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].exam_id == "e2");
  CHECK(*f.outbox.next_attempt_ms() == 1000);
  CHECK(*f.outbox.next_attempt_ms({d[0].id}) == 2000);
}

TEST_CASE("notifications: retries back off, then fail once the attempts are used up") {
  outbox_fixture f;
  f.enqueue("e1", mail_ok(), 0);
  auto id = f.outbox.due(0, 1).at(0).id;
  CHECK(f.outbox.record_attempt(id, "smtp: timeout", false, 10'000) ==
        notification_status::pending);
  CHECK(*f.outbox.next_attempt_ms() == 11'000);
  CHECK(f.outbox.due(10'999, 10).empty());
  CHECK(f.outbox.record_attempt(id, "smtp: timeout", false, 11'000) ==
        notification_status::pending);
  CHECK(*f.outbox.next_attempt_ms() == 12'500);  // 2,000 capped at retry_max_ms
  CHECK(f.outbox.record_attempt(id, "smtp: timeout", false, 12'500) ==
        notification_status::failed);
  auto n = *f.outbox.find_by_exam("e1");
  CHECK(n.attempts == 3);
  CHECK(n.last_error == "smtp: timeout");
  CHECK(n.address.empty());
  CHECK_FALSE(f.outbox.next_attempt_ms());
  // A late answer for a finished row changes nothing.
  CHECK(f.outbox.record_attempt(id, "", false, 13'000) == notification_status::failed);
}

TEST_CASE("notifications: sent and permanent failures are final at once") {
  outbox_fixture f;
  f.enqueue("e1", mail_ok(), 0);
  f.enqueue("e2", mail_ok(), 0);
  auto d = f.outbox.due(0, 2);
  CHECK(f.outbox.record_attempt(d[0].id, "", false, 5) == notification_status::sent);
  CHECK(f.outbox.record_attempt(d[1].id, "smtp: smtp_rejected", true, 5) ==
        notification_status::failed);
  auto c = f.outbox.counts();
  CHECK(c.sent == 1);
  CHECK(c.failed == 1);
  CHECK(c.pending == 0);
  CHECK(f.outbox.find_by_exam("e1")->finished_ms == 5);
}

// Two instances on one PostgreSQL: two databases on the same store (two writers), each its
// own sender identity.
struct two_instances {
  test::temp_dir dir;
  std::unique_ptr<store::database> db_a =
      test::open_database(dir.file("t.db"), {notifications::migrations()});
  std::unique_ptr<store::database> db_b =
      test::open_database(dir.file("t.db"), {notifications::migrations()});
  static notification_settings as(const std::string& holder) {
    notification_settings s;
    s.claim_ms = 5000;
    s.holder = holder;
    return s;
  }
  notifications a{*db_a, test_key(), as("a")};
  notifications b{*db_b, test_key(), as("b")};

  void enqueue(int n, int64_t now) {
    db_a->write().run([&](store::tx& t) {
      for (int i = 0; i < n; ++i)
        a.enqueue_in(t, {"e" + std::to_string(i), "p", "", mail_ok()}, now);
    });
  }
};

TEST_CASE("notifications: two senders on one PostgreSQL never take the same row" *
          doctest::skip(!test::on_postgres())) {
  two_instances f;
  const int n = 300;
  f.enqueue(n, 0);
  std::vector<int64_t> got_a, got_b;
  auto sender = [](notifications& o, std::vector<int64_t>& got) {
    for (;;) {
      auto d = o.due(1000, 7, got);  // its own rows come back unless skipped (being sent)
      if (d.empty()) return;
      for (auto& r : d) got.push_back(r.id);
    }
  };
  std::thread ta(sender, std::ref(f.a), std::ref(got_a));
  std::thread tb(sender, std::ref(f.b), std::ref(got_b));
  ta.join();
  tb.join();
  std::set<int64_t> all(got_a.begin(), got_a.end());
  for (auto id : got_b) CHECK_MESSAGE(all.insert(id).second, "row ", id, " taken twice");
  CHECK(got_a.size() + got_b.size() == n);
  CHECK(all.size() == n);
  MESSAGE("a took ", got_a.size(), ", b took ", got_b.size());
  // Each sender sees its own rows again (its sender skips those in flight), never the other's.
  auto again = f.a.due(1000, n);
  CHECK(again.size() == got_a.size());
}

TEST_CASE("notifications: the rows of a sender that died are taken over after its claim" *
          doctest::skip(!test::on_postgres())) {
  two_instances f;
  f.enqueue(3, 0);
  auto claimed = f.a.due(1000, 10);  // a claims all three until 6000, then dies
  REQUIRE(claimed.size() == 3);
  CHECK(f.b.due(2000, 10).empty());
  CHECK(*f.b.next_attempt_ms() == 6000);  // when b may look again
  CHECK(*f.a.next_attempt_ms() == 0);     // a's own rows are due
  CHECK(f.b.due(5999, 10).empty());
  auto taken = f.b.due(6000, 10);         // the claim ended
  REQUIRE(taken.size() == 3);
  CHECK(taken[0].address == "ana@example.org");
  CHECK(f.a.due(6001, 10).empty());       // a, back, finds them b's (until 11000)
  CHECK(f.b.record_attempt(taken[0].id, "", false, 6100) == notification_status::sent);
  // A recorded attempt ends the claim: a retry is anyone's once due.
  CHECK(f.b.record_attempt(taken[1].id, "smtp: busy", false, 6100) ==
        notification_status::pending);
  auto retry = f.a.due(8000, 10);  // the retry (at 7100), not the third row (b's until 11000)
  CHECK(retry.size() == 1);
  CHECK(retry[0].id == taken[1].id);
  // A late record by the dead sender's attempt changes nothing: the row is final already.
  CHECK(f.a.record_attempt(taken[0].id, "smtp: timeout", false, 6200) ==
        notification_status::sent);
}

TEST_CASE("notifications: the backoff doubles up to its cap") {
  notification_settings s;
  s.max_attempts = 10;
  s.retry_initial_ms = 100;
  s.retry_max_ms = 1000;
  CHECK(*next_attempt_after(1, false, 0, s) == 100);
  CHECK(*next_attempt_after(2, false, 0, s) == 200);
  CHECK(*next_attempt_after(4, false, 0, s) == 800);
  CHECK(*next_attempt_after(5, false, 0, s) == 1000);
  CHECK(*next_attempt_after(9, false, 0, s) == 1000);
  CHECK_FALSE(next_attempt_after(10, false, 0, s));
  CHECK_FALSE(next_attempt_after(1, true, 0, s));
}

TEST_CASE("delivery: messages, and which failures are retried") {
  notification n;
  n.exam_id = "e1";
  n.address = "ana@example.org";
  n.subject = "Your exam result is ready";
  n.text = "Your exam e1 has its result ready.";
  auto m = mail_of(n, "results@zmed.test");
  CHECK(m.from == "results@zmed.test");
  CHECK(m.to == std::vector<std::string>{"ana@example.org"});
  CHECK(m.subject == n.subject);
  // The Message-ID is the exam's: a resend after a crash is the same message, another exam's is
  // not; letters and digits, as smtp::render requires.
  CHECK(m.id.size() == 32);
  CHECK(mail_of(n, "results@zmed.test").id == m.id);
  auto other = n;
  other.exam_id = "e2";
  CHECK(mail_of(other, "results@zmed.test").id != m.id);
  CHECK(smtp::render(m, 0, m.id).ok());
  n.address = "11987654321";
  auto r = sms_request_of(n, "http://127.0.0.1:9/sms", 3000);
  CHECK(r.method == "POST");
  CHECK(r.timeout_ms == 3000);
  auto body = nlohmann::json::parse(r.body);
  CHECK(body["to"] == "11987654321");
  CHECK(body["reference"] == "e1");

  CHECK(judge_mail(ok_status()).error.empty());
  CHECK(judge_mail(error{550, "smtp_rejected", "no such user", {}}).permanent);
  CHECK_FALSE(judge_mail(error{451, "smtp_rejected", "try later", {}}).permanent);
  CHECK_FALSE(judge_mail(error{0, "timeout", "", {}}).permanent);
  CHECK(judge_mail(error{0, "invalid_message", "", {}}).permanent);

  using outcome = net::http_client::response::outcome;
  net::http_client::response ok{outcome::ok, 202, "", "", 0};
  CHECK(judge_sms(ok).error.empty());
  CHECK(judge_sms({outcome::ok, 400, "", "", 0}).permanent);
  CHECK_FALSE(judge_sms({outcome::ok, 429, "", "", 0}).permanent);
  CHECK_FALSE(judge_sms({outcome::ok, 503, "", "", 0}).permanent);
  auto t = judge_sms({outcome::timeout, 0, "", "", 0});
  CHECK_FALSE(t.permanent);
  CHECK(t.error.find("timeout") != std::string::npos);
}
