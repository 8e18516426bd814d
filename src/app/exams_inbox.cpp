#include "app/exams_inbox.hpp"

#include "actors/exams/notification_sender.hpp"
#include "actors/exams/results_scanner.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "flows/exams/local_inbox.hpp"
#include "flows/exams/result_intake.hpp"
#include "flows/exams/s3_inbox.hpp"
#include "store/lease.hpp"

#include <filesystem>

namespace medflow::app {

namespace {

exams::folder_names folders_of(const config& cfg) {
  exams::folder_names f;
  f.completed = cfg.string("exams.folders.completed");
  f.processed = cfg.string("exams.folders.processed");
  f.stuck = cfg.string("exams.folders.stuck");
  f.denied = cfg.string("exams.folders.denied");
  f.deleted = cfg.string("exams.folders.deleted");
  if (auto v = f.validate(); !v)
    throw config_error("invalid exams.folders (ZMED_S3_*_KEY): " + v.err().message);
  return f;
}

smtp::security smtp_security(const std::string& s) {
  if (s == "none") return smtp::security::none;
  if (s == "implicit") return smtp::security::implicit;
  return smtp::security::starttls;
}

}  // namespace

std::vector<store::migration> exams_inbox::migrations() {
  return exams::notifications::migrations();
}

exams_inbox::exams_inbox(runtime& rt, const crypto::key256& key) {
  const auto& cfg = rt.cfg;
  exams::notification_settings ns;
  ns.max_attempts = static_cast<int>(cfg.integer("exams.notify.max_attempts"));
  ns.retry_initial_ms = cfg.integer("exams.notify.retry_initial_ms");
  ns.retry_max_ms = cfg.integer("exams.notify.retry_max_ms");
  ns.subject = cfg.string("exams.notify.subject");
  ns.claim_ms = cfg.integer("exams.notify.claim_ms");
  if (ns.retry_max_ms < ns.retry_initial_ms)
    throw config_error("exams.notify.retry_max_ms is below exams.notify.retry_initial_ms");
  outbox_ = std::make_shared<exams::notifications>(rt.db, key, ns);

  auto folders = folders_of(cfg);
  if (!cfg.string("exams.s3.bucket").empty()) {
    exams::s3_inbox_options o;
    o.s3.bucket = cfg.string("exams.s3.bucket");
    o.s3.endpoint = cfg.string("exams.s3.endpoint");
    o.s3.region = cfg.string("exams.s3.region");
    o.s3.access_key = cfg.string("exams.s3.access_key");
    o.s3.secret_key = cfg.string("exams.s3.secret_key");
    o.s3.path_style = cfg.boolean("exams.s3.path_style");
    o.s3.timeout_ms = cfg.integer("exams.s3.timeout_ms");
    o.folders = folders;
    o.poll_interval_ms = cfg.integer("exams.s3.poll_interval_ms");
    where_ = "s3 bucket " + o.s3.bucket + " at " + o.s3.endpoint;
    inbox_ = std::make_shared<exams::s3_inbox>(o);
  } else {
    exams::local_inbox_options o;
    o.root = cfg.string("exams.inbox.dir");
    if (o.root.empty())
      o.root = (std::filesystem::path(cfg.string("store.data_dir")) / "exam_results").string();
    o.folders = folders;
    o.rescan_interval_ms = cfg.integer("exams.inbox.rescan_interval_ms");
    o.settle_ms = cfg.integer("exams.inbox.settle_ms");
    where_ = "directory " + o.root;
    inbox_ = std::make_shared<exams::local_inbox>(o);
  }
}

exams_inbox::~exams_inbox() = default;

exams::result_listener exams_inbox::on_result() const {
  return exams::notify_on_result(outbox_, clock::now_ms);
}

void exams_inbox::start(runtime& rt, exams::service& svc) {
  const auto& cfg = rt.cfg;

  smtp::options so;
  so.host = cfg.string("exams.notify.smtp_host");
  so.port = static_cast<int>(cfg.integer("exams.notify.smtp_port"));
  so.tls = smtp_security(cfg.string("exams.notify.smtp_tls"));
  so.username = cfg.string("exams.notify.smtp_username");
  so.password = cfg.string("exams.notify.smtp_password");
  so.timeout_ms = cfg.integer("exams.notify.smtp_timeout_ms");
  auto mail = std::make_shared<smtp::client>(so);
  http_ = std::make_unique<net::http_client::client>();
  auto* http = http_.get();
  actors::notification_transports t;
  t.send_mail = [mail](const smtp::message& m) { return mail->send(m); };
  t.call = [http](net::http_client::request r, std::function<void(net::http_client::response)> d) {
    http->call(std::move(r), std::move(d));
  };
  actors::sender_settings ss;
  ss.mail_from = cfg.string("exams.notify.from");
  ss.sms_url = cfg.string("exams.notify.sms_url");
  ss.sms_timeout_ms = cfg.integer("exams.notify.sms_timeout_ms");
  ss.now = clock::now_ms;
  // Rows another instance claimed and died with: looked for once per claim length.
  if (rt.db.backend() == store::backend::postgres)
    ss.idle_poll_ms = cfg.integer("exams.notify.claim_ms");
  auto outbox = outbox_;
  auto sender = rt.sys.spawn(
      actors::supervisor, std::string("notification_sender"),
      std::function<caf::actor(caf::actor_system&)>([outbox, t, ss](caf::actor_system& sys) {
        auto a = sys.spawn<caf::detached>(actors::notification_sender, outbox, t, ss);
        // A weak handle: the outbox must not keep a stopped sender alive.
        outbox->on_enqueued([addr = a.address()] {
          if (auto s = caf::actor_cast<caf::actor>(addr)) caf::anon_send(s, actors::wake_atom::value);
        });
        return a;
      }),
      rt.restart, &rt.h);
  rt.own(sender);

  actors::results_settings rs;
  rs.workers = static_cast<size_t>(cfg.integer("exams.inbox.workers"));
  // Read under the service's own cap: a bigger file goes to stuck unread.
  rs.max_file_bytes = svc.config().max_result_bytes;
  rs.page_files = static_cast<size_t>(cfg.integer("exams.inbox.page_files"));
  if (rt.db.backend() == store::backend::postgres) {
    // Several instances may share the inbox (a bucket, a shared directory) with the store:
    // one scans at a time.
    auto lease = std::make_shared<store::lease>(rt.db, "exams.inbox", cfg.integer("store.lease_ms"),
                                                clock::now_ms);
    rs.claim = [lease] { return lease->held(); };
    rs.unclaim = [lease] { lease->release(); };
  }
  auto inbox = inbox_;
  auto apply = exams::apply_with(svc, on_result());
  auto scanner = rt.sys.spawn(
      actors::supervisor, std::string("results_scanner"),
      std::function<caf::actor(caf::actor_system&)>([inbox, apply, rs](caf::actor_system& sys) {
        return sys.spawn<caf::detached>(actors::results_scanner, inbox, apply, rs);
      }),
      rt.restart, &rt.h);
  rt.own(scanner);
  log::info("exams", "results inbox: ", where_, ", ", rs.workers, " workers; notifications by ",
            "e-mail via ", so.host, ":", so.port,
            ss.sms_url.empty() ? std::string(", no SMS gateway") : ", SMS via " + ss.sms_url);
}

}  // namespace medflow::app
