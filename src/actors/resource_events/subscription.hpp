// subscription: one actor per subscription of the resource events flow, a cursor over the
// partitions of the topics its pattern matches. A thin shell over subscription_service (which
// reads, selects and stores): the actor owns the waiting, the ordering and the timeouts.
//
// - Woken by bus watches on its partitions (one coalesced wake_atom in its mailbox at a time):
//   with nothing published and nothing waiting it runs no code at all, no polling timer.
// - Pull and stream sinks attach with (pull_atom, pull_request) (protocol: messages.hpp) and are
//   answered when events come or their wait ends; at most max_waiting sinks are held at once.
//   Reading, selecting and rendering their events is not done on the actor: a round of collects
//   for every held sink goes to `deliver` (the delivery pool's threads), which answers the sinks
//   that got events and hands the others back (collected_atom). One round at a time; a wake,
//   pull or expiry meanwhile asks for the next round. So the CAF scheduler threads, which the
//   jobs' actors share, spend almost nothing per subscription.
// - Webhook mode: it POSTs each matching event (body = the record's value, its headers as HTTP
//   headers, plus X-Medflow-Subscription / -Topic / -Partition / -Offset / -Cursor), one call
//   at a time, so in order per partition. A 2xx moves the durable positions past the event
//   (committed in the background; a crash before the commit delivers it again: at least
//   once). Any other answer, a timeout or no connection is retried after a capped
//   exponential backoff; after max_attempts failures the event goes to
//   subscriptions.dead_letter with the reason and delivery goes on with the next one.
//   The calls run on the daemon's non-blocking HTTP client: a slow receiver holds no thread
//   and delays no other subscription.
// - A topic created after the actor started is watched from the next pull or wake on.
#pragma once

#include "actors/resource_events/messages.hpp"
#include "flows/resource_events/subscription_service.hpp"
#include "net/http_client.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace medflow::actors {

struct delivery_settings {
  int64_t max_wait_ms = 30000;  // subscriptions.pull.max_wait_ms: longest wait of a sink
  std::size_t max_waiting = 64;  // subscriptions.pull.max_waiting: sinks waiting at once
  int64_t webhook_timeout_ms = 10000;  // subscriptions.webhook.timeout_ms: one call
  std::chrono::milliseconds backoff_initial{500};  // subscriptions.webhook.backoff_initial_ms
  std::chrono::milliseconds backoff_max{30000};    // subscriptions.webhook.backoff_max_ms
  int max_attempts = 5;  // subscriptions.webhook.max_attempts: failures before dead letter
};

// Starts an outbound call; `done` runs once, on any thread (net::http_client::client::call).
using post_fn = std::function<void(net::http_client::request,
                                   std::function<void(net::http_client::response)>)>;

// Runs a round of collects (any thread; in the order given per actor).
using deliver_fn = std::function<void(std::function<void()>)>;

// What every subscription actor shares (outlives them).
struct subscription_deps {
  flows::resource_events::subscription_service* svc = nullptr;
  bus::log* bus = nullptr;
  delivery_settings settings;
  post_fn post;
  deliver_fn deliver;  // unset: rounds run on the actor (deterministic tests)
  // Several instances on one store: whether this instance posts webhooks now (one instance at a
  // time holds the store lease "subscriptions.webhooks"; the others' webhook actors stay idle
  // and, when the lease comes to them, go on from the durable positions). Unset: always.
  std::function<bool()> may_post;
};

// A sink held by a subscription actor.
struct held_sink {
  uint64_t id = 0;  // 0: not yet waiting (just attached)
  std::shared_ptr<pull_request> req;
  std::optional<flows::resource_events::positions> from;  // unset: the acked positions
  bool expired = false;  // answered by the next round, events or not
  caf::actor_clock::time_point attached{};  // its wait runs from here
};
// A round of collects, out and back (collected_atom).
struct collect_round {
  std::vector<held_sink> sinks;
  uint64_t delivered = 0;  // events answered by the round
};

struct subscription_state {
  static inline const char* name = "subscription";

  // -- constants -------------------------------------------------------------------------------
  std::shared_ptr<const subscription_deps> deps;
  flows::resource_events::active_subscription sub;
  bool webhook = false;

  // -- bus watches -----------------------------------------------------------------------------
  std::map<flows::resource_events::partition_key, std::unique_ptr<bus::log::watch_handle>>
      watches;
  std::shared_ptr<std::atomic<bool>> wake_pending;  // one wake_atom in the mailbox at a time

  // -- sinks (pull / stream) --------------------------------------------------------------------
  std::shared_ptr<const flows::resource_events::active_subscription> shared_sub;  // for rounds
  std::map<uint64_t, held_sink> waiting;  // by id, oldest first
  std::vector<held_sink> attached;        // new, for the next round
  uint64_t next_waiter = 1;
  std::size_t out = 0;  // sinks in the round out (0: none out)
  bool round_out = false;
  bool round_wanted = false;  // records may have come, or sinks came or expired, since
  std::set<uint64_t> expired_out;  // sinks whose wait ended while out in the round

  // -- webhook delivery ------------------------------------------------------------------------
  flows::resource_events::positions next;  // where the next event is looked for
  struct in_flight {
    bus::record rec;
    flows::resource_events::positions after;  // the positions past it
    int failures = 0;
    uint64_t call = 0;  // the call whose answer counts (stale answers are ignored)
    bool posting = false;  // a call is out (else: waiting for its retry)
  };
  std::optional<in_flight> current;
  uint64_t next_call = 1;
  bool storing = false;  // an advance is being committed
  std::optional<flows::resource_events::positions> store_next;  // the advance after it
  int stores_out = 0;     // dead letters being committed
  bool post_paused = false;  // may_post said no: `next` is stale until it says yes again
  bool draining = false;  // stop once what is being committed is (and the round is back)
  bool deleted = false;   // stop once the round is back

  // -- probes ----------------------------------------------------------------------------------
  uint64_t delivered = 0;     // events answered to sinks or accepted by the webhook
  uint64_t failed_calls = 0;  // webhook calls that failed
  uint64_t dead_lettered = 0;
  uint64_t wakes = 0;
};

// Loads the subscription `id` (the actor fails when it cannot: its supervisor retries).
caf::behavior subscription(caf::stateful_actor<subscription_state>* self, std::string id,
                           std::shared_ptr<const subscription_deps> deps);

}  // namespace medflow::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<medflow::actors::collect_round>)
