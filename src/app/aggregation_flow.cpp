#include "app/aggregation_flow.hpp"

#include "actors/aggregation/aggregator.hpp"
#include "actors/aggregation/lookup.hpp"
#include "actors/aggregation/splitter.hpp"
#include "actors/spawn.hpp"
#include "actors/completion_runner.hpp"
#include "actors/periodic.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/jwt.hpp"
#include "core/log.hpp"
#include "flows/aggregation/service.hpp"
#include "http/aggregation_routes.hpp"

#include <algorithm>
#include <thread>

namespace medflow::app {

namespace agg = flows::aggregation;

namespace {

class aggregation_flow : public flow {
 public:
  std::string name() const override { return "aggregation"; }
  std::vector<store::migration> migrations() const override { return agg::index_migrations(); }

  void start(runtime& rt) override {
    if (!rt.cfg.boolean("aggregation.enabled")) return;
    agg::timeouts limits;
    limits.service_ms = rt.cfg.integer("aggregation.service_timeout_ms");
    limits.aggregate_ms = rt.cfg.integer("aggregation.aggregate_timeout_ms");
    limits.aggregated_service_ms = rt.cfg.integer("aggregation.aggregated_service_timeout_ms");
    agg::cache_settings cache;
    cache.enabled = rt.cfg.boolean("aggregation.cache.enabled");
    cache.max_entries = rt.cfg.integer("aggregation.cache.max_entries");
    cache.ttl_ms = rt.cfg.integer("aggregation.cache.ttl_ms");
    cache.expiration_interval_ms = rt.cfg.integer("aggregation.cache.expiration_interval_ms");
    cache.stale_ms = rt.cfg.integer("aggregation.cache.stale_ms");
    auto catalog = agg::load_catalog(rt.cfg.string("aggregation.services_dir"),
                                     rt.cfg.string("aggregation.tak_file"), limits, cache);

    net::http_client::client::options ho;
    auto io = rt.cfg.integer("aggregation.io_threads");
    // One loop carries ~10,000 calls/s on a core of this class; more than 8 only add threads.
    ho.io_threads = io > 0 ? static_cast<int>(io)
                           : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    // The sources' answers reach their workers through one actor, a round of answers per
    // message (see actors/completion_runner.hpp).
    auto runner = actors::spawn_without_args(rt.sys, actors::completion_runner);
    rt.own(runner);
    ho.deliver = actors::deliver_to(runner);
    ho.native_http = rt.cfg.boolean("aggregation.native_http");
    ho.max_response_bytes = static_cast<size_t>(rt.cfg.integer("aggregation.max_response_bytes"));
    ho.tls.ca_file = rt.cfg.string("aggregation.tls.ca_file");
    ho.tls.cert_file = rt.cfg.string("aggregation.tls.cert_file");
    ho.tls.key_file = rt.cfg.string("aggregation.tls.key_file");
    ho.tls.key_password = rt.cfg.string("aggregation.tls.key_password");
    http_ = std::make_unique<net::http_client::client>(ho);

    agg::settings s;
    s.own_logical_address = rt.cfg.string("aggregation.own_logical_address");
    s.vp_instance_id = rt.cfg.string("aggregation.vp_instance_id");
    s.index_url = rt.cfg.string("aggregation.engagement_index.url");
    s.index_sender_id = rt.cfg.string("aggregation.engagement_index.sender_id");
    s.index_timeout_ms = limits.service_ms;
    s.max_engagements = static_cast<size_t>(rt.cfg.integer("aggregation.max_engagements"));
    actors::aggregate_timeouts();  // in /metrics from the start
    // A request's fan-out: a splitter starts its aggregator and source workers.
    auto* sys = &rt.sys;
    auto* http = http_.get();
    auto fan_out = [sys, http](agg::fan_out_request req) {
      auto job = std::make_shared<actors::fan_out>();
      static_cast<agg::fan_out_request&>(*job) = std::move(req);
      job->http = http;
      sys->spawn(actors::splitter, std::shared_ptr<const actors::fan_out>(std::move(job)));
    };
    // A request's index lookup and request list run on a lookup actor, off the HTTP threads.
    svc_ = std::make_unique<agg::service>(std::move(catalog), s, rt.db, http, fan_out,
                                          actors::run_on_lookup(rt.sys));

    // One sweeper for the answer caches of every service that caches.
    if (auto every = svc_->sweep_interval_ms()) {
      auto* svc = svc_.get();
      rt.own(rt.sys.spawn(actors::periodic, "aggregation cache sweep",
                          std::chrono::milliseconds(*every),
                          [svc] { svc->sweep_caches(clock::now_ms()); }));
    }
    log::info("aggregation", svc_->services().size(), " aggregating services, engagement index ",
              s.index_url.empty() ? std::string("local") : s.index_url);
    // Writes to the engagement index need a token with the scope agp_admin.
    if (!rt.cfg.boolean("aggregation.auth.disabled")) {
      jwt::verifier_options vo;
      vo.hs256_secret = rt.cfg.string("aggregation.auth.hs256_secret");
      vo.public_keys_file = rt.cfg.string("aggregation.auth.public_keys_file");
      vo.issuer = rt.cfg.string("aggregation.auth.issuer");
      vo.audience = rt.cfg.string("aggregation.auth.audience");
      if (vo.hs256_secret.empty() && vo.public_keys_file.empty())
        log::warn("aggregation",
                  "authentication is on but no keys are configured: every engagement index "
                  "write will be refused (set aggregation.auth.hs256_secret or "
                  "aggregation.auth.public_keys_file, or aggregation.auth.disabled=true for "
                  "development)");
      index_writers_ = std::make_unique<jwt::verifier>(vo);
    }
    http::add_aggregation_routes(rt.http, *svc_, index_writers_.get());
  }

 private:
  std::unique_ptr<jwt::verifier> index_writers_;
  std::unique_ptr<net::http_client::client> http_;
  std::unique_ptr<agg::service> svc_;
};

}  // namespace

std::unique_ptr<flow> make_aggregation_flow() { return std::make_unique<aggregation_flow>(); }

}  // namespace medflow::app
