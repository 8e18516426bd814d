#include "app/resource_events_flow.hpp"

#include "core/config.hpp"
#include "flows/resource_events/subscription_service.hpp"
#include "http/resource_events_routes.hpp"

namespace medflow::app {

namespace re = flows::resource_events;

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
    svc_ = std::make_unique<re::subscription_service>(rt.db, rt.bus, s);
    http::add_resource_events_routes(rt.http,
                                     {*svc_, rt.cfg.integer("subscriptions.pull.max_events")});
  }

 private:
  std::unique_ptr<re::subscription_service> svc_;
};

}  // namespace

std::unique_ptr<flow> make_resource_events_flow() {
  return std::make_unique<resource_events_flow>();
}

}  // namespace medflow::app
