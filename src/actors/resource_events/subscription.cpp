#include "actors/resource_events/subscription.hpp"

#include "core/log.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>

namespace medflow::actors {

namespace re = flows::resource_events;
using self_ptr = caf::stateful_actor<subscription_state>*;

pull_request::~pull_request() {
  if (reply_)
    fail(error{503, "unavailable", "subscription stopped before answering; ask again", {}});
}

void pull_request::answer(pull_batch b) {
  if (!reply_) return;
  auto r = std::move(reply_);
  reply_ = nullptr;
  r(std::move(b));
}

void pull_request::fail(error e) {
  pull_batch b;
  b.err = std::move(e);
  answer(std::move(b));
}

namespace {

// -- watches ----------------------------------------------------------------------------------

// Watches every partition of the topics the pattern matches now (new ones are added).
void refresh_watches(self_ptr self) {
  auto& st = self->state;
  auto me = caf::actor_cast<caf::actor>(self);
  auto pending = st.wake_pending;
  for (const auto& t : st.deps->svc->topics_of(st.sub.spec.topic))
    for (int32_t p = 0; p < t.partitions; ++p) {
      re::partition_key key{t.name, p};
      if (st.watches.count(key)) continue;
      // The shared record cache learns that records may have come before this actor reads.
      auto arrivals = st.deps->svc->arrivals(key);
      st.watches.emplace(key, st.deps->bus->watch(t.name, p, [me, pending, arrivals] {
        arrivals->fetch_add(1);
        if (!pending->exchange(true)) caf::anon_send(me, wake_atom::value);
      }));
    }
}

// -- sinks --------------------------------------------------------------------------------------

// Collects the events of every sink of the round from its position on; answers those that got
// some (and those whose wait ended); hands the round back to the actor. Runs on a delivery
// thread: touches no actor state.
void run_round(re::subscription_service& svc, const re::active_subscription& sub,
               collect_round& round) {
  for (auto& s : round.sinks) {
    if (s.req->gone()) continue;  // dropped when the round is back
    try {
      if (!s.from) s.from = svc.acked(sub.row.id);
      auto events = svc.collect(sub, *s.from, s.req->max);
      if (events.empty() && !s.expired) continue;
      round.delivered += events.size();
      s.req->answer({std::nullopt, std::move(events), std::move(*s.from)});
    } catch (const std::exception& e) {
      s.req->fail(error::internal("subscription " + sub.row.id + ": " + e.what()));
    }
  }
}

// Answers a held sink with no events (from its acked positions when it had none yet).
void answer_empty(self_ptr self, held_sink& s) {
  if (!s.from) s.from = self->state.deps->svc->acked(self->state.sub.row.id);
  s.req->answer({std::nullopt, {}, std::move(*s.from)});
}

// Deleted: the sinks held get 404 (those out in a round when it is back).
void fail_deleted(self_ptr self) {
  auto& st = self->state;
  for (auto& [wid, w] : st.waiting)
    w.req->fail(error::not_found("subscription " + st.sub.row.id + " not found"));
  st.waiting.clear();
  for (auto& w : st.attached)
    w.req->fail(error::not_found("subscription " + st.sub.row.id + " not found"));
  st.attached.clear();
}

// Starts a round for every held sink when one is wanted and none is out.
void start_round(self_ptr self) {
  auto& st = self->state;
  if (st.round_out || !st.round_wanted || st.draining || st.deleted) return;
  // Polls the server answered with its safety net are dropped, not collected for.
  for (auto it = st.waiting.begin(); it != st.waiting.end();)
    it = it->second.req->gone() ? st.waiting.erase(it) : std::next(it);
  if (st.waiting.empty() && st.attached.empty()) return;
  // Watches first: a topic created since is watched before it is read (see record_cache).
  refresh_watches(self);
  auto round = std::make_shared<collect_round>();
  round->sinks.reserve(st.waiting.size() + st.attached.size());
  for (auto& [id, s] : st.waiting) round->sinks.push_back(std::move(s));
  for (auto& s : st.attached) round->sinks.push_back(std::move(s));
  st.waiting.clear();
  st.attached.clear();
  st.out = round->sinks.size();
  st.round_out = true;
  st.round_wanted = false;
  auto me = caf::actor_cast<caf::actor>(self);
  auto svc = st.deps->svc;
  auto task = [svc, sub = st.shared_sub, round, me] {
    run_round(*svc, *sub, *round);
    caf::anon_send(me, collected_atom::value, round);
  };
  if (st.deps->deliver)
    st.deps->deliver(std::move(task));
  else
    task();
}

// A round is back: the sinks not answered wait (a new one until its wait ends).
void round_back(self_ptr self, collect_round& round) {
  auto& st = self->state;
  st.round_out = false;
  st.out = 0;
  st.delivered += round.delivered;
  for (auto& s : round.sinks) {
    if (s.req->gone()) continue;  // answered, or its poll answered 503 already: dropped
    if (st.draining) {
      answer_empty(self, s);
      continue;
    }
    if (s.id == 0) {
      s.id = st.next_waiter++;
      // The wait runs from the pull's arrival, not from its first round's return.
      auto wait = std::chrono::milliseconds(std::min(s.req->wait_ms, st.deps->settings.max_wait_ms));
      auto left = std::max<caf::actor_clock::duration_type>(
          wait - (self->clock().now() - s.attached), caf::actor_clock::duration_type::zero());
      self->delayed_send(self, left, expire_atom::value, s.id);
    } else if (st.expired_out.erase(s.id) > 0) {
      s.expired = true;  // its wait ended while it was out: the next round answers it
      st.round_wanted = true;
    }
    auto id = s.id;
    st.waiting.emplace(id, std::move(s));
  }
  st.expired_out.clear();
  start_round(self);
}

void attach(self_ptr self, std::shared_ptr<pull_request> req) {
  auto& st = self->state;
  if (st.webhook) return req->fail(re::webhook_has_no_pull(st.sub.row.id));
  if (st.waiting.size() + st.attached.size() + st.out >= st.deps->settings.max_waiting)
    return req->fail(error{429, "too_many_requests",
                           "subscription " + st.sub.row.id + ": " +
                               std::to_string(st.deps->settings.max_waiting) +
                               " requests are held already (subscriptions.pull.max_waiting)",
                           {}});
  held_sink s;
  s.from = std::move(req->from);
  s.expired = std::min(req->wait_ms, st.deps->settings.max_wait_ms) <= 0;  // answer at once
  s.req = std::move(req);
  s.attached = self->clock().now();
  st.attached.push_back(std::move(s));
  st.round_wanted = true;
  start_round(self);
}

// -- webhook ------------------------------------------------------------------------------------

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A record header that can go out as an HTTP header as it is (others are left out: the
// receiver finds every header in the dead letter or a pull anyway).
bool sendable(const std::pair<std::string, std::string>& h) {
  if (h.first.empty() || h.first.size() > 256 || h.second.size() > 8192) return false;
  for (char c : h.first)
    if (!token_char(c)) return false;
  for (char c : h.second)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  static const char* reserved[] = {"content-length", "transfer-encoding", "host", "connection",
                                   "content-type", "expect", "upgrade", "te", "trailer"};
  std::string lower(h.first);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* r : reserved)
    if (lower == r) return false;
  return lower.rfind("x-medflow-", 0) != 0;
}

void post_current(self_ptr self) {
  auto& st = self->state;
  auto& cur = *st.current;
  net::http_client::request req;
  req.method = "POST";
  req.url = st.sub.spec.delivery.url;
  req.timeout_ms = st.deps->settings.webhook_timeout_ms;
  req.connect_timeout_ms = std::min<int64_t>(req.timeout_ms, 2000);
  req.body = cur.rec.value;
  req.headers.emplace_back("Content-Type", "application/json");
  for (const auto& h : cur.rec.hdrs)
    if (sendable(h)) req.headers.push_back(h);
  req.headers.emplace_back("X-Medflow-Subscription", st.sub.row.id);
  req.headers.emplace_back("X-Medflow-Topic", cur.rec.topic);
  req.headers.emplace_back("X-Medflow-Partition", std::to_string(cur.rec.partition));
  req.headers.emplace_back("X-Medflow-Offset", std::to_string(cur.rec.offset));
  req.headers.emplace_back("X-Medflow-Cursor", re::encode_cursor(cur.after));
  cur.call = st.next_call++;
  cur.posting = true;
  auto me = caf::actor_cast<caf::actor>(self);
  auto call = cur.call;
  st.deps->post(std::move(req), [me, call](net::http_client::response res) {
    using outcome = net::http_client::response::outcome;
    int status = res.result == outcome::ok ? res.status : 0;
    std::string why;
    switch (res.result) {
      case outcome::ok: why = "answered " + std::to_string(res.status); break;
      case outcome::timeout: why = "timed out: " + res.error; break;
      case outcome::connect_failed: why = "no connection: " + res.error; break;
      case outcome::failed: why = "failed: " + res.error; break;
    }
    caf::anon_send(me, posted_atom::value, call, status, std::move(why));
  });
}

// Commits `to` as the durable position, one commit at a time (later ones are merged).
void store_position(self_ptr self, re::positions to) {
  auto& st = self->state;
  if (st.storing) {
    st.store_next = std::move(to);
    return;
  }
  st.storing = true;
  auto me = caf::actor_cast<caf::actor>(self);
  st.deps->svc->advance(st.sub.row.id, to, [me](std::exception_ptr e) {
    caf::anon_send(me, stored_atom::value, medflow::describe(e));
  });
}

// A shared store where another instance may post now (the lease is not known to be ours): the
// event in hand, if any, is dropped (its durable position is not moved, so the holder posts
// it) and the actor pauses until a wake finds the lease ours again.
bool pause_if_not_ours(self_ptr self) {
  auto& st = self->state;
  if (!st.deps->may_post || st.deps->may_post()) return false;
  st.current.reset();
  st.post_paused = true;
  return true;
}

// Starts the next webhook call when none is out: the next matching event after `next`.
void deliver_next(self_ptr self) {
  auto& st = self->state;
  if (!st.webhook || st.current || st.draining) return;
  if (pause_if_not_ours(self)) return;  // another instance posts; a wake brings us back here
  if (st.post_paused) {
    // Our turn again: the instance that posted meanwhile moved the durable positions.
    st.post_paused = false;
    st.next = st.deps->svc->acked(st.sub.row.id);
  }
  std::optional<subscription_state::in_flight> found;
  st.deps->svc->scan(st.sub, st.next, 1, [&](const bus::record& r, const re::positions& after) {
    found = subscription_state::in_flight{r, after, 0, 0, false};
  });
  if (!found) return;  // wait for a wake
  st.current = std::move(found);
  post_current(self);
}

// The current event failed for the last time: to the dead letter topic, and on to the next.
void give_up(self_ptr self, const std::string& why) {
  auto& st = self->state;
  auto cur = std::move(*st.current);
  st.current.reset();
  auto reason = "webhook failed " + std::to_string(cur.failures) + " times; last: " + why;
  log::warn("subscriptions", "subscription ", st.sub.row.id, ": ", cur.rec.topic, "/",
            cur.rec.partition, "@", cur.rec.offset, " dead-lettered: ", reason);
  ++st.dead_lettered;
  ++st.stores_out;
  auto me = caf::actor_cast<caf::actor>(self);
  auto offset = cur.rec.offset;
  st.deps->svc->dead_letter(st.sub.row.id, cur.rec, reason, cur.after,
                            [me, offset](std::exception_ptr e) {
                              caf::anon_send(me, stored_atom::value, medflow::describe(e), offset);
                            });
  deliver_next(self);
}

std::chrono::milliseconds backoff(const delivery_settings& s, int failures) {
  auto d = s.backoff_initial;
  for (int i = 1; i < failures && d < s.backoff_max; ++i) d *= 2;
  return std::min(d, s.backoff_max);
}

void maybe_finish_drain(self_ptr self) {
  auto& st = self->state;
  if (st.draining && !st.storing && st.stores_out == 0 && !st.round_out) self->quit();
}

}  // namespace

caf::behavior subscription(caf::stateful_actor<subscription_state>* self, std::string id,
                           std::shared_ptr<const subscription_deps> deps) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.wake_pending = std::make_shared<std::atomic<bool>>(false);
  try {
    auto sub = st.deps->svc->open(id);
    if (!sub) throw std::runtime_error(sub.err().message);
    st.sub = std::move(sub.value());
    st.shared_sub = std::make_shared<const re::active_subscription>(st.sub);
    st.webhook = st.sub.spec.delivery.mode == re::delivery_mode::webhook;
    refresh_watches(self);
    if (st.webhook) {
      st.next = st.deps->svc->acked(id);
      deliver_next(self);
    }
  } catch (const std::exception& e) {
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "starting subscription " + id + " failed: " + e.what()));
    return {};
  }

  return {
      [self](pull_atom, std::shared_ptr<pull_request>& req) {
        if (self->state.draining)
          return req->answer({std::nullopt, {}, req->from.value_or(re::positions{})});
        attach(self, std::move(req));
      },
      [self](wake_atom) {
        auto& st = self->state;
        st.wake_pending->store(false);
        ++st.wakes;
        if (st.webhook) {
          refresh_watches(self);
          deliver_next(self);
        } else {
          st.round_wanted = true;
          start_round(self);
        }
      },
      [self](expire_atom, uint64_t waiter) {
        auto& st = self->state;
        auto it = st.waiting.find(waiter);
        if (it == st.waiting.end()) {
          if (st.round_out) st.expired_out.insert(waiter);  // out now (or answered already)
          return;
        }
        // One last look (events may have come without a wake yet), then the answer.
        it->second.expired = true;
        st.round_wanted = true;
        start_round(self);
      },
      [self](collected_atom, std::shared_ptr<collect_round>& round) {
        round_back(self, *round);
        if (self->state.deleted) {
          fail_deleted(self);
          self->quit();
          return;
        }
        maybe_finish_drain(self);
      },
      [self](posted_atom, uint64_t call, int status, const std::string& why) {
        auto& st = self->state;
        if (!st.current || st.current->call != call || !st.current->posting) return;
        st.current->posting = false;
        if (status >= 200 && status < 300) {
          ++st.delivered;
          auto after = std::move(st.current->after);
          st.current.reset();
          store_position(self, std::move(after));
          deliver_next(self);
          return;
        }
        ++st.failed_calls;
        int failures = ++st.current->failures;
        // Retries and the dead letter are the lease holder's too.
        if (pause_if_not_ours(self)) return;
        if (failures >= st.deps->settings.max_attempts) return give_up(self, why);
        if (st.draining) return;  // delivered again after the restart
        self->delayed_send(self, backoff(st.deps->settings, failures), retry_atom::value, call);
      },
      [self](retry_atom, uint64_t call) {
        auto& st = self->state;
        if (!st.current || st.current->call != call || st.current->posting || st.draining)
          return;
        if (pause_if_not_ours(self)) return;
        post_current(self);
      },
      [self](stored_atom, const std::string& err) {
        auto& st = self->state;
        st.storing = false;
        if (!err.empty()) {
          // Start again from the durable positions: what was not stored comes again.
          self->quit(caf::make_error(caf::sec::runtime_error,
                                     "subscription " + st.sub.row.id +
                                         ": storing its position failed: " + err));
          return;
        }
        if (st.store_next) {
          auto to = std::move(*st.store_next);
          st.store_next.reset();
          store_position(self, std::move(to));
        }
        maybe_finish_drain(self);
      },
      [self](stored_atom, const std::string& err, int64_t offset) {
        auto& st = self->state;
        --st.stores_out;
        if (!err.empty()) {
          self->quit(caf::make_error(caf::sec::runtime_error,
                                     "subscription " + st.sub.row.id + ": dead-lettering offset " +
                                         std::to_string(offset) + " failed: " + err));
          return;
        }
        maybe_finish_drain(self);
      },
      [self](deleted_atom) {
        auto& st = self->state;
        st.deleted = true;
        fail_deleted(self);
        if (!st.round_out) self->quit();
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        // Held sinks get what there is (nothing): they ask again after the restart. Those out
        // in a round are answered when it is back.
        for (auto& [wid, w] : st.waiting) answer_empty(self, w);
        st.waiting.clear();
        for (auto& w : st.attached) answer_empty(self, w);
        st.attached.clear();
        st.watches.clear();
        maybe_finish_drain(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{
            {"id", st.sub.row.id},
            {"mode", re::to_string(st.sub.spec.delivery.mode)},
            {"delivered", std::to_string(st.delivered)},
            {"waiting", std::to_string(st.waiting.size())},
            {"wakes", std::to_string(st.wakes)},
            {"failed_calls", std::to_string(st.failed_calls)},
            {"dead_lettered", std::to_string(st.dead_lettered)},
            {"in_flight", st.current ? "true" : "false"}};
      },
  };
}

}  // namespace medflow::actors
