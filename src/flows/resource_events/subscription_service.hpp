// The subscriptions half of the resource events flow: create / list / get / delete
// subscriptions, collect the events a pull subscription has from a position on, and ack.
// Synchronous and thread-safe (store + bus); the HTTP routes and the per-subscription actor
// call it. No CAF, no HTTP here.
#pragma once

#include "bus/log.hpp"
#include "core/error.hpp"
#include "flows/resource_events/cursor.hpp"
#include "flows/resource_events/store.hpp"
#include "flows/resource_events/subscription.hpp"
#include "store/database.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace medflow::flows::resource_events {

// Where webhook deliveries that kept failing go (headers: the record's, then
// dead_letter_reason, subscription_id, source_topic, source_partition, source_offset).
inline constexpr const char* dead_letter_topic = "subscriptions.dead_letter";

struct service_settings {
  std::size_t max_subscriptions = 10000;      // subscriptions.max_count
  spec_limits spec;                           // subscriptions.max_selector_bytes
  std::size_t max_cursor_bytes = default_max_cursor_bytes;  // subscriptions.max_cursor_bytes
  std::size_t fetch_batch = 256;              // records read per partition fetch
};

// A stored subscription with its pattern and selector compiled (once).
struct active_subscription {
  subscription_row row;
  subscription_spec spec;
};

// What a pull or a stream gets for one request: events in order per partition (the pull API's
// JSON, each with its cursor) and the positions after everything read; or an error.
struct pull_batch {
  std::optional<error> err;  // set: no events
  std::vector<nlohmann::json> events;
  positions next;
};

class subscription_service {
 public:
  subscription_service(store::database& db, bus::log& bus, service_settings s = {});

  // POST /subscriptions: 201's body, or 400 (nothing stored) / 409 at the cap. The new
  // subscription starts at the end of the topics that match it now; topics created later are
  // read from their start.
  result<nlohmann::json> create(const nlohmann::json& body);
  nlohmann::json list();
  result<nlohmann::json> get(const std::string& id);
  status remove(const std::string& id);
  // Loads and compiles a stored subscription (404 when unknown).
  result<active_subscription> open(const std::string& id);
  // The durable (acked) positions.
  positions acked(const std::string& id);
  // POST /subscriptions/{id}/ack {"cursor": ...}: the positions move forward durably.
  status ack(const std::string& id, const nlohmann::json& body);

  // Creates the dead letter topic (one partition; keyed by subscription id).
  void create_topics();
  // Moves the durable positions forward to `to` without blocking: `done` runs on the store's
  // writer thread once committed (or failed). A deleted subscription is no error.
  void advance(const std::string& id, const positions& to, done_fn done);
  // Gives up on a record a webhook kept refusing: in one transaction it goes to the dead letter
  // topic with `reason` and the positions move to `to` (past it). `done` as for advance.
  void dead_letter(const std::string& id, const bus::record& r, const std::string& reason,
                   const positions& to, done_fn done);

  // The bus topics the pattern matches now, by name.
  std::vector<bus::topic_info> topics_of(const topic_pattern& p);

  // Up to `max` events matching the subscription from `from` on, in order per partition, as
  // the pull API's JSON (topic, partition, offset, headers, body, cursor). `from` advances past
  // every record read, matching or not (the cursor of the last event, or of `from` when no
  // event matched, is what an ack of everything seen would commit).
  std::vector<nlohmann::json> collect(const active_subscription& s, positions& from,
                                      std::size_t max);
  // The same walk for any consumer of the records: `on_match(record, from)` for each of up to
  // `max` matching records, `from` then being the positions just past it.
  using match_fn = std::function<void(const bus::record&, const positions&)>;
  void scan(const active_subscription& s, positions& from, std::size_t max,
            const match_fn& on_match);

  const service_settings& settings() const { return s_; }

 private:
  store::database& db_;
  bus::log& bus_;
  service_settings s_;
};

// A record as the pull API shows it (without its cursor).
nlohmann::json event_json(const bus::record& r);
// The record's headers as selector properties (String), no allocation.
bool selected(const selector& sel, const bus::record& r);

}  // namespace medflow::flows::resource_events
