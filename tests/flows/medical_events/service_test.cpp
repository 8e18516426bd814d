#include "fixtures.hpp"

#include "core/murmur2.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <set>

#include <future>
#include <thread>

using namespace medflow;
using namespace medflow::test;
namespace me = medflow::flows::medical_events;

namespace {
const std::string ep = "55555555-5555-4555-8555-555555555555";
}

TEST_CASE_FIXTURE(service_fixture, "a job and its message are written together") {
  auto out = svc->submit(create_episode(ep));
  REQUIRE(out.ok());
  CHECK(out->created);
  CHECK(out->job.status == me::job_status::pending);
  auto recs = job_records();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].key == std::optional<std::string>(patient));
  CHECK(recs[0].partition == kafka_partition(patient, 8));
  auto msg = me::decode_message(recs[0].value);
  REQUIRE(msg.ok());
  CHECK(msg->job_id == out->job.id);
  CHECK(msg->type == me::job_type::episode_create);
  CHECK(msg->body["id"] == ep);
}

TEST_CASE_FIXTURE(service_fixture, "a refused request creates no job and no message") {
  auto r = create_episode(ep);
  r.patient_id = "unknown";
  auto out = svc->submit(r);
  REQUIRE_FALSE(out.ok());
  CHECK(out.err().status == 404);
  CHECK(count("SELECT count(*) FROM me_jobs") == 0);
  CHECK(job_records().empty());
}

TEST_CASE_FIXTURE(service_fixture, "request-time checks read the store: patient, status, target") {
  // Unknown episode: 404, no job.
  auto missing = svc->submit(update_episode(ep, "Renamed"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().status == 404);
  CHECK(missing.err().message == "Episode is not found");
  // Once the episode exists, the same update is accepted.
  REQUIRE(svc->submit(create_episode(ep)).ok());
  process(job_records()[0]);
  CHECK(svc->submit(update_episode(ep, "Renamed")).ok());
  // An episode of another patient is not found under this one.
  const std::string other = "44444444-4444-4444-8444-444444444444";
  svc->put_person({other, "active", {{"id", other}}});
  auto foreign = update_episode(ep, "Renamed again");
  foreign.patient_id = other;
  CHECK(svc->submit(foreign).err().status == 404);
  // An inactive person: 409, whatever the target.
  svc->put_person({patient, "inactive", {{"id", patient}}});
  auto inactive = svc->submit(update_episode(ep, "Renamed again"));
  REQUIRE_FALSE(inactive.ok());
  CHECK(inactive.err().status == 409);
  CHECK(inactive.err().message == "Person is not active");
  auto unknown = update_episode(ep, "x");
  unknown.patient_id = "55555555-0000-4000-8000-000000000000";
  CHECK(svc->submit(unknown).err().message == "Person is not found");
  CHECK(count("SELECT count(*) FROM me_jobs") == 2);
  // Reads check the person the same way.
  CHECK(svc->get(me::kind::episode, "55555555-0000-4000-8000-000000000000", ep).err().message ==
        "Person is not found");
  CHECK(svc->list(me::kind::episode, "55555555-0000-4000-8000-000000000000", 1, 10).err().status ==
        404);
  CHECK(svc->get(me::kind::episode, other, ep).err().message ==
        "episode with id '" + ep + "' is not found");
  REQUIRE(svc->list(me::kind::episode, patient, 1, 10).ok());
  CHECK(svc->list(me::kind::episode, patient, 1, 10)->first.size() == 1);
}

TEST_CASE_FIXTURE(service_fixture, "an identical request while the job is pending returns that job") {
  auto first = svc->submit(create_episode(ep));
  auto second = svc->submit(create_episode(ep));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK_FALSE(second->created);
  CHECK(second->job.id == first->job.id);
  CHECK(job_records().size() == 1);
  // A different body is a different job.
  auto other = svc->submit(create_episode("66666666-6666-4666-8666-666666666666"));
  REQUIRE(other.ok());
  CHECK(other->created);
  // Once the first is processed, the same request makes a new job.
  process(job_records()[0]);
  CHECK(svc->job(first->job.id)->status == me::job_status::processed);
  auto third = svc->submit(create_episode(ep));
  REQUIRE(third.ok());
  CHECK(third->created);
  CHECK(third->job.id != first->job.id);
}

namespace {
// submit_async's answer, waited for (it comes from the writer thread, or at once when refused).
result<me::service::submitted> submitted_async(me::service& svc, const me::request& r) {
  std::promise<result<me::service::submitted>> p;
  auto f = p.get_future();
  svc.submit_async(r, [&p](result<me::service::submitted> out) { p.set_value(std::move(out)); });
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}
}  // namespace

TEST_CASE_FIXTURE(service_fixture, "submit_async answers once the job is durable, as submit does") {
  auto first = submitted_async(*svc, create_episode(ep));
  REQUIRE(first.ok());
  CHECK(first->created);
  // Answered after the commit: the job and its message are there.
  CHECK(svc->job(first->job.id)->status == me::job_status::pending);
  REQUIRE(job_records().size() == 1);
  CHECK(me::decode_message(job_records()[0].value)->job_id == first->job.id);
  // The same request while pending: that job, not created.
  auto again = submitted_async(*svc, create_episode(ep));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->job.id == first->job.id);
  // A refused request: its error, no job.
  auto r = create_episode(ep);
  r.patient_id = "unknown";
  auto refused = submitted_async(*svc, r);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.err().status == 404);
  CHECK(count("SELECT count(*) FROM me_jobs") == 1);
}

