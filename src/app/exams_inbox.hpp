// Wires the exams flow's results inbox and notifications (issue 17, part 2): the inbox (a local
// directory watched with inotify, or an S3 bucket when exams.s3.bucket / ZMED_S3_BUCKET is
// set), the supervised results scanner with its workers, the notification outbox and its
// supervised sender (SMTP e-mail, SMS over an HTTP gateway). The exams flow (app/exams_flow)
// builds one, hands on_result() to the service's settings, and calls start() once the service
// exists.
#pragma once

#include "app/flow.hpp"
#include "core/crypto.hpp"
#include "flows/exams/inbox.hpp"
#include "flows/exams/notifications.hpp"
#include "flows/exams/service.hpp"
#include "net/http_client.hpp"

#include <memory>
#include <vector>

namespace medflow::app {

class exams_inbox {
 public:
  // The outbox's tables (module "exam_notifications"), for the flow's migrations().
  static std::vector<store::migration> migrations();

  // Reads the exams.inbox.*, exams.s3.*, exams.folders.* and exams.notify.* keys; throws
  // config_error / std::invalid_argument for a bad value. `key` seals the addresses at rest.
  exams_inbox(runtime& rt, const crypto::key256& key);
  ~exams_inbox();

  // Enqueues the notification of a processed result in its transaction (settings::on_result
  // of the service, and the results workers' in_tx).
  exams::result_listener on_result() const;

  // Spawns the notification sender and the results scanner (both supervised, both drained at
  // shutdown). Call once; `svc` must outlive the actor system.
  void start(runtime& rt, exams::service& svc);

  exams::notifications& outbox() { return *outbox_; }

 private:
  std::shared_ptr<exams::notifications> outbox_;
  std::shared_ptr<exams::inbox> inbox_;
  std::unique_ptr<net::http_client::client> http_;  // the SMS gateway's calls
  std::string where_;                               // for the start-up log line
};

}  // namespace medflow::app
