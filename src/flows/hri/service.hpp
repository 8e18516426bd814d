// The batches flow's entry: the operations that do not belong to one batch's actor (tenants,
// streams and their topics, batch creation, reads, dead-lettering a record that kept failing),
// and the transaction a batch's actor commits (its new state, the records it forwards or
// rejects, the notification of a status change). What happens to one record is in records.hpp.
#pragma once

#include "bus/log.hpp"
#include "core/metrics.hpp"
#include "flows/hri/records.hpp"
#include "flows/hri/store.hpp"
#include "store/database.hpp"

#include <array>
#include <exception>
#include <functional>

namespace medflow::flows::hri {

struct settings {
  bool validation = false;          // hri.validation.enabled
  int64_t completion_delay_ms = 300000;
  int64_t stuck_timeout_ms = 0;     // 0: a batch may wait for missing records forever
  // Register a stream over topics that exist already (created by a platform team, or a
  // broker that refuses CreateTopics) when their partition counts match, instead of 409.
  bool adopt_existing_topics = false;
  // Topics beyond its own namespace a tenant's batches may name (hri.topic_grants).
  topic_grants granted_topics;
};

class service {
 public:
  service(store::database& db, bus::log& bus, settings s);
  const settings& config() const { return s_; }

  // -- tenants (HRI's texts for 400/404) ----------------------------------------------------------
  medflow::status create_tenant(const std::string& tenant);
  std::vector<std::string> tenants();
  result<json> tenant_info(const std::string& tenant);
  medflow::status delete_tenant(const std::string& tenant);

  // -- streams -------------------------------------------------------------------------------------
  // Creates the stream's topics (in, notification; out and invalid with validation), then the
  // stream row; on failure the topics created here are removed again.
  result<stream_row> create_stream(const std::string& tenant, const std::string& stream,
                                   const stream_settings& s);
  std::vector<std::string> streams(const std::string& tenant);
  result<stream_row> delete_stream(const std::string& tenant, const std::string& stream);
  std::vector<stream_row> validated_streams();

  // -- batches -------------------------------------------------------------------------------------
  // Inserts the batch and writes its "started" notification in one transaction.
  result<batch> create_batch(const std::string& tenant, const create_batch& req,
                             const std::string& integrator);
  std::optional<batch> get_batch(const std::string& tenant, const std::string& id);
  std::pair<int64_t, std::vector<batch>> search(const std::string& tenant, const search_query& q,
                                                const std::optional<std::string>& integrator);
  std::vector<batch_key> batches_in(status s);

  // -- what a batch actor commits ---------------------------------------------------------------------
  struct commit {
    std::optional<batch> state;            // the batch row to write (nullopt: none)
    std::vector<batch> notifications;      // one per status change, in order
    std::vector<bus::message> records;     // to .out / .invalid
    std::vector<action_outcome> outcomes;  // of actions received by another instance
  };
  // One writer unit; `done` runs after the commit (nullptr) or with the failure.
  void apply(commit c, done_fn done);

  // The outcome of an action applied by its batch's owner (nullopt: not applied yet).
  std::optional<action_outcome> find_outcome(const std::string& request_id);

  // -- records that kept failing ------------------------------------------------------------------
  // Writes the record to the stream's .invalid topic (dead_letter_output); `done` as apply's.
  void dead_letter(const bus::record& r, const std::string& why, done_fn done);

 private:
  // medflow_hri_batch_status_total{status}: a committed status change (a batch created counts
  // as started).
  void count_status(status st);

  store::database& db_;
  bus::log& bus_;
  settings s_;
  std::array<metrics::counter*, 5> m_status_{};
};

}  // namespace medflow::flows::hri
