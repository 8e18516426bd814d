#include "app/hri_flow.hpp"

#include "actors/hri/batch_registry.hpp"
#include "app/consumers.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/jwt.hpp"
#include "core/log.hpp"
#include "flows/hri/service.hpp"
#include "http/hri_routes.hpp"

#include <map>
#include <mutex>

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

    registry_ = rt.sys.spawn(actors::batch_registry, svc_, actors::now_fn{clock::now_ms});
    rt.own(registry_);  // drained after the consumers registered below

    for (auto& stream : svc_->validated_streams()) start_stream(stream);
    // Batches waiting for their completion delay or stuck timeout resume them now.
    for (auto& b : svc_->batches_in(hri::status::send_completed))
      caf::anon_send(registry_, actors::wake_atom::value, b.tenant, b.id);

    auto registry = registry_;
    http::add_hri_routes(
        rt.http,
        {*svc_, verifier_.get(), rt.h,
         [registry](hri::action_request r, hri::principal who, std::string tenant,
                    std::string id, std::function<void(int, std::string)> reply) {
           caf::anon_send(registry, actors::batch_action_atom::value,
                          actors::batch_action{std::move(tenant), std::move(id), std::move(r),
                                               std::move(who), std::move(reply)});
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
  // Consumers of one stream's .in topic: a record is judged (its validator runs) on the
  // consumer's side and goes straight to its batch's actor, which decides and commits.
  void start_stream(const hri::stream_row& row) {
    auto topics = hri::topics_of(row.tenant, row.id);
    std::shared_ptr<const hri::validator> validator = hri::make_validator(row.settings.validator);
    auto registry = registry_;
    auto svc = svc_;
    auto tenant = row.tenant;
    auto h = std::make_shared<actors::record_handlers>();
    h->mode = actors::record_handlers::order::in_log_order;
    h->process = [registry, validator, tenant](const bus::record& r, done_fn done) {
      caf::anon_send(registry, actors::batch_record_atom::value,
                     actors::batch_record{hri::judge(tenant, *validator, r), std::move(done)});
    };
    h->dead_letter = [svc](const bus::record& r, const std::string& why, done_fn done) {
      svc->dead_letter(r, why, std::move(done));
    };
    // Every instance consumes every partition of `.in`, as before consumer groups: a batch's
    // records arrive on all of them and its completion is counted by one batch actor, which
    // must see them all (README: "HRI batches across instances").
    consumer_group_spec spec{validation_group, topics.in, 3, h, true};
    auto consumers = start_consumers(*rt_, spec);
    std::lock_guard<std::mutex> g{mutex_};
    streams_[row.tenant + "/" + row.id] = std::move(consumers);
  }

  void stop_stream(const std::string& tenant, const std::string& stream) {
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
  std::mutex mutex_;
  std::map<std::string, topic_consumers> streams_;
};

}  // namespace

std::unique_ptr<flow> make_hri_flow() { return std::make_unique<hri_flow>(); }

}  // namespace medflow::app
