// The batch status machine: every status x action, with and without validation, by the owner and
// by another integrator; the fields each transition sets; the Batch JSON.
#include "flows/hri/domain.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
using hri::action;
using hri::status;

const int64_t created_ms = 1572438840000;  // 2019-10-30T12:34:00Z
const int64_t now_ms = 1572442440000;      // 2019-10-30T13:34:00Z

hri::batch sample(status s = status::started) {
  hri::batch b;
  b.id = "b1";
  b.tenant = "t1";
  b.name = "batch-1";
  b.integrator_id = "owner";
  b.topic = "ingest.t1.s1.in";
  b.data_type = "claims";
  b.st = s;
  b.start_ms = created_ms;
  b.status_changed_ms = created_ms;
  b.invalid_threshold = 10;
  b.metadata = {{"compression", "gzip"}};
  return b;
}

hri::principal caller(const std::string& sub) {
  return {sub, {"tenant_t1", "hri_data_integrator", "hri_internal"}, false};
}

hri::action_request request(action a) {
  hri::action_request r{a, {}, {}, {}, {}, {}};
  switch (a) {
    case action::send_complete:
      r.expected_record_count = 20;
      break;
    case action::terminate:
      break;
    case action::processing_complete:
      r.actual_record_count = 20;
      r.invalid_record_count = 2;
      break;
    case action::fail:
      r.actual_record_count = 7;
      r.invalid_record_count = 5;
      r.failure_message = "too bad";
      break;
  }
  return r;
}

const status all_statuses[] = {status::started, status::send_completed, status::completed,
                               status::failed, status::terminated};
const action all_actions[] = {action::send_complete, action::terminate, action::processing_complete,
                              action::fail};

// The status an action leads to from `from`, or nullopt when HRI answers 409.
std::optional<status> expected_target(action a, status from, bool validation) {
  switch (a) {
    case action::send_complete:
      if (from != status::started) return std::nullopt;
      return validation ? status::send_completed : status::completed;
    case action::terminate:
      if (from != status::started) return std::nullopt;
      return status::terminated;
    case action::processing_complete:
      if (from != status::send_completed) return std::nullopt;
      return status::completed;
    case action::fail:
      if (from == status::failed || from == status::terminated) return std::nullopt;
      return status::failed;
  }
  return std::nullopt;
}

std::string conflict_text(action a, status s) {
  const char* name = a == action::send_complete         ? "sendComplete"
                     : a == action::terminate           ? "terminate"
                     : a == action::processing_complete ? "processingComplete"
                                                        : "'fail'";
  return std::string(name) + " failed, batch is in '" + hri::status_name(s) + "' state";
}

}  // namespace

TEST_CASE("status and action names") {
  CHECK(std::string(hri::status_name(status::started)) == "started");
  CHECK(std::string(hri::status_name(status::send_completed)) == "sendCompleted");
  CHECK(std::string(hri::status_name(status::completed)) == "completed");
  CHECK(std::string(hri::status_name(status::failed)) == "failed");
  CHECK(std::string(hri::status_name(status::terminated)) == "terminated");
  for (status s : all_statuses) CHECK(hri::parse_status(hri::status_name(s)) == s);
  CHECK_FALSE(hri::parse_status("unknown"));
  CHECK_FALSE(hri::parse_status("Started"));
  CHECK(std::string(hri::action_name(action::send_complete)) == "sendComplete");
  CHECK(std::string(hri::action_name(action::terminate)) == "terminate");
  CHECK(std::string(hri::action_name(action::processing_complete)) == "processingComplete");
  CHECK(std::string(hri::action_name(action::fail)) == "fail");
}

