#include "app/hri_flow.hpp"

#include "actors/hri/action_waiter.hpp"
#include "actors/hri/batch_forwarder.hpp"
#include "actors/hri/batch_registry.hpp"
#include "actors/periodic.hpp"
#include "app/consumers.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/jwt.hpp"
#include "core/log.hpp"
#include "flows/hri/batch_topic.hpp"
#include "flows/hri/service.hpp"
#include "http/hri_routes.hpp"

#include <map>
#include <mutex>
#include <set>
#include <variant>

namespace medflow::app {

namespace hri = flows::hri;

namespace {

const char* validation_group = "hri-validation";

class hri_flow : public flow {
 public:
  std::string name() const override { return "hri"; }
  std::vector<store::migration> migrations() const override { return hri::migrations(); }

  void start(runtime& rt) override {
    if (!rt.cfg.boolean("hri.enabled")) return;
    rt_ = &rt;
    hri::settings s;
    s.validation = rt.cfg.boolean("hri.validation.enabled");
    s.completion_delay_ms = rt.cfg.integer("hri.completion_delay_ms");
    s.stuck_timeout_ms = rt.cfg.integer("hri.stuck_timeout_ms");
    s.adopt_existing_topics = rt.cfg.boolean("hri.adopt_existing_topics");
    auto grants = hri::parse_topic_grants(rt.cfg.string("hri.topic_grants"));
    if (!grants)
      throw std::runtime_error("invalid value for hri.topic_grants: " + grants.err().message);
    s.granted_topics = std::move(*grants);
    svc_ = std::make_shared<hri::service>(rt.db, rt.bus, s);

    if (!rt.cfg.boolean("hri.auth.disabled")) {
      jwt::verifier_options vo;
      vo.hs256_secret = rt.cfg.string("hri.auth.hs256_secret");
      vo.public_keys_file = rt.cfg.string("hri.auth.public_keys_file");
      vo.issuer = rt.cfg.string("hri.auth.issuer");
      vo.audience = rt.cfg.string("hri.auth.audience");
      vo.leeway_s = rt.cfg.integer("hri.auth.clock_skew_s");
      if (vo.hs256_secret.empty() && vo.public_keys_file.empty())
        log::warn("hri", "authentication is on but no keys are configured: every /hri batch "
                         "request will be refused (set hri.auth.hs256_secret or "
                         "hri.auth.public_keys_file, or hri.auth.disabled=true for development)");
      verifier_ = std::make_unique<jwt::verifier>(vo);
    }

    // Several instances share the batches on Kafka with one PostgreSQL store (README "HRI
    // batches across instances"): a batch's records and actions reach its owner through the
    // internal topic. The embedded bus, or Kafka with each instance on its own SQLite file, is
    // one instance per store: records go straight to the batch actors, as always.
    shared_ = std::string(rt.bus.backend()) == "kafka" &&
              rt.db.backend() == store::backend::postgres;
    actors::batch_partition_fn partition_of;
    if (shared_) partition_of = create_batch_topic(rt);
    registry_ = rt.sys.spawn(actors::batch_registry, svc_, actors::now_fn{clock::now_ms},
                             partition_of,
                             std::chrono::milliseconds(rt.cfg.integer("bus.release_timeout_ms")));
    rt.own(registry_);  // drained after the consumers registered below
    if (shared_) {
      auto forwarder = rt.sys.spawn<caf::detached>(actors::batch_forwarder, &rt.bus, size_t{1000});
      // Weak here: the actor system's shutdown waits until a detached actor is destroyed, so
      // only actors (gone by then) and the daemon's list hold it strongly.
      forwarder_ = forwarder->ctrl();
      rt.own(forwarder);  // drained after the consumers that hand it records
      waiter_ = rt.sys.spawn(actors::action_waiter, svc_, forwarder,
                             actors::now_fn{clock::now_ms},
                             std::chrono::milliseconds(rt.cfg.integer("hri.action_timeout_ms")),
                             std::chrono::milliseconds(20));
      rt.own(waiter_);
      start_batch_consumers(partition_of);
    }

    for (auto& stream : svc_->validated_streams()) start_stream(stream);
    // Shared: a stream created or deleted through another instance is joined or left here
    // within hri.streams_refresh_ms (else only the instance that created it would consume it,
    // and nobody once that one is gone).
    if (shared_)
      rt.own(rt.sys.spawn<caf::detached>(
          actors::periodic, "hri streams refresh",
          std::chrono::milliseconds(rt.cfg.integer("hri.streams_refresh_ms")),
          [this] { refresh_streams(); }));
    // Batches waiting for their completion delay or stuck timeout resume them now (shared: on
    // the assignment of their partition of the internal topic, by its owner).
    if (!shared_)
      for (auto& b : svc_->batches_in(hri::status::send_completed))
        caf::anon_send(registry_, actors::wake_atom::value, b.tenant, b.id);

    auto registry = registry_;
    auto waiter = waiter_;
    bool shared = shared_;
    http::add_hri_routes(
        rt.http,
        {*svc_, verifier_.get(), rt.h,
         [registry, waiter, shared](hri::action_request r, hri::principal who,
                                    std::string tenant, std::string id,
                                    std::function<void(int, std::string)> reply) {
           actors::batch_action a{std::move(tenant), std::move(id), std::move(r), std::move(who),
                                  std::move(reply)};
           if (shared)
             caf::anon_send(waiter, actors::batch_relay_atom::value, std::move(a));
           else
             caf::anon_send(registry, actors::batch_action_atom::value, std::move(a));
         },
         [registry](const std::string& tenant) {
           caf::anon_send(registry, actors::forget_atom::value, tenant);
         },
         [this](const hri::stream_row& row) {
           if (row.validation) start_stream(row);
         },
         [this](const std::string& tenant, const std::string& stream) {
           stop_stream(tenant, stream);
         }});
  }

