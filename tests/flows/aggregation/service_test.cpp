// The aggregation flow's entry: one aggregated request's steps up to its fan-out, against the
// local engagement index on a real SQLite store: every refusal with its status and text, the
// empty answer, the fan-out's calls, headers and deadline, and the caches.
#include "flows/aggregation/agp_test_data.hpp"
#include "flows/aggregation/service.hpp"

#include "core/metrics.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <memory>

namespace {

namespace ag = medflow::flows::aggregation;
namespace agp = medflow::test::agp;
namespace store = medflow::store;
using json = nlohmann::json;

// What the service answered, as the HTTP route would have seen it.
struct answered {
  std::vector<medflow::error> failures;
  std::vector<json> answers;
  std::vector<std::pair<int64_t, medflow::error>> deadlines;
  std::vector<ag::fan_out_request> fan_outs;
};

struct service_fixture {
  medflow::test::temp_dir dir;
  std::unique_ptr<store::database> db;
  std::unique_ptr<ag::service> svc;
  std::shared_ptr<answered> out = std::make_shared<answered>();

  explicit service_fixture(bool cache = false, ag::run_fn run_lookup = {},
                           size_t max_engagements = 10000) {
    db = medflow::test::open_database(dir.file("agg.db"), {ag::index_migrations()});
    ag::catalog c;
    auto lab = agp::lab_service();
    lab.limits = {4000, 4500, 5000};
    lab.cache.enabled = cache;
    lab.cache.expiration_interval_ms = 700;
    c.services[lab.name] = std::make_shared<const ag::service_definition>(lab);
    c.permissions = std::make_shared<const ag::tak>(agp::tak_stub());
    ag::settings s;
    s.vp_instance_id = "medflow-test";
    s.max_engagements = max_engagements;
    auto sink = out;
    svc = std::make_unique<ag::service>(
        std::move(c), s, *db, nullptr,
        [sink](ag::fan_out_request r) { sink->fan_outs.push_back(std::move(r)); },
        std::move(run_lookup));
    // tc3 has engagements on HSA-ID-1 and HSA-ID-2 in the lab service's category.
    json tx = json::array();
    for (auto address : {"HSA-ID-1", "HSA-ID-2"}) {
      auto e = agp::engagement_of(agp::tc3, address, "und-kkm-ure");
      tx.push_back({{"engagement", ag::to_json(e)}});
    }
    REQUIRE(svc->local()->update({{"engagementTransaction", tx}}).ok());
  }
  // A kept fan-out holds its replies, whose callbacks hold `out`: a cycle that would never be
  // freed (LeakSanitizer in the sanitized run).
  ~service_fixture() { out->fan_outs.clear(); }

  ag::replies replies() {
    auto sink = out;
    ag::replies r;
    r.fail = [sink](const medflow::error& e) { sink->failures.push_back(e); };
    r.answer = [sink](const json& j) {
      sink->answers.push_back(j);
      return true;
    };
    r.deadline = [sink](int64_t ms, const medflow::error& e) {
      sink->deadlines.emplace_back(ms, e);
    };
    return r;
  }

  static ag::header_list caller_headers() {
    return {{"X-VP-Sender-Id", agp::sender},
            {"x-rivta-original-serviceconsumer-hsaid", agp::original_consumer},
            {"x-skltp-correlation-id", "corr-1"}};
  }

  void ask(const std::string& patient, ag::header_list hs = caller_headers(),
           const std::string& service = "GetAggregatedLaboratoryOrderOutcome") {
    svc->request(service, hs, json{{"patientId", {{"extension", patient}}}}.dump(), replies());
  }

  const medflow::error& only_failure() {
    REQUIRE(out->failures.size() == 1);
    CHECK(out->answers.empty());
    CHECK(out->fan_outs.empty());
    CHECK(out->deadlines.empty());
    return out->failures.front();
  }
};

}  // namespace

TEST_CASE("service: an unknown service is 404") {
  service_fixture f;
  f.ask(agp::tc3, service_fixture::caller_headers(), "GetNothing");
  auto& e = f.only_failure();
  CHECK(e.status == 404);
  CHECK(e.message == "unknown aggregating service GetNothing");
}

TEST_CASE("service: every missing mandatory header is named, in AgP's order") {
  service_fixture f;
  f.ask(agp::tc3, {{"x-skltp-correlation-id", "c"}});
  auto& e = f.only_failure();
  CHECK(e.status == 400);
  CHECK(e.message ==
        "Mandatory HTTP header x-vp-sender-id is missing\n"
        "Mandatory HTTP header x-rivta-original-serviceconsumer-hsaid is missing\n");
}

