// The subscriptions' tables: each subscription (its request as given, validated) and per
// subscription its durable cursor, one row per (topic, partition) = the next offset to deliver
// (everything before it was acked or did not match the selector).
#pragma once

#include "flows/resource_events/cursor.hpp"
#include "store/database.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::resource_events {

std::vector<store::migration> migrations();

struct subscription_row {
  std::string id;
  std::string topic;     // the pattern as given
  std::string selector;  // "" = every event
  nlohmann::json delivery;
  std::int64_t created_ms = 0;
};

// The API form: {"id","topic","selector","delivery","created"} (created: RFC 3339 UTC, ms).
nlohmann::json to_json(const subscription_row& s);

std::int64_t count_subscriptions(store::connection& c);
void insert_subscription(store::connection& c, const subscription_row& s);
std::optional<subscription_row> load_subscription(store::connection& c, const std::string& id);
std::vector<subscription_row> list_subscriptions(store::connection& c);  // oldest first
// Deletes the subscription and its cursor; false when there was none.
bool delete_subscription(store::connection& c, const std::string& id);

// The acked positions of a subscription (empty: nothing acked yet).
positions load_cursor(store::connection& c, const std::string& id);
// Moves the subscription's positions forward to `p` (a position never moves back: a late or
// repeated ack of an older cursor changes nothing). False when the subscription is gone.
bool commit_cursor(store::connection& c, const std::string& id, const positions& p);
}  // namespace medflow::flows::resource_events
