#include "app/exams_flow.hpp"

#include "app/exams_inbox.hpp"
#include "app/resource_events_flow.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "flows/exams/service.hpp"
#include "http/exams_routes.hpp"
#include "net/http_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace medflow::app {

namespace ex = medflow::exams;
namespace re = flows::resource_events;

namespace {

// Keys left empty in the configuration: generated once and kept in <data_dir>/exams_keys.json
// (mode 0600), so the embedded default runs with nothing configured and tokens and sealed
// values survive a restart. A deployment sets KEY_CRYPTO, ZMED_JWT_KEY and
// exams.result_token_key (MEDFLOW_EXAMS_RESULT_TOKEN_KEY) instead.
struct generated_keys {
  std::string crypto_key;
  std::string jwt_key;
  std::string result_token_key;
};

generated_keys load_or_generate_keys(const std::string& data_dir) {
  auto path = (std::filesystem::path(data_dir) / "exams_keys.json").string();
  generated_keys k;
  std::ifstream in(path);
  if (in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    auto doc = parse_json_limited(ss.str());
    if (!doc || !doc->is_object())
      throw std::runtime_error(path + ": not the JSON object medflowd wrote; remove it only if "
                               "no patient or token depends on it");
    auto get = [&](const char* n) {
      auto it = doc->find(n);
      if (it == doc->end() || !it->is_string() || it->get_ref<const std::string&>().empty())
        throw std::runtime_error(path + ": " + n + " missing");
      return it->get<std::string>();
    };
    k.crypto_key = get("crypto_key");
    k.jwt_key = get("jwt_key");
    k.result_token_key = get("result_token_key");
    return k;
  }
  k.crypto_key = ids::random_hex(32);
  k.jwt_key = ids::random_hex(32);
  k.result_token_key = ids::random_hex(32);
  // Durable before anything is sealed or signed with them: written, fsynced, renamed, and the
  // directory fsynced.
  auto tmp = path + ".tmp";
  std::string text = nlohmann::json{{"crypto_key", k.crypto_key},
                                    {"jwt_key", k.jwt_key},
                                    {"result_token_key", k.result_token_key}}
                         .dump(2) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  log::warn("exams", "no KEY_CRYPTO / ZMED_JWT_KEY / exams.result_token_key configured: generated "
                     "development keys in ", path);
  return k;
}

class exams_flow : public flow {
 public:
  std::string name() const override { return "exams"; }
  std::vector<store::migration> migrations() const override {
    auto ms = ex::migrations();
    for (auto& m : exams_inbox::migrations()) ms.push_back(m);
    return ms;
  }

  void start(runtime& rt) override {
    if (!rt.cfg.boolean("exams.enabled")) return;
    const auto& cfg = rt.cfg;
    ex::settings s;
    std::string crypto_hex = cfg.string("exams.crypto_key");
    s.exam_token_key = cfg.string("exams.jwt_key");
    s.result_token_key = cfg.string("exams.result_token_key");
    if (crypto_hex.empty() || s.exam_token_key.empty() || s.result_token_key.empty()) {
      auto g = load_or_generate_keys(cfg.string("store.data_dir"));
      if (crypto_hex.empty()) crypto_hex = g.crypto_key;
      if (s.exam_token_key.empty()) s.exam_token_key = g.jwt_key;
      if (s.result_token_key.empty()) s.result_token_key = g.result_token_key;
    }
    auto key = crypto::parse_key_hex(crypto_hex);
    if (!key)
      throw std::runtime_error("invalid value for exams.crypto_key (KEY_CRYPTO): " +
                               key.err().message);
    s.crypto_key = *key;
    s.exam_token_ttl_s = cfg.integer("exams.exam_token_ttl_s");
    s.clock_skew_s = cfg.integer("exams.token_clock_skew_s");
    s.types = ex::load_catalog(cfg.string("exams.catalog_file"));
    s.max_result_bytes = static_cast<size_t>(cfg.integer("exams.max_result_bytes"));
    s.patient_manager_url = cfg.string("exams.patient_manager_host");
    s.patient_manager_timeout_ms = cfg.integer("exams.patient_manager_timeout_ms");
    s.max_exams_listed = static_cast<size_t>(cfg.integer("exams.max_exams_listed"));
    if (!s.patient_manager_url.empty()) {
      auto u = s.patient_manager_url;
      if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0)
        throw std::runtime_error("invalid value for exams.patient_manager_host "
                                 "(ZMED_PATIENT_MANAGER_HOST): expected an http:// or https:// "
                                 "URL, got \"" + u + "\"");
      net::http_client::client::options o;
      o.max_response_bytes = s.max_patient_answer_bytes;
      http_ = std::make_unique<net::http_client::client>(o);
    }
    if (cfg.boolean("events.enabled")) {
      // Exam changes are resource changes: published in the transaction that commits them.
      events_ = make_event_publisher(cfg, rt.bus);
      s.on_change = publish_exam_changes(*events_);
    }
    // The results inbox and the notifications: a processed result (a file or
    // /exams/communicate) enqueues its notification in the transaction that records it.
    inbox_ = std::make_unique<exams_inbox>(rt, s.crypto_key);
    s.on_result = inbox_->on_result();
    svc_ = std::make_unique<ex::service>(rt.db, std::move(s), http_.get());
    svc_->check_sealing_key();
    inbox_->start(rt, *svc_);
    http::add_exams_routes(rt.http, *svc_);
    log::info("exams", "exams flow: ", svc_->config().types.types.size(), " exam types, patients ",
              svc_->external_patients() ? "at " + svc_->config().patient_manager_url
                                        : std::string("built in"));
  }

 private:
  std::unique_ptr<net::http_client::client> http_;
  std::unique_ptr<re::service> events_;
  std::unique_ptr<ex::service> svc_;
  std::unique_ptr<exams_inbox> inbox_;  // destroyed before svc_, which its workers call
};

}  // namespace

std::unique_ptr<flow> make_exams_flow() { return std::make_unique<exams_flow>(); }

}  // namespace medflow::app
