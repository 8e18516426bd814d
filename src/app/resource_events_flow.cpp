#include "app/resource_events_flow.hpp"

#include "actors/periodic.hpp"
#include "actors/resource_events/delivery_pool.hpp"
#include "actors/resource_events/subscription_hub.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "flows/resource_events/subscription_service.hpp"
#include "http/resource_events_routes.hpp"
#include "net/http_client.hpp"
#include "store/lease.hpp"

#include <atomic>
#include <set>
#include <stdexcept>

namespace medflow::app {

namespace me = flows::medical_events;
namespace re = flows::resource_events;

std::vector<std::string> published_kinds() {
  auto kinds = me::kind_names();
  kinds.push_back(exams::exam_kind);
  return kinds;
}

std::unique_ptr<re::service> make_event_publisher(const config& cfg, bus::log& bus) {
  re::file_limits limits;
  limits.max_bytes = static_cast<uint64_t>(cfg.integer("events.config_max_bytes"));
  limits.max_depth = static_cast<int>(cfg.integer("events.config_max_depth"));
  re::settings s;
  s.base_url = cfg.string("events.base_url");
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  // References are absolute URLs (Part B.3).
  auto scheme_end = s.base_url.find("://");
  if (scheme_end == std::string::npos || scheme_end + 3 >= s.base_url.size() ||
      (s.base_url.compare(0, scheme_end, "http") != 0 &&
       s.base_url.compare(0, scheme_end, "https") != 0))
    throw std::runtime_error("invalid value for events.base_url: expected an absolute http:// "
                             "or https:// URL, got \"" + cfg.string("events.base_url") + "\"");
  auto events = std::make_unique<re::service>(
      bus, re::load_mapping(cfg.string("events.config_file"), published_kinds(), limits), s);
  events->create_topics(static_cast<int32_t>(cfg.integer("events.partitions")));
  return events;
}

me::change_listener publish_changes(re::service& events) {
  return [&events](store::tx& t, const me::committed_change& c) {
    re::change rc;
    rc.kind = me::kind_name(c.change.k);
    rc.id = c.change.id;
    rc.patient_id = c.change.patient_id;
    switch (c.change.change) {
      case me::change_kind::created: rc.type = re::change_type::created; break;
      case me::change_kind::updated: rc.type = re::change_type::updated; break;
      case me::change_kind::deleted: rc.type = re::change_type::deleted; break;
    }
    rc.version_before = c.version_before;
    rc.version_after = c.version_after;
    rc.before = c.before;
    rc.after = c.after;
    events.publish_in(t, rc);
  };
}

exams::change_listener publish_exam_changes(re::service& events) {
  return [&events](store::tx& t, const exams::exam_change& c) {
    nlohmann::json before = c.before ? to_json(*c.before) : nlohmann::json();
    nlohmann::json after = to_json(c.after);
    re::change rc;
    rc.kind = exams::exam_kind;
    rc.id = c.after.id;
    rc.patient_id = c.after.patient_id;
    rc.type = c.before ? re::change_type::updated : re::change_type::created;
    rc.version_before = c.before ? c.before->version : 0;
    rc.version_after = c.after.version;
    rc.before = c.before ? &before : nullptr;
    rc.after = &after;
    events.publish_in(t, rc);
  };
}


namespace {

class resource_events_flow : public flow {
 public:
  std::string name() const override { return "resource_events"; }
  std::vector<store::migration> migrations() const override { return re::migrations(); }