TEST_CASE_FIXTURE(service_fixture, "deduplication is atomic: concurrent identical requests, one job") {
  std::vector<std::future<me::service::submitted>> fs;
  for (int i = 0; i < 16; ++i)
    fs.push_back(std::async(std::launch::async, [this] { return *svc->submit(create_episode(ep)); }));
  std::set<std::string> ids;
  int created = 0;
  for (auto& f : fs) {
    auto s = f.get();
    ids.insert(s.job.id);
    created += s.created;
  }
  CHECK(ids.size() == 1);
  CHECK(created == 1);
  CHECK(count("SELECT count(*) FROM me_jobs") == 1);
  CHECK(job_records().size() == 1);
}

TEST_CASE_FIXTURE(service_fixture, "a redelivered message has no second effect") {
  auto out = svc->submit(create_episode(ep));
  auto rec = job_records().at(0);
  process(rec);
  auto changes = count("SELECT count(*) FROM me_resource_changes");
  CHECK(changes >= 1);
  auto job = svc->job(out->job.id);
  REQUIRE(job);
  CHECK(job->status == me::job_status::processed);
  // As after a crash between the data commit and the offset commit.
  process(rec);
  CHECK(count("SELECT count(*) FROM me_resource_changes") == changes);
  CHECK(svc->job(out->job.id)->updated_us == job->updated_us);
}

TEST_CASE_FIXTURE(service_fixture, "dead-lettering fails the pending job and keeps the message") {
  auto out = svc->submit(create_episode(ep));
  auto rec = job_records().at(0);
  std::promise<void> done;
  svc->dead_letter(rec, "handler failed 3 times", [&](std::exception_ptr) { done.set_value(); });
  done.get_future().get();
  auto job = svc->job(out->job.id);
  CHECK(job->status == me::job_status::failed_with_error);
  CHECK(job->status_code == 500);
  auto view = me::render_job(*job);
  CHECK(view.data["error"] == me::json{{"type", "internal_error"}, {"message", "handler failed 3 times"}});
  auto dl = bus->fetch(me::dead_letter_topic, 0, 0, 10);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].value == rec.value);
  CHECK(*dl[0].header("dead_letter_reason") == "handler failed 3 times");
  CHECK(*dl[0].header("source_offset") == std::to_string(rec.offset));
  // Processing it afterwards does nothing: the job is no longer pending.
  process(rec);
  CHECK(svc->job(out->job.id)->status == me::job_status::failed_with_error);
}

