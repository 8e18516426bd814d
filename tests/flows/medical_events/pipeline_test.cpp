// The medical events consumer pipeline on a real actor system (threads), a real SQLite store
// and the embedded bus: supervised partition consumers -> keyed sequencer -> service.process.
// One handler is made to throw for one job (a poison message): it is retried, then
// dead-lettered, and the same patient's next job is still processed.
#include "actors/partition_consumer.hpp"
#include "actors/supervisor.hpp"
#include "core/murmur2.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace medflow;
using namespace medflow::test;
using namespace std::chrono_literals;

namespace {

// Polls (bounded) until `pred` holds; the pipeline runs on its own threads.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

struct pipeline_fixture : service_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<caf::actor> sups;
  std::string poison_job;
  std::atomic<int> poison_attempts{0};
  health h;

  void start(int max_attempts) {
    cfg.set("scheduler.max-threads", size_t{2});
    sys = std::make_unique<caf::actor_system>(cfg);
    auto handlers = std::make_shared<actors::record_handlers>();
    handlers->key_of = &me::service::key_of;
    handlers->process = [this](const bus::record& r, done_fn done) {
      auto msg = me::decode_message(r.value);
      // The poison: the update that renames the episode "poison".
      if (msg && msg->body.value("name", "") == "poison") {
        ++poison_attempts;
        throw std::runtime_error("simulated handler crash");
      }
      svc->process(r, std::move(done));
    };
    handlers->dead_letter = [this](const bus::record& r, const std::string& why, done_fn done) {
      svc->dead_letter(r, why, std::move(done));
    };
    actors::restart_policy policy;
    policy.backoff_initial = 10ms;
    policy.backoff_max = 20ms;
    for (int32_t p = 0; p < 8; ++p) {
      actors::consumer_config c;
      c.group = "g";
      c.topic = me::jobs_topic;
      c.partition = p;
      c.max_attempts = max_attempts;
      auto tracker = std::make_shared<actors::attempt_tracker>();
      bus::log* b = bus.get();
      sups.push_back(sys->spawn(
          actors::supervisor, "p" + std::to_string(p),
          [c, b, handlers, tracker](caf::actor_system& s) {
            return s.spawn(actors::partition_consumer, c, b,
                           std::shared_ptr<const actors::record_handlers>(handlers), tracker);
          },
          policy, &h));
    }
  }

  ~pipeline_fixture() {
    for (auto& s : sups) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    sys.reset();
  }

  me::job_status status(const std::string& id) { return svc->job(id)->status; }
};

}  // namespace

TEST_CASE_FIXTURE(pipeline_fixture, "a poison message is dead-lettered and does not block the patient") {
  const std::string ep = "55555555-5555-4555-8555-555555555555";
  start(2);
  auto create = svc->submit(create_episode(ep));
  REQUIRE(create.ok());
  // Updates need the episode to exist when they are requested.
  REQUIRE(eventually([&] { return status(create->job.id) == me::job_status::processed; }));
  auto poison = svc->submit(update_episode(ep, "poison"));
  auto next = svc->submit(update_episode(ep, "after the poison"));
  REQUIRE(poison.ok());
  REQUIRE(next.ok());
  poison_job = poison->job.id;
  REQUIRE(eventually([&] { return status(next->job.id) != me::job_status::pending; }));
  CHECK(status(create->job.id) == me::job_status::processed);
  CHECK(status(next->job.id) == me::job_status::processed);
  auto p = svc->job(poison_job);
  CHECK(p->status == me::job_status::failed_with_error);
  CHECK(p->status_code == 500);
  CHECK(p->response.get<std::string>().find("simulated handler crash") != std::string::npos);
  CHECK(poison_attempts == 2);  // max_attempts, then dead-lettered without running again
  auto dl = bus->fetch(me::dead_letter_topic, 0, 0, 10);
  REQUIRE(dl.size() == 1);
  CHECK(me::decode_message(dl[0].value)->job_id == poison_job);
  auto doc = svc->get(me::kind::episode, patient, ep);
  REQUIRE(doc.ok());
  CHECK((*doc)["name"] == "after the poison");
  // The offsets moved past everything.
  auto part = kafka_partition(patient, 8);
  REQUIRE(eventually([&] { return bus->committed("g", me::jobs_topic, part) == 3; }));
}

TEST_CASE_FIXTURE(pipeline_fixture, "jobs of many patients are all processed, each patient in order") {
  start(3);
  std::vector<std::string> last_jobs;
  for (int i = 0; i < 40; ++i) {
    char pid[40];
    std::snprintf(pid, sizeof pid, "00000000-0000-4000-8000-%012d", i);
    svc->put_person({pid, "active", {{"id", pid}}});
    char epid[40];
    std::snprintf(epid, sizeof epid, "10000000-0000-4000-8000-%012d", i);
    auto c = create_episode(epid);
    c.patient_id = pid;
    REQUIRE(svc->submit(c).ok());
  }
  REQUIRE(eventually([&] { return count("SELECT count(*) FROM me_jobs WHERE status=0") == 0; }));
  for (int i = 0; i < 40; ++i) {
    char pid[40];
    std::snprintf(pid, sizeof pid, "00000000-0000-4000-8000-%012d", i);
    char epid[40];
    std::snprintf(epid, sizeof epid, "10000000-0000-4000-8000-%012d", i);
    for (int k = 1; k <= 5; ++k) {
      auto u = update_episode(epid, "name " + std::to_string(k));
      u.patient_id = pid;
      auto out = svc->submit(u);
      REQUIRE(out.ok());
      if (k == 5) last_jobs.push_back(out->job.id);
    }
  }
  REQUIRE(eventually([&] {
    return count("SELECT count(*) FROM me_jobs WHERE status=0") == 0;
  }));
  CHECK(count("SELECT count(*) FROM me_jobs WHERE status=1") == 240);
  // Applied in order: every episode ends with the last name.
  CHECK(count(medflow::test::on_postgres()
                  ? "SELECT count(*) FROM me_entities WHERE kind='episode' AND "
                    "doc::jsonb->>'name' = 'name 5'"
                  : "SELECT count(*) FROM me_entities WHERE kind='episode' AND "
                    "json_extract(doc, '$.name') = 'name 5'") == 40);
}