  void start(runtime& rt) override {
    if (!rt.cfg.boolean("subscriptions.enabled")) return;
    re::service_settings s;
    s.max_subscriptions = static_cast<std::size_t>(rt.cfg.integer("subscriptions.max_count"));
    s.spec.max_selector_bytes =
        static_cast<std::size_t>(rt.cfg.integer("subscriptions.max_selector_bytes"));
    s.max_cursor_bytes = static_cast<std::size_t>(rt.cfg.integer("subscriptions.max_cursor_bytes"));
    s.cache_records = static_cast<std::size_t>(rt.cfg.integer("subscriptions.read_cache_records"));
    svc_ = std::make_unique<re::subscription_service>(rt.db, rt.bus, s);
    svc_->create_topics();

    // Webhook calls: the daemon's non-blocking client, its own I/O thread.
    net::http_client::client::options ho;
    ho.max_response_bytes = static_cast<size_t>(rt.cfg.integer("subscriptions.webhook.max_response_bytes"));
    webhooks_ = std::make_unique<net::http_client::client>(ho);

    auto deps = std::make_shared<actors::subscription_deps>();
    deps->svc = svc_.get();
    deps->bus = &rt.bus;
    auto& d = deps->settings;
    d.max_wait_ms = rt.cfg.integer("subscriptions.pull.max_wait_ms");
    d.max_waiting = static_cast<std::size_t>(rt.cfg.integer("subscriptions.pull.max_waiting"));
    d.webhook_timeout_ms = rt.cfg.integer("subscriptions.webhook.timeout_ms");
    d.backoff_initial =
        std::chrono::milliseconds(rt.cfg.integer("subscriptions.webhook.backoff_initial_ms"));
    d.backoff_max = std::chrono::milliseconds(rt.cfg.integer("subscriptions.webhook.backoff_max_ms"));
    d.max_attempts = static_cast<int>(rt.cfg.integer("subscriptions.webhook.max_attempts"));
    // Pulls are collected on the delivery threads, not on the actors' scheduler.
    pool_ = std::make_unique<actors::delivery_pool>(
        static_cast<std::size_t>(rt.cfg.integer("subscriptions.delivery_threads")));
    auto* pool = pool_.get();
    deps->deliver = [pool](std::function<void()> task) { pool->run(std::move(task)); };
    auto* client = webhooks_.get();
    deps->post = [client](net::http_client::request r,
                          std::function<void(net::http_client::response)> done) {
      client->call(std::move(r), std::move(done));
    };
    // A shared store (several instances): one instance at a time posts the webhooks, the one
    // holding the store lease "subscriptions.webhooks" (else each instance running a webhook
    // subscription's actor would post every event once per instance).
    bool shared_store = rt.db.backend() == store::backend::postgres;
    if (shared_store) {
      webhook_lease_ = std::make_shared<store::lease>(rt.db, "subscriptions.webhooks",
                                                      rt.cfg.integer("store.lease_ms"),
                                                      clock::now_ms);
      // The actors only read what the periodic below learnt (no store round trip, no lock on
      // a scheduler thread): until when the lease is known to be ours. A renewal that comes
      // late (a slow store) stops the posts at the expiry, before another instance may start.
      post_until_ = std::make_shared<std::atomic<int64_t>>(0);
      deps->may_post = [until = post_until_] { return clock::now_ms() < until->load(); };
    }
    hub_ = std::make_unique<actors::subscription_hub>(rt.sys, std::move(deps), rt.restart, &rt.h);
    if (shared_store) {
      // Owned before the hub, so drained after it (newest first): the lease is given up once
      // the webhook actors have stopped, and while the store is still open; the next holder
      // need not wait for the expiry.
      auto lease = webhook_lease_;
      auto until = post_until_;
      rt.own(rt.sys.spawn<caf::detached>(actors::at_drain, std::function<void()>([lease, until] {
                                           until->store(0);
                                           lease->release();
                                         })));
    }
    rt.own(hub_->actor());
    // One actor per stored subscription, from the start.
    for (const auto& sub : svc_->list()) hub_->start(sub.at("id").get<std::string>());
    if (shared_store)
      // Renews the lease while held, takes it over when its holder is gone (store.lease_ms), and
      // keeps this instance's actors in step with the store: a webhook subscription created
      // through another instance starts here, one deleted there stops here, and while the lease
      // is this instance's its webhook actors are woken each round, so a paused one goes on
      // from the durable positions however its pause began.
      rt.own(rt.sys.spawn<caf::detached>(
          actors::periodic, "webhook subscriptions",
          std::chrono::milliseconds(rt.cfg.integer("store.lease_ms") / 3),
          [this] { refresh_webhooks(); }));

    auto* hub = hub_.get();
    http::subscriptions_api api{*svc_};
    api.max_events = rt.cfg.integer("subscriptions.pull.max_events");
    api.max_wait_ms = d.max_wait_ms;
    api.heartbeat_ms = rt.cfg.integer("subscriptions.stream.heartbeat_s") * 1000;
    // A shared store (several instances): a subscription created through another instance is
    // served here too; its actor starts on its first pull or stream. A webhook subscription's
    // actor runs on every instance (started here or by the periodic refresh above) and posts
    // on the lease holder only; a pull never starts it.
    auto* svc = svc_.get();
    api.pull = [hub, svc, shared = shared_store](const std::string& id, std::optional<re::positions> from,
                                  std::size_t max, int64_t wait_ms,
                                  http::subscriptions_api::reply_fn reply,
                                  std::function<bool()> gone) {
      auto req = std::make_shared<actors::pull_request>(std::move(from), max, wait_ms,
                                                        std::move(reply), std::move(gone));
      if (shared && !hub->find(id)) {
        auto sub = svc->get(id);
        if (sub && sub->at("delivery").value("mode", "") == "webhook")
          return req->fail(re::webhook_has_no_pull(id));
        if (sub) hub->start(id);
      }
      hub->pull(id, std::move(req));
    };
    api.created = [hub](const std::string& id) { hub->start(id); };
    api.deleted = [hub](const std::string& id) { hub->stop(id); };
    http::add_resource_events_routes(rt.http, api);
  }

 private:
  // On a shared store, every store.lease_ms / 3 (see start).
  void refresh_webhooks() {
    bool held = webhook_lease_->held();
    post_until_->store(held ? webhook_lease_->held_until() : 0);
    // Running here before the store is read: an actor started after the read is a subscription
    // created since, not one deleted elsewhere.
    auto running = hub_->ids();
    std::set<std::string> stored;
    for (const auto& sub : svc_->list()) {
      auto id = sub.at("id").get<std::string>();
      stored.insert(id);
      bool webhook = sub.at("delivery").value("mode", "") == "webhook";
      if (!webhook) continue;
      if (auto a = hub_->find(id)) {
        if (held) caf::anon_send(a, actors::wake_atom::value);
      } else if (svc_->get(id)) {  // not deleted since the list was read
        hub_->start(id);
      }
    }
    for (const auto& id : running)
      if (!stored.count(id)) hub_->stop(id);
  }

  std::unique_ptr<re::subscription_service> svc_;
  // After svc_: its threads end before the service goes. The actors drain first (none quits
  // with a round out), so nothing is queued by then.
  std::unique_ptr<actors::delivery_pool> pool_;
  std::unique_ptr<net::http_client::client> webhooks_;
  std::unique_ptr<actors::subscription_hub> hub_;
  std::shared_ptr<store::lease> webhook_lease_;  // shared store only
  std::shared_ptr<std::atomic<int64_t>> post_until_;  // ms; shared store only
};

}  // namespace

std::unique_ptr<flow> make_resource_events_flow() {
  return std::make_unique<resource_events_flow>();
}

}  // namespace medflow::app