TEST_CASE("service: a body that is not JSON, or has no patient id, is 400") {
  service_fixture f;
  f.svc->request("GetAggregatedLaboratoryOrderOutcome", service_fixture::caller_headers(),
                 "{not json", f.replies());
  auto& e = f.only_failure();
  CHECK(e.status == 400);
  CHECK(e.message.rfind("request body is not valid JSON: parse error", 0) == 0);
  service_fixture g;
  g.svc->request("GetAggregatedLaboratoryOrderOutcome", service_fixture::caller_headers(),
                 R"({"patientId":{}})", g.replies());
  CHECK(g.only_failure().message == "the request has no patient id at /patientId/extension");
  // Out of a double's range (nlohmann's out_of_range, which used to escape as a 500) and too
  // deep: 400 naming the field or the limit.
  service_fixture h;
  h.svc->request("GetAggregatedLaboratoryOrderOutcome", service_fixture::caller_headers(),
                 R"({"patientId":{"root":"x","extension":1e999}})", h.replies());
  CHECK(h.only_failure().status == 400);
  CHECK(h.only_failure().message ==
        "request body: number out of range at patientId.extension: 1e999");
  service_fixture d;
  d.svc->request("GetAggregatedLaboratoryOrderOutcome", service_fixture::caller_headers(),
                 std::string(59000, '[') + std::string(59000, ']'), d.replies());
  CHECK(d.only_failure().status == 400);
  CHECK(d.only_failure().message == "request body: nesting deeper than 256 levels "
                                    "(json.max_depth) at line 1, column 257");
}

TEST_CASE("service: no source to ask is answered at once, empty, without a fan-out") {
  service_fixture f;
  f.ask(agp::tc2);  // no engagements
  REQUIRE(f.out->answers.size() == 1);
  CHECK(f.out->answers[0]["laboratoryOrderOutcome"] == json::array());
  CHECK(f.out->answers[0]["processingStatus"] == json::array());
  CHECK(f.out->failures.empty());
  CHECK(f.out->fan_outs.empty());
  CHECK(f.out->deadlines.empty());
}

TEST_CASE("service: a fan-out gets the calls, the body and the propagated headers, after the "
          "deadline is set") {
  service_fixture f;
  auto hs = service_fixture::caller_headers();
  hs.emplace_back("X-RIVTA-Trace", "t-1");                   // passed on, name lower-cased
  hs.emplace_back("x-rivta-logical-address", "HSA-ID-FEL");  // set per call, not passed on
  hs.emplace_back("x-other", "o");                           // not an x-rivta-* header
  f.ask(agp::tc3, hs);
  REQUIRE(f.out->deadlines.size() == 1);
  CHECK(f.out->deadlines[0].first == 5000);
  CHECK(f.out->deadlines[0].second.status == 504);
  CHECK(f.out->deadlines[0].second.message == "no aggregated answer within 5000 ms");
  REQUIRE(f.out->fan_outs.size() == 1);
  auto& job = f.out->fan_outs[0];
  CHECK(job.service->name == "GetAggregatedLaboratoryOrderOutcome");
  REQUIRE(job.calls.size() == 2);
  CHECK(job.calls[0].logical_address == "HSA-ID-1");
  CHECK(job.calls[0].url == agp::url_of("HSA-ID-1"));
  CHECK(job.calls[1].logical_address == "HSA-ID-2");
  CHECK(json::parse(job.request_body) == json{{"patientId", {{"extension", agp::tc3}}}});
  CHECK(job.headers == ag::header_list{{"Content-Type", "application/json"},
                                       {"x-vp-sender-id", agp::sender},
                                       {"x-rivta-original-serviceconsumer-hsaid",
                                        agp::original_consumer},
                                       {"x-skltp-correlation-id", "corr-1"},
                                       {"x-vp-instance-id", "medflow-test"},
                                       {"x-rivta-trace", "t-1"}});
  CHECK(job.cache == nullptr);
  CHECK(f.out->answers.empty());
  // The aggregated answer goes to the request's replies.
  job.reply(json{{"laboratoryOrderOutcome", json::array()}}, 1200);
  REQUIRE(f.out->answers.size() == 1);
  CHECK(f.out->answers[0].contains("laboratoryOrderOutcome"));
}

