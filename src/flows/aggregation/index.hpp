// The engagement index: local (SQLite tables of the daemon's database, fed by the Update
// endpoint) by default, or an external index reached over HTTP (its find-content URL).
#pragma once

#include "net/http_client.hpp"
#include "flows/aggregation/domain.hpp"
#include "store/database.hpp"

#include <memory>
#include <string>
#include <vector>

namespace medflow::flows::aggregation {

class engagement_index {
 public:
  virtual ~engagement_index() = default;
  // The engagements matching `f`, at most `max` (aggregation.max_engagements): more is 502
  // engagement_index_too_large naming the limit, so one patient's lookup cannot take
  // unbounded memory and time. A failure is 502 (the index answered badly or could not be
  // reached) or 504 (it did not answer in time): it fails the whole aggregated request.
  virtual result<std::vector<engagement>> find(const find_content& f, const caller& c,
                                               size_t max) = 0;
};

// The error of a lookup that found more than `max` engagements.
error too_many_engagements(size_t max);

// Migrations of the local index.
std::vector<store::migration> index_migrations();

class local_index : public engagement_index {
 public:
  explicit local_index(store::database& db) : db_(db) {}
  result<std::vector<engagement>> find(const find_content& f, const caller& c,
                                       size_t max) override;

  // One Update: every transaction (upsert, or delete when deleteFlag) in one store transaction;
  // a bad one (400, naming it) writes nothing. Returns (upserted, deleted).
  result<std::pair<int, int>> update(const json& body);

 private:
  store::database& db_;
};

class remote_index : public engagement_index {
 public:
  struct options {
    std::string find_content_url;
    std::string sender_id;     // x-vp-sender-id towards the index (AgP: ei.senderId)
    std::string vp_instance_id;
    int64_t timeout_ms = 4000;
  };
  remote_index(options o, net::http_client::client& http) : o_(std::move(o)), http_(http) {}
  result<std::vector<engagement>> find(const find_content& f, const caller& c,
                                       size_t max) override;

 private:
  options o_;
  net::http_client::client& http_;
};

}  // namespace medflow::flows::aggregation