TEST_CASE("status x action matrix: 200 / 409 / 401, with and without validation") {
  int checked = 0;
  for (bool validation : {false, true}) {
    for (status from : all_statuses) {
      for (action a : all_actions) {
        for (const std::string sub : {"owner", "other"}) {
          CAPTURE(validation);
          CAPTURE(hri::status_name(from));
          CAPTURE(hri::action_name(a));
          CAPTURE(sub);
          hri::batch b = sample(from);
          auto r = hri::apply_action(b, request(a), caller(sub), validation, now_ms);
          bool owned = a == action::send_complete || a == action::terminate;
          auto target = expected_target(a, from, validation);
          ++checked;
          if (owned && sub != "owner") {
            // Ownership is checked before the state.
            REQUIRE_FALSE(r.ok());
            CHECK(r.err().status == 401);
            CHECK(r.err().code == "unauthorized");
            CHECK(r.err().message ==
                  std::string(hri::action_name(a)) + " requested by 'other' but owned by 'owner'");
          } else if (!target) {
            REQUIRE_FALSE(r.ok());
            CHECK(r.err().status == 409);
            CHECK(r.err().message == conflict_text(a, from));
          } else {
            REQUIRE(r.ok());
            CHECK(r->st == *target);
            CHECK(r->status_changed_ms == now_ms);
          }
        }
      }
    }
  }
  CHECK(checked == 80);
}

TEST_CASE("the 409 texts HRI's e2e tests quote") {
  auto p = caller("owner");
  auto err = [&](status s, action a) {
    return hri::apply_action(sample(s), request(a), p, true, now_ms).err().message;
  };
  CHECK(err(status::terminated, action::send_complete) ==
        "sendComplete failed, batch is in 'terminated' state");
  CHECK(err(status::completed, action::terminate) ==
        "terminate failed, batch is in 'completed' state");
  CHECK(err(status::started, action::processing_complete) ==
        "processingComplete failed, batch is in 'started' state");
  CHECK(err(status::failed, action::fail) == "'fail' failed, batch is in 'failed' state");
  CHECK(err(status::send_completed, action::send_complete) ==
        "sendComplete failed, batch is in 'sendCompleted' state");
}

TEST_CASE("fields set by each transition") {
  auto owner = caller("owner");
  SUBCASE("sendComplete with validation: sendCompleted, expected count, no endDate") {
    auto r = hri::apply_action(sample(), request(action::send_complete), owner, true, now_ms);
    REQUIRE(r.ok());
    CHECK(r->st == status::send_completed);
    CHECK(r->expected_record_count == 20);
    CHECK_FALSE(r->end_ms);
    CHECK(r->metadata == hri::json({{"compression", "gzip"}}));  // kept when not given
  }
  SUBCASE("sendComplete without validation: completed with endDate") {
    auto r = hri::apply_action(sample(), request(action::send_complete), owner, false, now_ms);
    CHECK(r->st == status::completed);
    CHECK(r->expected_record_count == 20);
    CHECK(r->end_ms == now_ms);
    CHECK_FALSE(r->actual_record_count);
  }
  SUBCASE("sendComplete and terminate replace metadata as a whole") {
    auto req = request(action::send_complete);
    req.metadata = {{"rspec1", "x"}};
    auto r = hri::apply_action(sample(), req, owner, true, now_ms);
    CHECK(r->metadata == hri::json({{"rspec1", "x"}}));
    auto t = request(action::terminate);
    t.metadata = hri::json::object();
    auto r2 = hri::apply_action(sample(), t, owner, true, now_ms);
    CHECK(r2->metadata == hri::json::object());
  }
  SUBCASE("terminate: terminated with endDate") {
    auto r = hri::apply_action(sample(), request(action::terminate), owner, true, now_ms);
    CHECK(r->st == status::terminated);
    CHECK(r->end_ms == now_ms);
    CHECK_FALSE(r->expected_record_count);
  }
  SUBCASE("processingComplete: completed with counts and endDate, by any internal caller") {
    auto b = sample(status::send_completed);
    b.expected_record_count = 20;
    auto r =
        hri::apply_action(b, request(action::processing_complete), caller("flink"), true, now_ms);
    REQUIRE(r.ok());
    CHECK(r->st == status::completed);
    CHECK(r->actual_record_count == 20);
    CHECK(r->invalid_record_count == 2);
    CHECK(r->end_ms == now_ms);
    CHECK(r->expected_record_count == 20);
    CHECK_FALSE(r->failure_message);
  }
  SUBCASE("fail: failed with counts, message and endDate, also from completed") {
    for (status s : {status::started, status::send_completed, status::completed}) {
      auto r = hri::apply_action(sample(s), request(action::fail), caller("flink"), false, now_ms);
      REQUIRE(r.ok());
      CHECK(r->st == status::failed);
      CHECK(r->actual_record_count == 7);
      CHECK(r->invalid_record_count == 5);
      CHECK(r->failure_message == "too bad");
      CHECK(r->end_ms == now_ms);
    }
  }
  SUBCASE("auth disabled: no ownership check") {
    hri::principal none{"", {}, true};
    auto r = hri::apply_action(sample(), request(action::terminate), none, true, now_ms);
    CHECK(r.ok());
  }
  SUBCASE("the tracking counts survive a transition") {
    auto b = sample();
    b.valid_count = 3;
    b.invalid_count = 1;
    auto r = hri::apply_action(b, request(action::send_complete), owner, true, now_ms);
    CHECK(r->valid_count == 3);
    CHECK(r->invalid_count == 1);
  }
}

