#include "app/aggregation_flow.hpp"

#include "actors/completion_runner.hpp"
#include "actors/periodic.hpp"
#include "actors/splitter.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "http/aggregation_routes.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace medflow::app {

namespace agg = flows::aggregation;

namespace {

nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str(), nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(p.string() + " is not valid JSON: " + e.what());
  }
}

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

    http::aggregation_api api;
    load_services(rt.cfg.string("aggregation.services_dir"), rt.cfg.string("aggregation.tak_file"),
                  limits, cache, api);
    net::http_client::client::options ho;
    auto io = rt.cfg.integer("aggregation.io_threads");
    // One loop carries ~10,000 calls/s on a core of this class; more than 8 only add threads.
    ho.io_threads = io > 0 ? static_cast<int>(io)
                           : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    // The sources' answers reach their workers through one actor, a round of answers per
    // message (see actors/completion_runner.hpp).
    auto runner = rt.sys.spawn(actors::completion_runner);
    rt.own(runner);
    ho.deliver = actors::deliver_to(runner);
    ho.native_http = rt.cfg.boolean("aggregation.native_http");
    ho.tls.ca_file = rt.cfg.string("aggregation.tls.ca_file");
    ho.tls.cert_file = rt.cfg.string("aggregation.tls.cert_file");
    ho.tls.key_file = rt.cfg.string("aggregation.tls.key_file");
    ho.tls.key_password = rt.cfg.string("aggregation.tls.key_password");
    http_ = std::make_unique<net::http_client::client>(ho);
    auto url = rt.cfg.string("aggregation.engagement_index.url");
    if (url.empty()) {
      local_ = std::make_unique<agg::local_index>(rt.db);
      api.index = local_.get();
      api.local = local_.get();
    } else {
      remote_ = std::make_unique<agg::remote_index>(
          agg::remote_index::options{url, rt.cfg.string("aggregation.engagement_index.sender_id"),
                                     rt.cfg.string("aggregation.vp_instance_id"),
                                     limits.service_ms},
          *http_);
      api.index = remote_.get();
      api.local = nullptr;
    }
    api.own_logical_address = rt.cfg.string("aggregation.own_logical_address");
    api.vp_instance_id = rt.cfg.string("aggregation.vp_instance_id");

    // One answer cache per service that has caching on; one sweeper for all of them.
    int64_t sweep_every = INT64_MAX;
    for (auto& [n, s] : api.services)
      if (s->cache.enabled) {
        caches_[n] = std::make_unique<agg::answer_cache>(s->cache);
        sweep_every = std::min(sweep_every, s->cache.expiration_interval_ms);
      }
    if (!caches_.empty()) {
      auto* caches = &caches_;
      rt.own(rt.sys.spawn(actors::periodic, "aggregation cache sweep",
                          std::chrono::milliseconds(sweep_every), [caches] {
                            for (auto& [n, c] : *caches) c->sweep(clock::now_ms());
                          }));
    }

    auto* sys = &rt.sys;
    auto* http = http_.get();
    auto* caches = &caches_;
    api.fan_out = [sys, http, caches](const std::shared_ptr<const agg::service_definition>& s,
                                      std::vector<agg::source_call> calls, std::string body,
                                      std::vector<std::pair<std::string, std::string>> headers,
                                      std::function<void(nlohmann::json, int64_t)> reply) {
      auto job = std::make_shared<actors::fan_out>();
      job->service = s;
      job->calls = std::move(calls);
      job->request_body = std::move(body);
      job->headers = std::move(headers);
      job->http = http;
      auto c = caches->find(s->name);
      job->cache = c == caches->end() ? nullptr : c->second.get();
      job->reply = std::move(reply);
      sys->spawn(actors::splitter, std::shared_ptr<const actors::fan_out>(job));
    };
    log::info("aggregation", api.services.size(), " aggregating services, engagement index ",
              url.empty() ? std::string("local") : url);
    http::add_aggregation_routes(rt.http, std::move(api));
  }

 private:
  // Service files and the TAK; a file that is present but wrong stops start-up, naming it.
  static void load_services(const std::string& dir, const std::string& tak_file,
                            const agg::timeouts& limits, const agg::cache_settings& cache,
                            http::aggregation_api& api) {
    namespace fs = std::filesystem;
    api.tak = std::make_shared<agg::tak>();
    if (fs::exists(tak_file)) {
      auto t = agg::parse_tak(read_json_file(tak_file));
      if (!t) throw std::runtime_error(tak_file + ": " + t.err().message);
      api.tak = std::make_shared<agg::tak>(std::move(*t));
    } else {
      log::warn("aggregation", "no TAK file at ", tak_file, ": no source is authorized");
    }
    if (!fs::is_directory(dir)) {
      log::warn("aggregation", "no service directory at ", dir, ": no aggregating services");
      return;
    }
    std::vector<fs::path> files;
    for (auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".json") continue;
      if (fs::absolute(entry.path()) == fs::absolute(fs::path(tak_file))) continue;
      // The shipped directory holds the shipped TAK: with aggregation.tak_file pointed at
      // another one, it is still a TAK, not a service to refuse to start over.
      if (entry.path().filename() == "tak.json") {
        log::info("aggregation", "skipped ", entry.path().string(),
                  ": a TAK file (the one in use is ", tak_file, ")");
        continue;
      }
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      auto s = agg::parse_service(read_json_file(f), limits, cache);
      if (!s) throw std::runtime_error(f.string() + ": " + s.err().message);
      if (s->limits.aggregate_ms <= s->limits.service_ms)
        log::warn("aggregation", "service ", s->name, ": AGGREGATE_TIMEOUT_MS (",
                  s->limits.aggregate_ms, ") <= SERVICE_TIMEOUT_MS (", s->limits.service_ms,
                  "): sources slower than the aggregate timeout are reported as Unknown error");
      auto name = s->name;  // C++17 evaluates the right side of = first: it moves the name away
      api.services[name] = std::make_shared<agg::service_definition>(std::move(*s));
    }
  }

  std::unique_ptr<net::http_client::client> http_;
  std::unique_ptr<agg::local_index> local_;
  std::unique_ptr<agg::remote_index> remote_;
  std::map<std::string, std::unique_ptr<agg::answer_cache>> caches_;
};

}  // namespace

std::unique_ptr<flow> make_aggregation_flow() { return std::make_unique<aggregation_flow>(); }

}  // namespace medflow::app
