// The validation job's decisions: what happens to a record, and when a batch completes or fails.
#include "flows/hri/domain.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
using hri::fate;
using hri::status;
using kind = hri::tracker_decision::kind;

const int64_t t0 = 1600000000000;
const int64_t delay = 300000;

hri::batch tracked(status s, int64_t expected = 10, int64_t threshold = -1) {
  hri::batch b;
  b.id = "b1";
  b.st = s;
  b.invalid_threshold = threshold;
  if (s != status::started) b.expected_record_count = expected;
  b.status_changed_ms = t0;
  return b;
}

// Counts one record the way the batch actor does (classify, then count).
void count(hri::batch& b, bool valid) {
  auto d = hri::classify(true, &b, valid ? std::nullopt : std::optional<std::string>("bad"));
  REQUIRE(d.counted);
  (valid ? b.valid_count : b.invalid_count) += 1;
}

// Applies a decision's call to the batch, as the management API would.
hri::batch apply(const hri::batch& b, const hri::tracker_decision& d, int64_t now) {
  auto r = hri::apply_action(b, hri::decision_request(b, d), {"flink", {}, false}, true, now);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("classify: headers, unknown batches and every status") {
  auto no_header = hri::classify(false, nullptr, std::nullopt);
  CHECK(no_header.f == fate::invalid);
  CHECK_FALSE(no_header.counted);
  CHECK(no_header.failure == "Bad Message - No header or batchId node");
  hri::batch started = tracked(status::started);
  CHECK(hri::classify(false, &started, std::nullopt).failure ==
        "Bad Message - No header or batchId node");
  auto unknown = hri::classify(true, nullptr, std::nullopt);
  CHECK(unknown.f == fate::invalid);
  CHECK_FALSE(unknown.counted);
  CHECK(unknown.failure == "Bad Message - Unknown batchId");
  for (status s : {status::started, status::send_completed}) {
    hri::batch b = tracked(s);
    auto ok = hri::classify(true, &b, std::nullopt);
    CHECK(ok.f == fate::forward);
    CHECK(ok.counted);
    CHECK(ok.failure.empty());
    auto bad = hri::classify(true, &b, std::string("resourceType is missing"));
    CHECK(bad.f == fate::invalid);
    CHECK(bad.counted);
    CHECK(bad.failure == "resourceType is missing");
  }
  for (status s : {status::terminated, status::failed}) {
    hri::batch b = tracked(s);
    auto d = hri::classify(true, &b, std::string("ignored"));
    CHECK(d.f == fate::dropped);
    CHECK_FALSE(d.counted);
  }
  hri::batch done = tracked(status::completed);
  auto late = hri::classify(true, &done, std::nullopt);
  CHECK(late.f == fate::invalid);
  CHECK_FALSE(late.counted);
  CHECK(late.failure == "Bad Message - batchId is already completed");
}

TEST_CASE("threshold: reaching it fails the batch, even while started, and only once") {
  hri::batch b = tracked(status::started, 0, 3);
  count(b, false);
  count(b, false);
  CHECK(hri::track(b, delay, 0, t0).k == kind::none);
  count(b, true);
  CHECK(hri::track(b, delay, 0, t0).k == kind::none);
  count(b, false);
  auto d = hri::track(b, delay, 0, t0 + 5);
  REQUIRE(d.k == kind::fail);
  CHECK(d.failure_message ==
        "Failing Batch: b1, too many invalid records invalidCount: 3 == invalidThreshold: 3");
  auto req = hri::decision_request(b, d);
  CHECK(req.a == hri::action::fail);
  CHECK(req.actual_record_count == 4);
  CHECK(req.invalid_record_count == 3);
  CHECK(req.failure_message == d.failure_message);
  b = apply(b, d, t0 + 5);
  CHECK(b.st == status::failed);
  CHECK(hri::track(b, delay, 0, t0 + 6).k == kind::none);
  // Records for the failed batch are dropped and never counted again.
  CHECK(hri::classify(true, &b, std::nullopt).f == fate::dropped);
}

TEST_CASE("threshold: checked first in sendCompleted; -1 means none") {
  hri::batch b = tracked(status::send_completed, 2, 1);
  count(b, false);
  count(b, true);  // count == expected, but the threshold wins
  CHECK(hri::track(b, delay, 0, t0 + delay).k == kind::fail);
  hri::batch none = tracked(status::send_completed, 5, -1);
  for (int i = 0; i < 4; ++i) count(none, false);
  CHECK(hri::track(none, delay, 0, t0).k == kind::none);
}

TEST_CASE("completion: after the delay counted from the status change") {
  hri::batch b = tracked(status::send_completed, 2);
  count(b, true);
  CHECK(hri::track(b, delay, 0, t0 + 1).k == kind::none);
  CHECK(hri::next_check_ms(b, delay, 0) == std::nullopt);
  count(b, false);
  auto at = hri::track(b, delay, 0, t0 + 10);
  CHECK(at.k == kind::complete_at);
  CHECK(at.at_ms == t0 + delay);
  CHECK(hri::next_check_ms(b, delay, 0) == t0 + delay);
  CHECK(hri::track(b, delay, 0, t0 + delay - 1).k == kind::complete_at);
  auto now = hri::track(b, delay, 0, t0 + delay);
  REQUIRE(now.k == kind::complete_now);
  auto req = hri::decision_request(b, now);
  CHECK(req.a == hri::action::processing_complete);
  CHECK(req.actual_record_count == 2);
  CHECK(req.invalid_record_count == 1);
  CHECK_FALSE(req.failure_message);
  b = apply(b, now, t0 + delay);
  CHECK(b.st == status::completed);
  CHECK(b.actual_record_count == 2);
  CHECK(b.invalid_record_count == 1);
  CHECK(hri::track(b, delay, 0, t0 + delay + 1).k == kind::none);
  CHECK(hri::next_check_ms(b, delay, 0) == std::nullopt);
}

TEST_CASE("completion: zero expected records completes after the delay") {
  hri::batch b = tracked(status::send_completed, 0);
  CHECK(hri::track(b, delay, 0, t0).k == kind::complete_at);
  CHECK(hri::track(b, delay, 0, t0 + delay).k == kind::complete_now);
}

TEST_CASE("too many records: the first extra record after sendComplete fails the batch") {
  hri::batch b = tracked(status::send_completed, 2);
  count(b, true);
  count(b, true);
  CHECK(hri::track(b, delay, 0, t0 + 1).k == kind::complete_at);
  count(b, true);  // within the completion delay
  auto d = hri::track(b, delay, 0, t0 + 2);
  REQUIRE(d.k == kind::fail);
  CHECK(d.failure_message ==
        "Failing batch: b1, received too many records, actualRecordCount: 3 > "
        "expectedRecordCount: 2");
  CHECK(hri::next_check_ms(b, delay, 0) == std::nullopt);
}

TEST_CASE("too many records: records already there when sendCompleted arrives") {
  hri::batch b = tracked(status::started);
  for (int i = 0; i < 5; ++i) count(b, true);
  CHECK(hri::track(b, delay, 0, t0).k == kind::none);  // started: no expectation yet
  b = *hri::apply_action(b, {hri::action::send_complete, 3, {}, {}, {}, {}}, {"owner", {}, true},
                         true, t0 + 100);
  auto d = hri::track(b, delay, 0, t0 + 100);
  REQUIRE(d.k == kind::fail);
  CHECK(d.failure_message ==
        "Failing batch: b1, received too many records, actualRecordCount: 5 > "
        "expectedRecordCount: 3");
}

TEST_CASE("fewer records: waits forever without a stuck timeout") {
  hri::batch b = tracked(status::send_completed, 3);
  count(b, true);
  CHECK(hri::track(b, delay, 0, t0 + 1000LL * 86400000).k == kind::none);
  CHECK(hri::next_check_ms(b, delay, 0) == std::nullopt);
}

TEST_CASE("fewer records: medflow's stuck timeout fails the batch") {
  const int64_t stuck = 3600000;
  hri::batch b = tracked(status::send_completed, 3);
  count(b, true);
  count(b, false);
  CHECK(hri::next_check_ms(b, delay, stuck) == t0 + stuck);
  CHECK(hri::track(b, delay, stuck, t0 + stuck - 1).k == kind::none);
  auto d = hri::track(b, delay, stuck, t0 + stuck);
  REQUIRE(d.k == kind::fail);
  CHECK(d.failure_message ==
        "Failing batch: b1, only 2 of 3 expected records arrived within 3600000 ms after "
        "sendComplete");
  b = apply(b, d, t0 + stuck);
  CHECK(b.st == status::failed);
  CHECK(b.actual_record_count == 2);
  CHECK(b.invalid_record_count == 1);
  CHECK(hri::track(b, delay, stuck, t0 + 2 * stuck).k == kind::none);
  // A started batch is never stuck: only sendComplete sets an expectation.
  hri::batch open = tracked(status::started);
  CHECK(hri::track(open, delay, stuck, t0 + 10 * stuck).k == kind::none);
  CHECK(hri::next_check_ms(open, delay, stuck) == std::nullopt);
}

TEST_CASE("terminal statuses never produce a decision") {
  for (status s : {status::completed, status::failed, status::terminated}) {
    hri::batch b = tracked(s, 1, 1);
    b.invalid_count = 5;
    b.valid_count = 5;
    CHECK(hri::track(b, delay, 1, t0 + 10 * delay).k == kind::none);
    CHECK(hri::next_check_ms(b, delay, 1) == std::nullopt);
  }
}