TEST_CASE("to_json: a started batch, keys in alphabetical order") {
  CHECK(hri::to_json(sample()).dump() ==
        R"({"dataType":"claims","id":"b1","integratorId":"owner","invalidThreshold":10,)"
        R"("metadata":{"compression":"gzip"},"name":"batch-1","startDate":"2019-10-30T12:34:00Z",)"
        R"("status":"started","topic":"ingest.t1.s1.in"})");
}

TEST_CASE("to_json: every field, recordCount mirrored, tracking fields left out") {
  auto b = sample(status::failed);
  b.start_ms = created_ms + 999;  // seconds only, like HRI's format
  b.end_ms = now_ms;
  b.expected_record_count = 20;
  b.actual_record_count = 21;
  b.invalid_record_count = 3;
  b.failure_message = "Failing batch: b1, received too many records";
  b.valid_count = 18;
  b.invalid_count = 3;
  b.metadata = {{"z", 1}, {"a", {{"y", true}, {"b", nullptr}}}};
  CHECK(hri::to_json(b).dump() ==
        R"({"actualRecordCount":21,"dataType":"claims","endDate":"2019-10-30T13:34:00Z",)"
        R"("expectedRecordCount":20,"failureMessage":"Failing batch: b1, received too many )"
        R"(records","id":"b1","integratorId":"owner","invalidRecordCount":3,)"
        R"("invalidThreshold":10,"metadata":{"a":{"b":null,"y":true},"z":1},"name":"batch-1",)"
        R"("recordCount":20,"startDate":"2019-10-30T12:34:00Z","status":"failed",)"
        R"("topic":"ingest.t1.s1.in"})");
}

TEST_CASE("to_json: absent fields are omitted, -1 threshold kept") {
  auto b = sample(status::send_completed);
  b.metadata = nullptr;
  b.invalid_threshold = -1;
  b.expected_record_count = 0;
  auto j = hri::to_json(b);
  CHECK_FALSE(j.contains("metadata"));
  CHECK_FALSE(j.contains("endDate"));
  CHECK_FALSE(j.contains("actualRecordCount"));
  CHECK_FALSE(j.contains("invalidRecordCount"));
  CHECK_FALSE(j.contains("failureMessage"));
  CHECK_FALSE(j.contains("validCount"));
  CHECK_FALSE(j.contains("tenant"));
  CHECK(j["invalidThreshold"] == -1);
  CHECK(j["expectedRecordCount"] == 0);
  CHECK(j["recordCount"] == 0);
  CHECK(j["status"] == "sendCompleted");
  CHECK(j.size() == 10);
}