 private:
  // The internal topic (hri.batch_partitions partitions), and the partition of a batch's key.
  actors::batch_partition_fn create_batch_topic(runtime& rt) {
    auto n = static_cast<int32_t>(rt.cfg.integer("hri.batch_partitions"));
    try {
      rt.bus.create_topic(hri::batch_records_topic, n);
    } catch (const bus::topic_exists& e) {
      // Another count would move batches to other owners while instances disagree.
      throw std::runtime_error(std::string(e.what()) + ": hri.batch_partitions must be the " +
                               "same on every instance and stay what it was");
    }
    bus::log* bus = &rt.bus;
    return [bus, n](const std::string& key) {
      return bus->choose_partition(
          bus::message{hri::batch_records_topic, key, {}, {}, std::nullopt}, n);
    };
  }

  // Consumers of the internal topic (group hri-batches): the owner of a partition runs the
  // actors of the batches whose keys it holds.
  void start_batch_consumers(const actors::batch_partition_fn& partition_of) {
    auto registry = registry_;
    auto svc = svc_;
    auto h = std::make_shared<actors::record_handlers>();
    h->mode = actors::record_handlers::order::in_log_order;
    h->process = [registry](const bus::record& r, done_fn done) {
      auto e = hri::decode_entry(r);
      if (auto* j = std::get_if<hri::judged_record>(&e)) {
        caf::anon_send(registry, actors::batch_record_atom::value,
                       actors::batch_record{std::move(*j), std::move(done)});
      } else if (auto* a = std::get_if<hri::action_entry>(&e)) {
        caf::anon_send(registry, actors::batch_action_atom::value,
                       actors::batch_action{a->tenant, a->batch_id, std::move(a->request),
                                            std::move(a->who), nullptr, a->request_id,
                                            std::move(done)});
      } else {
        log::warn("hri", "skipping ", r.topic, "/", r.partition, " offset ", r.offset, ": ",
                  std::get<std::string>(e));
        done(nullptr);
      }
    };
    h->dead_letter = [svc](const bus::record& r, const std::string& why, done_fn done) {
      // A record that kept failing goes to its stream's .invalid as on one instance; an action
      // is dropped (its sender answered 504).
      auto e = hri::decode_entry(r);
      if (auto* j = std::get_if<hri::judged_record>(&e)) return svc->dead_letter(j->rec, why, done);
      log::warn("hri", "dropping ", r.topic, "/", r.partition, " offset ", r.offset,
                " after repeated failures: ", why);
      done(nullptr);
    };
    consumer_group_spec spec{hri::batches_group, hri::batch_records_topic, 3, h, false};
    // A new owner resumes the completion delays and stuck timeouts of its batches.
    spec.on_assigned = [registry, svc, partition_of](const std::vector<int32_t>& ps) {
      std::set<int32_t> owned(ps.begin(), ps.end());
      for (auto& b : svc->batches_in(hri::status::send_completed))
        if (owned.count(partition_of(hri::batch_key_of(b.tenant, b.id))))
          caf::anon_send(registry, actors::wake_atom::value, b.tenant, b.id);
    };
    // The batch actors of revoked partitions commit and stop before the partitions go.
    spec.after_revoked = [registry](const std::vector<int32_t>& ps,
                                    actors::partition_release release) {
      caf::anon_send(registry, actors::revoke_atom::value, ps, std::move(release));
    };
    batch_consumers_ = start_consumers(*rt_, spec);
  }