TEST_CASE_FIXTURE(service_fixture, "a message that cannot be decoded is dead-lettered at once") {
  bus->append({{me::jobs_topic, std::string(patient), "{\"type\":\"episode_create_job\"}", {}, {}}});
  auto rec = job_records().at(0);
  process(rec);
  auto dl = bus->fetch(me::dead_letter_topic, 0, 0, 10);
  REQUIRE(dl.size() == 1);
  CHECK(*dl[0].header("dead_letter_reason") == "cannot decode the job message: missing job id");
}

TEST_CASE_FIXTURE(service_fixture, "finished jobs expire after the TTL; pending ones never") {
  auto a = svc->submit(create_episode(ep));
  auto b = svc->submit(create_episode("66666666-6666-4666-8666-666666666666"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (auto& r : job_records())
    if (me::decode_message(r.value)->job_id == a->job.id) process(r);
  auto now = clock::now_ms();
  CHECK(svc->delete_old_jobs(now) == 0);
  CHECK(svc->delete_old_jobs(now + 8 * 86400000LL) == 1);
  CHECK_FALSE(svc->job(a->job.id));
  CHECK(svc->job(b->job.id));  // still pending
}

TEST_CASE_FIXTURE(service_fixture, "maintain runs every cleanup once and counts what it did") {
  auto a = svc->submit(create_episode(ep));
  REQUIRE(a.ok());
  for (auto& r : job_records()) process(r);
  auto now = clock::now_ms();
  auto nothing = svc->maintain(now);
  CHECK(nothing.expired_service_requests == 0);
  CHECK(nothing.deleted_approvals == 0);
  CHECK(nothing.deleted_jobs == 0);
  auto later = svc->maintain(now + 8 * 86400000LL);
  CHECK(later.deleted_jobs == 1);
  CHECK_FALSE(svc->job(a->job.id));
}

TEST_CASE("registry documents are checked by the service before they are stored") {
  service_fixture f;
  const std::string id = "44444444-4444-4444-8444-444444444444";

  auto bad_person = f.svc->put_person(id, me::json{{"status", "ACTIVE"}});
  REQUIRE_FALSE(bad_person);
  CHECK(bad_person.err().status == 400);
  CHECK(bad_person.err().message.find("status") != std::string::npos);
  CHECK_FALSE(f.svc->get_person(id));
  CHECK_FALSE(f.svc->put_person(id, me::json::array()));

  auto person = f.svc->put_person(id, me::json{{"status", "inactive"}, {"note", "x"}});
  REQUIRE(person);
  CHECK(person->status == "inactive");
  CHECK(person->doc["id"] == id);
  REQUIRE(f.svc->get_person(id));
  CHECK(f.svc->get_person(id)->doc["note"] == "x");

  CHECK_FALSE(f.svc->put_legal_entity(id, me::json{{"status", ""}}));
  CHECK(f.svc->put_legal_entity(id, me::json{{"status", "ACTIVE"}}));

  me::json employee = {{"legal_entity_id", f.le}, {"employee_type", "DOCTOR"},
                       {"status", "APPROVED"}, {"user_id", "u"}};
  for (const char* field : {"legal_entity_id", "employee_type", "status", "user_id"}) {
    me::json missing = employee;
    missing.erase(field);
    auto r = f.svc->put_employee(id, missing);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find(field) != std::string::npos);
  }
  me::json bad_tax = employee;
  bad_tax["tax_id"] = 12;
  CHECK_FALSE(f.svc->put_employee(id, bad_tax));
  auto stored = f.svc->put_employee(id, employee);
  REQUIRE(stored);
  CHECK(stored->legal_entity_id == f.le);
  CHECK(f.svc->get_employee(id)->user_id == "u");
}

// -- jobs processed at once (medical_events.inline_jobs) ----------------------------------------

namespace {
me::settings inline_settings() {
  me::settings s;
  s.inline_jobs = true;
  return s;
}
}  // namespace

struct inline_fixture : service_fixture {
  inline_fixture() : service_fixture(inline_settings()) {}
  // The job as stored.
  me::job_record stored(const std::string& id) {
    auto j = svc->job(id);
    REQUIRE(j.has_value());
    return *j;
  }
};

TEST_CASE_FIXTURE(inline_fixture, "inline: a job whose patient has nothing waiting is processed as it is accepted") {
  auto out = svc->submit(create_episode(ep));
  REQUIRE(out.ok());
  CHECK(out->created);
  CHECK(out->job.status == me::job_status::processed);
  CHECK(out->job.status_code == 200);
  auto job = stored(out->job.id);
  CHECK(job.status == me::job_status::processed);
  CHECK(job.response == out->job.response);
  CHECK(job.response.contains("links"));
  CHECK(job_records().empty());  // nothing to queue
  CHECK(count("SELECT count(*) FROM me_entities WHERE kind='episode'") == 1);
  CHECK(count("SELECT count(*) FROM me_resource_changes") == 1);
  // The answer says what happened; its link reads the job as ever.
  auto data = me::accepted_data(out->job);
  CHECK(data["status"] == "processed");
  CHECK(data["links"][0]["href"] == "/jobs/" + out->job.id);

  // A job the handler refuses ends failed at once, in the same way: an episode id taken.
  auto again = svc->submit(create_episode(ep));
  REQUIRE(again.ok());
  CHECK(again->created);
  CHECK(again->job.status == me::job_status::failed);
  CHECK(again->job.status_code == 422);
  CHECK(stored(again->job.id).status == me::job_status::failed);
  CHECK(me::accepted_data(again->job)["status"] == "failed");
  CHECK(count("SELECT count(*) FROM me_jobs WHERE status=0") == 0);
}

TEST_CASE_FIXTURE(inline_fixture, "inline: a job queues behind its patient's pending job, and order holds") {
  auto created = svc->submit(create_episode(ep));
  REQUIRE(created.ok());
  REQUIRE(created->job.status == me::job_status::processed);
  // A job left pending by a service that queues every job (as a consumer that has not got to
  // it yet would leave it).
  me::service queuing{*db, *bus, me::settings{}};
  auto first = queuing.submit(update_episode(ep, "First"));
  REQUIRE(first.ok());
  REQUIRE(first->job.status == me::job_status::pending);

  auto second = svc->submit(update_episode(ep, "Second"));
  REQUIRE(second.ok());
  CHECK(second->job.status == me::job_status::pending);  // queued, not run before the first
  CHECK(me::accepted_data(second->job)["status"] == "pending");
  auto recs = job_records();
  REQUIRE(recs.size() == 2);
  // Another patient is not held up by this one's queue.
  const std::string other = "44444444-4444-4444-8444-444444444444";
  svc->put_person({other, "active", {{"id", other}}});
  auto r = create_episode("66666666-6666-4666-8666-666666666666");
  r.patient_id = other;
  auto third = svc->submit(r);
  REQUIRE(third.ok());
  CHECK(third->job.status == me::job_status::processed);

  // The consumer processes the queue in order: First, then Second.
  process(recs[0]);
  CHECK(svc->get(me::kind::episode, patient, ep)->at("name") == "First");
  process(recs[1]);
  CHECK(stored(first->job.id).status == me::job_status::processed);
  CHECK(stored(second->job.id).status == me::job_status::processed);
  CHECK(svc->get(me::kind::episode, patient, ep)->at("name") == "Second");
  // Nothing waits any more: the next job of the patient runs at once again.
  auto fourth = svc->submit(update_episode(ep, "Again"));
  REQUIRE(fourth.ok());
  CHECK(fourth->job.status == me::job_status::processed);
  CHECK(svc->get(me::kind::episode, patient, ep)->at("name") == "Again");
  CHECK(job_records().size() == 2);
}

TEST_CASE("inline: a job whose processing throws is queued instead, with nothing of it written") {
  me::settings s = inline_settings();
  bool fail = true;
  int calls = 0;
  std::atomic<int> hooks_run{0};
  bus::log* log = nullptr;
  // The listener publishes a record (as the resource events publisher does), then fails the
  // first time: the attempt's record, data and after-commit actions must all go.
  s.on_change = [&](store::tx& t, const me::committed_change&) {
    ++calls;
    log->append_in(t, {"probe", std::string("k"), "from the listener", {}, std::nullopt});
    t.after_commit([&hooks_run] { ++hooks_run; });
    if (fail) throw std::runtime_error("listener failed");
  };
  service_fixture f{s};
  log = f.bus.get();
  f.bus->create_topic("probe", 1);
  auto out = f.svc->submit(f.create_episode(ep));
  REQUIRE(out.ok());
  CHECK(calls == 1);  // it was tried at once
  CHECK(hooks_run == 0);  // the failed attempt's after-commit action was dropped
  CHECK(out->created);
  CHECK(out->job.status == me::job_status::pending);
  CHECK(f.count("SELECT count(*) FROM me_entities WHERE kind='episode'") == 0);
  CHECK(f.count("SELECT count(*) FROM me_resource_changes") == 0);
  CHECK(f.bus->fetch("probe", 0, 0, 10).empty());
  auto recs = f.job_records();
  REQUIRE(recs.size() == 1);
  // The consumer's attempt succeeds once the failure is gone; the listener's record is the
  // first of its topic (the rolled-back one left no gap nor a stale next offset).
  fail = false;
  f.process(recs[0]);
  CHECK(calls == 2);
  CHECK(hooks_run == 1);
  auto job = f.svc->job(out->job.id);
  REQUIRE(job.has_value());
  CHECK(job->status == me::job_status::processed);
  CHECK(f.count("SELECT count(*) FROM me_entities WHERE kind='episode'") == 1);
  auto probe = f.bus->fetch("probe", 0, 0, 10);
  REQUIRE(probe.size() == 1);
  CHECK(probe[0].offset == 0);
}

TEST_CASE_FIXTURE(inline_fixture, "inline: submit_async answers with the processed job once it is durable") {
  std::promise<result<me::service::submitted>> got;
  svc->submit_async(create_episode(ep), [&](result<me::service::submitted> out) {
    got.set_value(std::move(out));
  });
  auto out = got.get_future().get();
  REQUIRE(out.ok());
  CHECK(out->job.status == me::job_status::processed);
  CHECK(stored(out->job.id).status == me::job_status::processed);
}

TEST_CASE_FIXTURE(service_fixture, "update_entity rewrites only the patient's row at the version read") {
  const std::string other = "44444444-4444-4444-8444-444444444444";
  db->write().run([&](store::tx& t) {
    me::json doc = {{"id", "x1"}, {"status", "active"}, {"name", "first"}};
    CHECK(me::put_entity(t.conn, me::kind::episode, patient, "x1", doc, 1) == 1);
    doc["name"] = "second";
    doc["status"] = "closed";
    // Another version, another patient, another id: nothing written.
    CHECK_FALSE(me::update_entity(t.conn, me::kind::episode, patient, "x1", doc, 2, 2));
    CHECK_FALSE(me::update_entity(t.conn, me::kind::episode, other, "x1", doc, 1, 2));
    CHECK_FALSE(me::update_entity(t.conn, me::kind::episode, patient, "x2", doc, 1, 2));
    auto stored = me::entity_with_version(t.conn, me::kind::episode, "x1");
    REQUIRE(stored);
    CHECK(stored->first == 1);
    CHECK(stored->second["name"] == "first");
    // At the version read: the same row as put_entity would leave (version, status, document).
    CHECK(me::update_entity(t.conn, me::kind::episode, patient, "x1", doc, 1, 3));
    stored = me::entity_with_version(t.conn, me::kind::episode, "x1");
    REQUIRE(stored);
    CHECK(stored->first == 2);
    CHECK(stored->second == doc);
    auto q = t.conn.prepare("SELECT status, updated_at, patient_id FROM me_entities WHERE id='x1'");
    REQUIRE(q.step());
    CHECK(q.text(0) == "closed");
    CHECK(q.int64(1) == 3);
    CHECK(q.text(2) == patient);
    // The next write goes on from there.
    CHECK(me::put_entity(t.conn, me::kind::episode, patient, "x1", doc, 4) == 3);
  });
}
