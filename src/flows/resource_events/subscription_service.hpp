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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
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
  // Recent records kept per partition for every subscription reading it (0: none):
  // subscriptions.read_cache_records.
  std::size_t cache_records = 1024;
};

// A stored subscription with its pattern and selector compiled (once).
struct active_subscription {
  subscription_row row;
  subscription_spec spec;
};

// What a pull or a stream gets for one request: events in order per partition, each the pull
// API's JSON text of one event (event_text: one line, no raw newline) and the positions after
// everything read; or an error.
struct pull_batch {
  std::optional<error> err;  // set: no events
  std::vector<std::string> events;
  positions next;
};

// A record as the cache holds it: the record, and the parts of its pull API text that do not
// depend on the reader (rendered once, however many subscriptions it goes to).
struct cached_record {
  explicit cached_record(bus::record r);
  bus::record rec;
  std::string body;     // the "body" value (see event_text)
  std::string headers;  // the "headers" object
};

// The records read last per partition, shared by the subscriptions reading it: the subscribers
// of a topic read the same new records, which are then fetched from the bus (and their headers
// decoded, their text rendered) once rather than once per subscriber. Holds the records with
// offsets in [begin, next) of each partition it saw, at most `cap` per partition (the oldest go
// first). It also remembers that a bus read found nothing past `next`: until records may have
// come, readers at `next` get nothing without a bus read. "May have come" is the partition's
// arrivals counter moving: every bus watch that wakes a reader of the partition adds 1 before
// the wake (arrivals() hands the counter out and adds 1 itself: what came before the watch
// existed is read again). Until a watch holds the counter, every read at `next` asks the bus.
// Thread-safe.
class record_cache {
 public:
  using entry = std::shared_ptr<const cached_record>;
  using counter = std::shared_ptr<std::atomic<std::uint64_t>>;
  explicit record_cache(std::size_t cap) : cap_(cap) {}
  // Up to `max` records of the partition from `from` on, from the cache where it has them, from
  // `fetch(from, max)` (the bus) otherwise.
  std::vector<entry> read(const partition_key& part, std::int64_t from, std::size_t max,
                          const std::function<std::vector<bus::record>(std::int64_t)>& fetch);
  // The partition's arrivals counter, for a bus watch that wakes a reader of the partition: it
  // adds 1 before each wake. Kept for the cache's lifetime.
  counter arrivals(const partition_key& part);
  // Forgets a partition (its topic is gone).
  void forget(const std::string& topic);

 private:
  struct partition {
    std::int64_t begin = 0, next = 0;  // the cached range of offsets
    std::deque<entry> recs;            // in offset order
    // A bus read at `next` found nothing when the arrivals counter was at this value.
    std::optional<std::uint64_t> empty_at;
  };
  std::size_t cap_;
  std::mutex mutex_;
  std::map<partition_key, partition> parts_;
  std::map<partition_key, counter> arrivals_;  // handed out to watches
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
  // The positions a cursor of the subscription's events stands for (an ack's, a stream's
  // Last-Event-ID): 400 "cursor: ..." when it is not one, 404 when the subscription is unknown.
  result<positions> cursor_of(const std::string& id, std::string_view text);

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
  // the pull API's JSON texts (event_text). `from` advances past every record read, matching or
  // not (the cursor of the last event, or of `from` when no event matched, is what an ack of
  // everything seen would commit).
  std::vector<std::string> collect(const active_subscription& s, positions& from,
                                   std::size_t max);
  // The partition's arrivals counter (record_cache::arrivals): a watch that wakes a reader of
  // the partition adds 1 before the wake.
  record_cache::counter arrivals(const partition_key& part) { return cache_.arrivals(part); }
  // The same walk for any consumer of the records: `on_match(record, from)` for each of up to
  // `max` matching records, `from` then being the positions just past it.
  using match_fn = std::function<void(const bus::record&, const positions&)>;
  void scan(const active_subscription& s, positions& from, std::size_t max,
            const match_fn& on_match);

  const service_settings& settings() const { return s_; }

 private:
  using record_fn = std::function<void(const cached_record&, const positions&)>;
  void walk(const active_subscription& s, positions& from, std::size_t max,
            const record_fn& on_match);
  store::database& db_;
  bus::log& bus_;
  service_settings s_;
  record_cache cache_;
};

// A record as the pull API shows it, rendered straight to text (every subscription a record
// matches renders it, so no JSON tree is built): {"body","cursor","headers","offset",
// "partition","topic"} with the keys in that order; body is the value itself when it is JSON on
// one line, else the value parsed and written again, else the value as a string.
std::string event_text(const bus::record& r, const std::string& cursor);
std::string event_text(const cached_record& r, const std::string& cursor);
// The record's headers as selector properties (String), no allocation.
bool selected(const selector& sel, const bus::record& r);

}  // namespace medflow::flows::resource_events
