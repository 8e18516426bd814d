#include "app/medical_events_flow.hpp"

#include "actors/periodic.hpp"
#include "app/consumers.hpp"
#include "app/resource_events_flow.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "flows/medical_events/service.hpp"
#include "flows/medical_events/store.hpp"
#include "http/medical_events_routes.hpp"
#include "store/lease.hpp"

namespace medflow::app {

namespace me = flows::medical_events;
namespace re = flows::resource_events;

namespace {

class medical_events_flow : public flow {
 public:
  std::string name() const override { return "medical_events"; }
  std::vector<store::migration> migrations() const override { return me::migrations(); }

  void start(runtime& rt) override {
    if (!rt.cfg.boolean("medical_events.enabled")) return;
    me::settings s;
    s.partitions = static_cast<int32_t>(rt.cfg.integer("medical_events.partitions"));
    s.job_eta_ms = rt.cfg.integer("medical_events.job_eta_ms");
    s.job_location = rt.cfg.boolean("medical_events.job_location");
    s.job_ttl_days = rt.cfg.integer("medical_events.job_ttl_days");
    // One writer serialises every transaction only on SQLite (see settings::inline_jobs).
    s.inline_jobs = rt.cfg.boolean("medical_events.inline_jobs") &&
                    rt.db.backend() == store::backend::sqlite;
    s.approval_ttl_hours = rt.cfg.integer("medical_events.approval_ttl_hours");
    s.person_events_partitions =
        static_cast<int32_t>(rt.cfg.integer("medical_events.person_events_partitions"));
    if (rt.cfg.boolean("events.enabled")) {
      // Every change the jobs commit is published as resource events in the same transaction.
      events_ = make_event_publisher(rt.cfg, rt.bus);
      s.on_change = publish_changes(*events_);
    }
    svc_ = std::make_unique<me::service>(rt.db, rt.bus, s);
    svc_->create_topics();
    auto* svc = svc_.get();
    int attempts = static_cast<int>(rt.cfg.integer("medical_events.max_attempts"));

    auto jobs = std::make_shared<actors::record_handlers>();
    jobs->key_of = &me::service::key_of;
    jobs->process = [svc](const bus::record& r, done_fn done) { svc->process(r, done); };
    jobs->dead_letter = [svc](const bus::record& r, const std::string& why, done_fn done) {
      svc->dead_letter(r, why, done);
    };
    // The reference's consumer group name.
    consumers_.push_back(
        start_consumers(rt, {"medical_event_group", me::jobs_topic, attempts, jobs}));

    auto persons = std::make_shared<actors::record_handlers>();
    persons->key_of = [](const bus::record& r) { return r.key.value_or(""); };
    persons->process = [svc](const bus::record& r, done_fn done) {
      svc->process_person_event(r, done);
    };
    persons->dead_letter = [svc](const bus::record& r, const std::string& why, done_fn done) {
      svc->dead_letter_person_event(r, why, done);
    };
    consumers_.push_back(
        start_consumers(rt, {"person_consumer_group", me::person_events_topic, attempts, persons}));

    auto interval = std::chrono::milliseconds(rt.cfg.integer("medical_events.maintenance_interval_ms"));
    // Over shared rows (PostgreSQL, several instances) one instance at a time: two rounds at
    // once would both expire the same service request (two changes, two events).
    auto lease = std::make_shared<store::lease>(rt.db, "medical_events.maintenance",
                                                rt.cfg.integer("store.lease_ms"), clock::now_ms);
    // Owned first, drained after the periodic: a clean stop gives the lease up at once.
    rt.own(rt.sys.spawn<caf::detached>(actors::at_drain,
                                       std::function<void()>([lease] { lease->release(); })));
    rt.own(rt.sys.spawn<caf::detached>(actors::periodic, "medical_events maintenance", interval,
                                       [svc, lease] {
                                         if (lease->held()) svc->maintain(clock::now_ms());
                                       }));

    http::add_medical_events_routes(rt.http, *svc);
  }

 private:
  std::unique_ptr<re::service> events_;
  std::unique_ptr<me::service> svc_;
  std::vector<topic_consumers> consumers_;
};

}  // namespace

std::unique_ptr<flow> make_medical_events_flow() { return std::make_unique<medical_events_flow>(); }

}  // namespace medflow::app
