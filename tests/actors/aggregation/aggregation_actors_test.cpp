// The aggregation flow's actors on the deterministic scheduler: the aggregator answers exactly
// once (all reported, or the aggregate timeout), with one record per expected source; the
// splitter with no calls; a source worker served from a fresh cached answer makes no call; a
// lookup's step runs on the scheduler, not in the thread that hands it over.
#include "actors/aggregation/aggregator.hpp"
#include "actors/aggregation/lookup.hpp"
#include "actors/aggregation/source_worker.hpp"
#include "actors/aggregation/splitter.hpp"
#include "core/clock.hpp"

#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;
namespace ag = medflow::flows::aggregation;
using nlohmann::json;

namespace {

struct replies {
  std::vector<json> answers;
  std::vector<int64_t> slowest_us;
};

// A fan-out of `n` calls SRC-1..SRC-n; the HTTP client is null: a call would crash the test.
std::shared_ptr<fan_out> job_of(size_t n, ag::timeouts limits, std::shared_ptr<replies> out,
                                ag::answer_cache* cache = nullptr) {
  auto def = std::make_shared<ag::service_definition>();
  def->name = "GetThings";
  def->list_field = "things";
  def->limits = limits;
  auto job = std::make_shared<fan_out>();
  job->service = def;
  for (size_t i = 1; i <= n; ++i) {
    auto a = "SRC-" + std::to_string(i);
    job->calls.push_back({a, a, "http://127.0.0.1:1/" + a});
  }
  job->request_body = R"({"patientId":"p"})";
  job->cache = cache;
  job->reply = [out](json answer, int64_t slowest) {
    out->answers.push_back(std::move(answer));
    out->slowest_us.push_back(slowest);
  };
  return job;
}

ag::source_result answered(json items, int64_t elapsed_us) {
  ag::source_result r;
  r.k = ag::source_result::kind::answered;
  r.items = std::move(items);
  r.elapsed_us = elapsed_us;
  return r;
}

std::vector<std::string> status_codes(const json& answer) {
  std::vector<std::string> out;
  for (auto& rec : answer.at("processingStatus")) out.push_back(rec.at("statusCode"));
  return out;
}

const ag::timeouts usual{4000, 4500, 5000};       // aggregate after every per-call timeout
const ag::timeouts short_aggregate{4000, 1000, 5000};  // aggregate first: a timer is needed

}  // namespace

TEST_CASE_FIXTURE(test::actor_fixture, "aggregator: answers once when every source reported") {
  auto out = std::make_shared<replies>();
  auto job = job_of(3, usual, out);
  auto agg = sys->spawn(aggregator, job);
  auto gone = watch(agg);
  run();
  caf::anon_send(agg, source_done_atom::value, size_t{2}, answered(json::array({"c"}), 300));
  caf::anon_send(agg, source_done_atom::value, size_t{0}, answered(json::array({"a1", "a2"}), 100));
  run();
  CHECK(out->answers.empty());
  caf::anon_send(agg, source_done_atom::value, size_t{1}, answered(json::array(), 200));
  run();
  REQUIRE(out->answers.size() == 1);
  CHECK(gone->exited);
  // The list in the request list's order, not in the order the answers came.
  CHECK(out->answers[0].at("things") == json::array({"a1", "a2", "c"}));
  CHECK(status_codes(out->answers[0]) ==
        std::vector<std::string>{"DataFromSource", "DataFromSource", "DataFromSource"});
  CHECK(out->answers[0]["processingStatus"][1]["logicalAddress"] == "SRC-2");
  CHECK(out->slowest_us[0] == 300);
  // No timer was armed (the per-call timeouts end every call first): time passing adds nothing.
  advance(10s);
  CHECK(out->answers.size() == 1);
}

