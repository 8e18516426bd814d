// The batches flow's tables: tenants, streams (with their topic settings) and batches (the
// searchable columns plus the whole batch, tracking counts included, as JSON).
#pragma once

#include "flows/hri/domain.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::hri {

std::vector<store::migration> migrations();

// -- tenants -------------------------------------------------------------------------------------------
bool tenant_exists(store::connection& c, const std::string& tenant);
// False when the tenant exists already (also one created at the same moment by another
// medflowd on a shared store: the insert waits for its commit, then adds nothing).
bool insert_tenant(store::connection& c, const std::string& tenant, int64_t now_ms);
std::vector<std::string> list_tenants(store::connection& c);
int64_t count_batches(store::connection& c, const std::string& tenant);
// Deletes the tenant and its batches (its streams' topics stay, as in HRI).
void delete_tenant(store::connection& c, const std::string& tenant);

// -- streams -------------------------------------------------------------------------------------------
struct stream_row {
  std::string tenant;
  std::string id;
  stream_settings settings;
  bool validation = false;
};
std::optional<stream_row> load_stream(store::connection& c, const std::string& tenant,
                                      const std::string& id);
std::vector<stream_row> all_streams(store::connection& c);
void insert_stream(store::connection& c, const stream_row& s, int64_t now_ms);
void delete_stream(store::connection& c, const std::string& tenant, const std::string& id);

// -- batches -------------------------------------------------------------------------------------------
std::optional<batch> load_batch(store::connection& c, const std::string& tenant,
                                const std::string& id);
void insert_batch(store::connection& c, const batch& b);
void update_batch(store::connection& c, const batch& b);
// Newest first; `integrator`: only that integrator's batches. Returns (total, page).
std::pair<int64_t, std::vector<batch>> search_batches(store::connection& c,
                                                      const std::string& tenant,
                                                      const search_query& q,
                                                      const std::optional<std::string>& integrator);
// The batches of any tenant in a status (start-up resumes their timers; each batch's actor
// loads its own row).
struct batch_key {
  std::string tenant, id;
};
std::vector<batch_key> batch_keys_with_status(store::connection& c, status s);

// -- outcomes of actions applied by a batch's owner (README "HRI batches across instances") ----
// The instance that received an action over HTTP waits for its row; the owner writes it in the
// transaction that applies the action, so a redelivered action finds it and is not applied twice.
struct action_outcome {
  std::string request_id;
  int status = 200;     // the HTTP status of the answer
  std::string message;  // the error text; empty on success
};
// False when the request's outcome was written already (it stays as first written).
bool insert_action_outcome(store::connection& c, const action_outcome& o, int64_t now_ms);
std::optional<action_outcome> load_action_outcome(store::connection& c,
                                                  const std::string& request_id);
// Deletes outcomes written before `before_ms`; returns how many.
int64_t prune_action_outcomes(store::connection& c, int64_t before_ms);

}  // namespace medflow::flows::hri
