// notification_sender on the deterministic scheduler, with a real outbox (SQLite in a temp
// directory) and the transports faked: e-mail sent once and recorded, retries at the backoff
// time and not before, a permanent refusal, SMS in flight never taken twice, no timer left when
// nothing is pending (idle costs nothing), rows left by an earlier run sent at start, and a
// drain that waits for the SMS answers.
#include "actors/exams/notification_sender.hpp"

#include "support/actor_fixture.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

struct sender_fixture : test::actor_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db =
      test::open_database(dir.file("t.db"), {exams::notifications::migrations()});
  std::shared_ptr<exams::notifications> outbox;
  int64_t now = 1'000'000;  // virtual wall clock, moved with the scheduler's
  std::vector<smtp::message> mails;
  std::vector<status> mail_answers;  // consumed in order; ok once empty
  std::vector<std::pair<net::http_client::request,
                        std::function<void(net::http_client::response)>>> sms_calls;
  caf::actor sender;

  sender_fixture() {
    exams::notification_settings s;
    s.max_attempts = 3;
    s.retry_initial_ms = 1000;
    s.retry_max_ms = 10000;
    outbox = std::make_shared<exams::notifications>(*db, *crypto::parse_key_hex(std::string(64, 'b')), s);
  }
  // The outbox's wake-up holds the sender and the sender the outbox: break that cycle and end
  // the sender, or LeakSanitizer reports both.
  ~sender_fixture() {
    outbox->on_enqueued({});
    if (sender) {
      caf::anon_send_exit(sender, caf::exit_reason::kill);
      run();
    }
  }

  int64_t idle_poll_ms = 0;
  void start(bool wake_on_enqueue = true) {
    notification_transports t;
    t.send_mail = [this](const smtp::message& m) -> status {
      mails.push_back(m);
      if (mail_answers.empty()) return ok_status();
      auto a = mail_answers.front();
      mail_answers.erase(mail_answers.begin());
      return a;
    };
    t.call = [this](net::http_client::request r, std::function<void(net::http_client::response)> d) {
      sms_calls.emplace_back(std::move(r), std::move(d));
    };
    sender_settings ss;
    ss.mail_from = "results@zmed.test";
    ss.sms_url = "http://127.0.0.1:9/sms";
    ss.now = [this] { return now; };
    ss.idle_poll_ms = idle_poll_ms;
    sender = sys->spawn(notification_sender, outbox, t, ss);
    if (wake_on_enqueue) {
      auto s = sender;
      outbox->on_enqueued([s] { caf::anon_send(s, wake_atom::value); });
    }
    run();
  }

  void enqueue(const std::string& exam, bool email) {
    exams::contact c{"ana@example.org", email, "11987654321", true};
    db->write().run([&](store::tx& t) { outbox->enqueue_in(t, {exam, "p-" + exam, "", c}, now); });
    run();
  }
  void later(std::chrono::milliseconds d) {
    now += d.count();
    advance(d);
  }
  bool idle_timer_free() const { return sched->clock().schedule().empty(); }
  exams::notification row(const std::string& exam) { return *outbox->find_by_exam(exam); }
};

net::http_client::response answer(int status) {
  return {net::http_client::response::outcome::ok, status, "", "", 0};
}

}  // namespace

TEST_CASE("notification_sender: an e-mail is sent once, after the commit woke it") {
  sender_fixture f;
  f.start();
  f.enqueue("e1", true);
  REQUIRE(f.mails.size() == 1);
  CHECK(f.mails[0].to == std::vector<std::string>{"ana@example.org"});
  CHECK(f.mails[0].from == "results@zmed.test");
  CHECK(f.row("e1").status == exams::notification_status::sent);
  caf::anon_send(f.sender, wake_atom::value);
  f.run();
  CHECK(f.mails.size() == 1);
  CHECK(f.idle_timer_free());
}

TEST_CASE("notification_sender: with idle_poll_ms it looks for rows it was not woken for") {
  sender_fixture f;
  f.idle_poll_ms = 60000;
  f.start(false);  // nothing wakes it: rows another instance left behind, say
  CHECK_FALSE(f.idle_timer_free());
  f.enqueue("e1", true);
  CHECK(f.mails.empty());
  f.later(59999ms);
  CHECK(f.mails.empty());
  f.later(1ms);
  REQUIRE(f.mails.size() == 1);
  CHECK(f.row("e1").status == exams::notification_status::sent);
  CHECK_FALSE(f.idle_timer_free());  // and it keeps looking
}