TEST_CASE("service: a caching service hands its cache over and is swept") {
  service_fixture plain;
  CHECK_FALSE(plain.svc->sweep_interval_ms());
  service_fixture f(true);
  CHECK(f.svc->sweep_interval_ms() == 700);
  f.ask(agp::tc3);
  REQUIRE(f.out->fan_outs.size() == 1);
  auto* cache = f.out->fan_outs[0].cache;
  REQUIRE(cache != nullptr);
  cache->put("k", json::array({1}), 1000);
  f.svc->sweep_caches(1000 + cache->settings().stale_ms);
  CHECK(cache->size() == 0);
}

TEST_CASE("service: the index lookup and request list run through run_lookup, not in request()") {
  // What the daemon runs on a lookup actor, off the HTTP connection's thread.
  auto steps = std::make_shared<std::vector<std::function<void()>>>();
  service_fixture f(false, [steps](std::function<void()> step) {
    steps->push_back(std::move(step));
  });
  f.ask(agp::tc3);
  f.ask(agp::tc2);
  // request() checked the requests and handed their lookups over: nothing answered yet.
  REQUIRE(steps->size() == 2);
  CHECK(f.out->fan_outs.empty());
  CHECK(f.out->answers.empty());
  CHECK(f.out->deadlines.empty());
  (*steps)[0]();
  REQUIRE(f.out->fan_outs.size() == 1);
  CHECK(f.out->fan_outs[0].calls.size() == 2);
  CHECK(json::parse(f.out->fan_outs[0].request_body) ==
        json{{"patientId", {{"extension", agp::tc3}}}});
  CHECK(f.out->deadlines.size() == 1);
  (*steps)[1]();  // no engagements: the empty answer comes from the step
  REQUIRE(f.out->answers.size() == 1);
  CHECK(f.out->answers[0]["processingStatus"] == json::array());
  // Refusals are answered at once, without a lookup.
  f.ask(agp::tc3, {{"x-skltp-correlation-id", "c"}});
  CHECK(steps->size() == 2);
  CHECK(f.out->failures.size() == 1);
}

TEST_CASE("service: a lookup finding more than max_engagements fails the request, 502") {
  service_fixture f(false, {}, 1);  // tc3 has two engagements
  f.ask(agp::tc3);
  auto& e = f.only_failure();
  CHECK(e.status == 502);
  CHECK(e.code == "engagement_index_too_large");
  CHECK(e.message ==
        "the engagement index found more than 1 engagements for the request "
        "(aggregation.max_engagements)");
  service_fixture g(false, {}, 2);
  g.ask(agp::tc3);
  CHECK(g.out->fan_outs.size() == 1);
}

TEST_CASE("service: engagements dropped for want of permission are counted per service") {
  service_fixture f;  // registers the counter with its help text
  auto& dropped = medflow::metrics::registry::global().get_counter(
      "medflow_agp_engagements_unauthorized_total", "",
      {{"service", "GetAggregatedLaboratoryOrderOutcome"}});
  auto before = dropped.value();
  f.ask(agp::tc3);  // the sender may call both
  CHECK(dropped.value() == before);
  // Only the original consumer is known to the TAK: permitted on HSA-ID-1, not on HSA-ID-2.
  f.ask(agp::tc3, {{"x-vp-sender-id", "unknown-sender"},
                   {"x-rivta-original-serviceconsumer-hsaid", agp::original_consumer},
                   {"x-skltp-correlation-id", "c2"}});
  CHECK(dropped.value() == before + 1);
  REQUIRE(f.out->fan_outs.size() == 2);
  CHECK(f.out->fan_outs[1].calls.size() == 1);
  f.ask(agp::tc3, {{"x-vp-sender-id", "a"},
                   {"x-rivta-original-serviceconsumer-hsaid", "b"},
                   {"x-skltp-correlation-id", "c3"}});
  CHECK(dropped.value() == before + 3);
}

TEST_CASE("service: an external index needs an HTTP client") {
  medflow::test::temp_dir dir;
  auto db = medflow::test::open_database(dir.file("agg.db"), {});
  ag::settings s;
  s.index_url = "http://127.0.0.1:1/find-content";
  CHECK_THROWS_AS(ag::service(ag::catalog{}, s, *db, nullptr, [](ag::fan_out_request) {}),
                  std::invalid_argument);
}

TEST_CASE("header_value: the first value, names compared without case") {
  ag::header_list hs{{"A", "1"}, {"b", "2"}, {"a", "3"}};
  CHECK(ag::header_value(hs, "a") == "1");
  CHECK(ag::header_value(hs, "B") == "2");
  CHECK_FALSE(ag::header_value(hs, "c"));
}