TEST_CASE_FIXTURE(test::actor_fixture, "aggregator: a second report of one source is ignored") {
  auto out = std::make_shared<replies>();
  auto agg = sys->spawn(aggregator, job_of(2, usual, out));
  run();
  caf::anon_send(agg, source_done_atom::value, size_t{0}, answered(json::array({"x"}), 10));
  caf::anon_send(agg, source_done_atom::value, size_t{0}, answered(json::array({"y"}), 10));
  caf::anon_send(agg, source_done_atom::value, size_t{7}, answered(json::array({"z"}), 10));
  run();
  CHECK(out->answers.empty());  // source 1 has not reported yet
  caf::anon_send(agg, source_done_atom::value, size_t{1}, answered(json::array(), 10));
  run();
  REQUIRE(out->answers.size() == 1);
  CHECK(out->answers[0].at("things") == json::array({"x"}));
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "aggregator: the aggregate timeout answers with a record for every source") {
  auto out = std::make_shared<replies>();
  auto agg = sys->spawn(aggregator, job_of(3, short_aggregate, out));
  auto gone = watch(agg);
  run();
  ag::source_result fault;
  fault.k = ag::source_result::kind::fault;
  fault.http_status = 500;
  fault.error_text = "boom";
  caf::anon_send(agg, source_done_atom::value, size_t{0}, answered(json::array({"a"}), 50));
  caf::anon_send(agg, source_done_atom::value, size_t{1}, std::move(fault));
  run();
  advance(999ms);
  CHECK(out->answers.empty());
  advance(1ms);
  REQUIRE(out->answers.size() == 1);
  CHECK(gone->exited);
  auto& a = out->answers[0];
  CHECK(a.at("things") == json::array({"a"}));
  CHECK(status_codes(a) ==
        std::vector<std::string>{"DataFromSource", "NoDataSynchFailed", "NoDataSynchFailed"});
  CHECK(a["processingStatus"][1]["lastUnsuccessfulSynchError"]["code"] == "500");
  CHECK(a["processingStatus"][2]["lastUnsuccessfulSynchError"]["text"] == "Unknown error");
  // The source still out reports late: the answer has gone, nothing more is sent.
  caf::anon_send(agg, source_done_atom::value, size_t{2}, answered(json::array({"late"}), 1500000));
  run();
  CHECK(out->answers.size() == 1);
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "aggregator: a cached source cut off by the aggregate timeout answers from "
                  "cache (DataFromCacheSynchFailed)") {
  ag::cache_settings cs;
  cs.enabled = true;
  cs.ttl_ms = 1000;
  cs.stale_ms = 600000;
  ag::answer_cache cache{cs};
  auto out = std::make_shared<replies>();
  auto job = job_of(3, short_aggregate, out, &cache);
  // SRC-2 and SRC-3 answered a minute ago (past the TTL, so they were called again); SRC-1
  // never did.
  auto stored = clock::now_ms() - 60000;
  for (auto* a : {"SRC-2", "SRC-3"})
    cache.put(ag::answer_cache::key("GetThings", a, job->request_body),
              json::array({std::string("cached-") + a}), stored);
  auto agg = sys->spawn(aggregator, job);
  run();
  caf::anon_send(agg, source_done_atom::value, size_t{2}, answered(json::array({"fresh-3"}), 40));
  run();
  advance(1000ms);  // SRC-1 and SRC-2 are still out
  REQUIRE(out->answers.size() == 1);
  auto& a = out->answers[0];
  CHECK(status_codes(a) == std::vector<std::string>{"NoDataSynchFailed",
                                                    "DataFromCacheSynchFailed", "DataFromSource"});
  CHECK(a.at("things") == json::array({"cached-SRC-2", "fresh-3"}));
  auto& rec = a["processingStatus"][1];
  CHECK(rec["isResponseFromCache"] == true);
  CHECK(rec["isResponseInSynch"] == false);
  CHECK(rec["lastSuccessfulSynch"] == clock::compact_local_ts(stored));
  CHECK(rec["lastUnsuccessfulSynchError"]["code"] == "43000");
  CHECK(a["processingStatus"][0]["lastUnsuccessfulSynchError"]["text"] == "Unknown error");
}

TEST_CASE_FIXTURE(test::actor_fixture, "splitter: no source to call answers at once, empty") {
  auto out = std::make_shared<replies>();
  sys->spawn(splitter, job_of(0, usual, out));
  run();
  REQUIRE(out->answers.size() == 1);
  CHECK(out->answers[0].at("things") == json::array());
  CHECK(out->answers[0].at("processingStatus") == json::array());
  CHECK(out->slowest_us[0] == 0);
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "source worker: a fresh cached answer is DataFromCache and makes no call") {
  ag::cache_settings cs;
  cs.enabled = true;
  cs.ttl_ms = 60000;
  ag::answer_cache cache{cs};
  auto out = std::make_shared<replies>();
  auto job = job_of(2, usual, out, &cache);
  auto now = clock::now_ms();
  for (auto& c : job->calls)
    cache.put(ag::answer_cache::key("GetThings", c.logical_address, job->request_body),
              json::array({"cached-" + c.logical_address}), now);
  // Through the splitter: with a null HTTP client, any call would crash here.
  sys->spawn(splitter, job);
  run();
  REQUIRE(out->answers.size() == 1);
  CHECK(out->answers[0].at("things") == json::array({"cached-SRC-1", "cached-SRC-2"}));
  CHECK(status_codes(out->answers[0]) ==
        std::vector<std::string>{"DataFromCache", "DataFromCache"});
  CHECK(out->answers[0]["processingStatus"][0]["isResponseFromCache"] == true);
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "lookup: the step runs on the scheduler, not on the thread that hands it over") {
  int ran = 0;
  auto run_lookup = run_on_lookup(*sys);
  run_lookup([&ran] { ++ran; });
  run_lookup([&ran] { ++ran; });
  CHECK(ran == 0);  // handed over: the caller (an HTTP I/O thread) goes on at once
  run();
  CHECK(ran == 2);
}