TEST_CASE("notification_sender: a failed attempt is retried at its backoff time, not before") {
  sender_fixture f;
  f.mail_answers = {error{0, "connect_failed", "refused", {}}, error{451, "smtp_rejected", "", {}}};
  f.start();
  f.enqueue("e1", true);
  CHECK(f.mails.size() == 1);
  CHECK(f.row("e1").status == exams::notification_status::pending);
  CHECK_FALSE(f.idle_timer_free());
  f.later(999ms);
  CHECK(f.mails.size() == 1);
  f.later(1ms);
  CHECK(f.mails.size() == 2);  // refused again (451): next in 2 s
  f.later(1999ms);
  CHECK(f.mails.size() == 2);
  f.later(1ms);
  CHECK(f.mails.size() == 3);
  CHECK(f.row("e1").status == exams::notification_status::sent);
  CHECK(f.row("e1").attempts == 3);
  CHECK(f.idle_timer_free());
}

TEST_CASE("notification_sender: a permanent refusal is final, the attempts are capped") {
  sender_fixture f;
  f.mail_answers = {error{550, "smtp_rejected", "no such user", {}}};
  f.start();
  f.enqueue("e1", true);
  CHECK(f.row("e1").status == exams::notification_status::failed);
  CHECK(f.idle_timer_free());

  f.mail_answers.assign(5, error{0, "timeout", "", {}});
  f.enqueue("e2", true);
  f.later(1000ms);
  f.later(2000ms);
  f.later(10000ms);
  CHECK(f.row("e2").status == exams::notification_status::failed);
  CHECK(f.row("e2").attempts == 3);
  CHECK(f.mails.size() == 4);
  CHECK(f.idle_timer_free());
}

TEST_CASE("notification_sender: an SMS in flight is not taken again; its answer is recorded") {
  sender_fixture f;
  f.start();
  f.enqueue("e1", false);
  REQUIRE(f.sms_calls.size() == 1);
  CHECK(f.sms_calls[0].first.url == "http://127.0.0.1:9/sms");
  CHECK(nlohmann::json::parse(f.sms_calls[0].first.body)["to"] == "11987654321");
  f.enqueue("e2", false);  // wakes it while e1 is in flight
  f.later(5000ms);
  CHECK(f.sms_calls.size() == 2);
  f.sms_calls[0].second(answer(503));
  f.run();
  CHECK(f.row("e1").status == exams::notification_status::pending);
  f.sms_calls[1].second(answer(202));
  f.run();
  CHECK(f.row("e2").status == exams::notification_status::sent);
  f.later(1000ms);
  REQUIRE(f.sms_calls.size() == 3);
  f.sms_calls[2].second(answer(200));
  f.run();
  CHECK(f.row("e1").status == exams::notification_status::sent);
  CHECK(f.idle_timer_free());
}

TEST_CASE("notification_sender: rows left by an earlier run are sent at start") {
  sender_fixture f;
  f.enqueue("e1", true);  // no sender yet (medflowd died after the commit)
  f.enqueue("e2", true);
  f.start();
  CHECK(f.mails.size() == 2);
  CHECK(f.outbox->counts().sent == 2);
}

TEST_CASE("notification_sender: drain waits for the SMS answers in flight") {
  sender_fixture f;
  f.start();
  auto rec = f.watch(f.sender);
  f.enqueue("e1", false);
  caf::anon_send(f.sender, drain_atom::value);
  f.run();
  CHECK_FALSE(rec->exited);
  f.sms_calls.at(0).second(answer(200));
  f.run();
  CHECK(rec->exited);
  CHECK(f.row("e1").status == exams::notification_status::sent);
}

TEST_CASE("notification_sender: e-mails go one per message, so a drain does not wait for all") {
  sender_fixture f;
  for (int i = 0; i < 3; ++i) f.enqueue("e" + std::to_string(i), true);
  caf::actor sender;
  notification_transports t;
  int sent = 0;
  // medflowd is asked to stop while the first e-mail is being sent.
  t.send_mail = [&sent, &sender](const smtp::message&) -> status {
    if (++sent == 1) caf::anon_send(sender, drain_atom::value);
    return ok_status();
  };
  sender_settings ss;
  ss.now = [&f] { return f.now; };
  sender = f.sys->spawn(notification_sender, f.outbox, t, ss);
  auto rec = f.watch(sender);
  CHECK(rec->exited);
  CHECK(sent == 1);
  CHECK(f.outbox->counts().sent == 1);
  CHECK(f.outbox->counts().pending == 2);  // for the next start
}
