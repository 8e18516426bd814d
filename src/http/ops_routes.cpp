#include "http/ops_routes.hpp"

#include "core/health.hpp"
#include "core/metrics.hpp"
#include "http/server.hpp"

namespace medflow::http {

void add_ops_routes(server& srv, health& h) {
  metrics::register_process_metrics(metrics::registry::global());
  srv.add(
      "GET", "/healthz",
      [](const net::request&, net::response& res, const params&) {
        send_json(res, 200, {{"status", "alive"}});
      },
      true);

  srv.add(
      "GET", "/readyz",
      [&h](const net::request&, net::response& res, const params&) {
        auto checks = h.evaluate();
        bool ready = true;
        nlohmann::json list = nlohmann::json::array();
        for (auto& c : checks) {
          ready = ready && c.ok;
          nlohmann::json item = {{"name", c.name}, {"ok", c.ok}};
          if (!c.ok) item["detail"] = c.detail;
          list.push_back(item);
        }
        send_json(res, ready ? 200 : 503,
                  {{"status", ready ? "ready" : "not ready"}, {"checks", list}});
      });

  srv.add(
      "GET", "/metrics",
      [](const net::request&, net::response& res, const params&) {
        res.status = 200;
        res.set_content(metrics::registry::global().render(), metrics::content_type);
      },
      true);

  srv.add(
      "GET", "/openapi.json",
      [&srv](const net::request&, net::response& res, const params&) {
        send_json(res, 200, srv.openapi());
      });  // on the pool: a few hundred kB of JSON to build
}

}  // namespace medflow::http