  // Consumers of one stream's .in topic: a record is judged (its validator runs) on the
  // consumer's side and goes to its batch's actor, which decides and commits. Shared (Kafka):
  // the group's member owning the partition judges it and appends it to the internal topic,
  // for the batch's owner; the offset is committed once that append is acknowledged.
  void start_stream(const hri::stream_row& row) {
    std::lock_guard<std::mutex> changing{changing_};
    {
      std::lock_guard<std::mutex> g{mutex_};
      if (streams_.count(row.tenant + "/" + row.id)) return;  // started already
    }
    auto topics = hri::topics_of(row.tenant, row.id);
    std::shared_ptr<const hri::validator> validator = hri::make_validator(row.settings.validator);
    auto registry = registry_;
    auto forwarder = caf::actor_cast<caf::actor>(forwarder_.lock());
    auto svc = svc_;
    auto tenant = row.tenant;
    auto h = std::make_shared<actors::record_handlers>();
    h->mode = actors::record_handlers::order::in_log_order;
    if (shared_) {
      h->process = [forwarder, svc, validator, tenant](const bus::record& r, done_fn done) {
        auto j = hri::judge(tenant, *validator, r);
        if (j.batch_id) {
          caf::anon_send(forwarder, actors::batch_forward_atom::value,
                         actors::batch_entry_out{hri::record_entry(j), std::move(done)});
          return;
        }
        // No batchId header: invalid whatever it holds, and no batch counts it.
        std::optional<hri::batch> none;
        hri::service::commit c;
        if (auto out = hri::take_record(none, std::move(j)).output)
          c.records.push_back(std::move(*out));
        svc->apply(std::move(c), std::move(done));
      };
    } else {
      // A fetch's records go to the registry as one message (it passes each batch's run on as
      // one message too); the store's group commit then finishes them together.
      h->process_all = [registry, validator,
                        tenant](std::vector<std::pair<bus::record, done_fn>> records) {
        actors::batch_records out;
        out.items.reserve(records.size());
        for (auto& [r, done] : records)
          out.items.push_back({hri::judge(tenant, *validator, std::move(r)), std::move(done)});
        caf::anon_send(registry, actors::batch_records_atom::value, std::move(out));
      };
    }
    h->dead_letter = [svc](const bus::record& r, const std::string& why, done_fn done) {
      svc->dead_letter(r, why, std::move(done));
    };
    // Embedded: one instance consumes every partition of `.in`. Kafka: the partitions are
    // shared by the group's members.
    consumer_group_spec spec{validation_group, topics.in, 3, h, !shared_};
    auto consumers = start_consumers(*rt_, spec);
    std::lock_guard<std::mutex> g{mutex_};
    streams_[row.tenant + "/" + row.id] = std::move(consumers);
  }

  // The streams in the shared store against those consumed here: the new ones started, the
  // deleted ones stopped.
  void refresh_streams() {
    std::set<std::string> stored;
    for (auto& row : svc_->validated_streams()) {
      stored.insert(row.tenant + "/" + row.id);
      start_stream(row);
    }
    std::vector<std::string> gone;
    {
      std::lock_guard<std::mutex> g{mutex_};
      for (auto& [key, consumers] : streams_)
        if (!stored.count(key)) gone.push_back(key);
    }
    for (auto& key : gone) {
      auto slash = key.find('/');
      stop_stream(key.substr(0, slash), key.substr(slash + 1));
    }
  }

  void stop_stream(const std::string& tenant, const std::string& stream) {
    std::lock_guard<std::mutex> changing{changing_};
    topic_consumers consumers;
    {
      std::lock_guard<std::mutex> g{mutex_};
      auto it = streams_.find(tenant + "/" + stream);
      if (it == streams_.end()) return;
      consumers = std::move(it->second);
      streams_.erase(it);
    }
    // Drain: what the consumers hold is finished and committed before the topics go; then
    // leave the group (nothing is left to hand over).
    caf::scoped_actor self{rt_->sys};
    self->monitor(consumers.owner);
    self->send(consumers.owner, actors::drain_atom::value);
    self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >> [] {});
    consumers.membership.reset();
  }

  runtime* rt_ = nullptr;
  std::shared_ptr<hri::service> svc_;
  std::unique_ptr<jwt::verifier> verifier_;
  caf::actor registry_;
  bool shared_ = false;     // Kafka: batches shared by instances through the internal topic
  caf::weak_actor_ptr forwarder_;  // shared: appends to the internal topic
  caf::actor waiter_;       // shared: HTTP actions, answered from the store
  topic_consumers batch_consumers_;
  std::mutex changing_;  // one start or stop of a stream's consumers at a time
  std::mutex mutex_;
  std::map<std::string, topic_consumers> streams_;
};

}  // namespace

std::unique_ptr<flow> make_hri_flow() { return std::make_unique<hri_flow>(); }

}  // namespace medflow::app
