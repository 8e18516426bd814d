// The results inbox over the real exams service: a result file's outcome becomes its folder,
// a processed result enqueues exactly one notification (in the transaction that records it),
// and repeats, forged tokens and revoked exams enqueue none.
#include "flows/exams/result_intake.hpp"

#include "exams_fixture.hpp"

#include <doctest/doctest.h>

namespace {

using namespace medflow;
using namespace medflow::test::exams_fx;

struct intake_fixture : fixture {
  std::shared_ptr<ex::notifications> outbox;
  ex::apply_fn intake;
  intake_fixture() {
    db->migrate(ex::notifications::migrations());
    outbox = std::make_shared<ex::notifications>(*db, *crypto::parse_key_hex(sealing_hex),
                                                 ex::notification_settings{});
    intake = ex::apply_with(*svc, ex::notify_on_result(outbox, [] { return int64_t{42}; }));
  }
  int64_t rows() { return outbox->counts().pending + outbox->counts().undeliverable; }
};

}  // namespace

TEST_CASE("result intake: outcomes map to their folders") {
  CHECK(ex::folder_of(ex::result_outcome::processed) == ex::folder::processed);
  CHECK(ex::folder_of(ex::result_outcome::stuck) == ex::folder::stuck);
  CHECK(ex::folder_of(ex::result_outcome::denied) == ex::folder::denied);
  CHECK(ex::folder_of(ex::result_outcome::deleted) == ex::folder::deleted);
}

TEST_CASE("result intake: a processed file enqueues one notification, a repeat none") {
  intake_fixture f;
  auto [exam_id, token] = f.started("doc-1");
  auto file = result_file(token, result_token(exam_id, "res-1"));
  auto to = f.intake("2026_12/a.json", file);
  REQUIRE(to.ok());
  CHECK(*to == ex::folder::processed);
  auto n = f.outbox->find_by_exam(exam_id);
  REQUIRE(n);
  CHECK(n->via == ex::channel::email);
  CHECK(n->address == "ana@example.org");
  CHECK(n->created_ms == 42);
  CHECK(n->text.find("Complete blood count") != std::string::npos);

  // The same file again (a restart after the record, before the move): the recorded outcome.
  auto again = f.intake("2026_12/a.json", file);
  REQUIRE(again.ok());
  CHECK(*again == ex::folder::processed);
  // Another file with the same result: stuck (already applied), and no second notification.
  auto copy = f.intake("2026_12/copy.json", file);
  REQUIRE(copy.ok());
  CHECK(*copy == ex::folder::stuck);
  CHECK(f.rows() == 1);
}

TEST_CASE("result intake: forged tokens and revoked exams enqueue nothing") {
  intake_fixture f;
  auto [exam_id, token] = f.started("doc-1");
  auto forged = result_file(token, result_token(exam_id, "res-1", 300, "not-the-key"));
  auto to = f.intake("2026_12/forged.json", forged);
  REQUIRE(to.ok());
  CHECK(*to == ex::folder::stuck);

  auto [exam2, token2] = f.started("doc-2");
  REQUIRE(f.revoke("doc-2", exam2).ok());
  auto del = f.intake("2026_12/revoked.json", result_file(token2, result_token(exam2, "res-2")));
  REQUIRE(del.ok());
  CHECK(*del == ex::folder::deleted);
  CHECK(f.rows() == 0);
}
