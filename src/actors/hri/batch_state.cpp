#include "actors/hri/batch_state.hpp"

#include "core/log.hpp"

namespace medflow::actors {

namespace hri = flows::hri;

namespace {

using self_ptr = caf::stateful_actor<batch_state_state>*;

void schedule_flush(self_ptr self) {
  auto& st = self->state;
  if (st.flush_scheduled) return;
  st.flush_scheduled = true;
  // After the messages already queued: everything they decide goes into one commit.
  self->send(self, flush_atom::value);
}

void change_status(self_ptr self, hri::batch next) {
  auto& st = self->state;
  st.b = std::move(next);
  st.dirty = true;
  st.notifications.push_back(*st.b);
}

void schedule_check(self_ptr self, int64_t at_ms) {
  auto& st = self->state;
  auto gen = ++st.timer_generation;
  st.timer_pending = true;
  auto delay = std::max<int64_t>(0, at_ms - st.now());
  self->delayed_send(self, std::chrono::milliseconds(delay), check_atom::value, gen);
}

// Runs the tracker on the current state and acts on its decision.
void track(self_ptr self) {
  auto& st = self->state;
  if (!st.b) return;
  auto& cfg = st.svc->config();
  auto now = st.now();
  auto d = hri::track(*st.b, cfg.completion_delay_ms, cfg.stuck_timeout_ms, now);
  using k = hri::tracker_decision::kind;
  switch (d.k) {
    case k::fail:
    case k::complete_now:
      // The same transition as HRI's internal fail / processingComplete actions; the tracker
      // only decides for a batch that is still open, where both are allowed.
      if (auto next = hri::apply_action(*st.b, hri::decision_request(*st.b, d), hri::principal{},
                                        cfg.validation, now))
        change_status(self, std::move(*next));
      break;
    case k::complete_at: schedule_check(self, d.at_ms); break;
    case k::none:
      // A batch waiting for records is checked again when its stuck timeout ends.
      if (!st.timer_pending)
        if (auto at = hri::next_check_ms(*st.b, cfg.completion_delay_ms, cfg.stuck_timeout_ms))
          schedule_check(self, *at);
      break;
  }
}

void on_record(self_ptr self, batch_record& r) {
  auto& st = self->state;
  auto step = hri::take_record(st.b, std::move(r.judged));
  if (step.output) st.records.push_back(std::move(*step.output));
  if (step.batch_changed) st.dirty = true;
  if (step.counted) track(self);
  st.dones.push_back(std::move(r.done));
  // A redelivery too: answered after the commits before it, keeping the order.
  schedule_flush(self);
}

// A relayed action (request id set) delivered again: applied before, by this actor or by an
// earlier owner of the batch (its outcome is in the store).
bool applied_before(self_ptr self, const batch_action& a) {
  auto& st = self->state;
  return st.applied_requests.count(a.request_id) > 0 ||
         st.svc->find_outcome(a.request_id).has_value();
}

void on_action(self_ptr self, batch_action& a) {
  auto& st = self->state;
  bool relayed = !a.request_id.empty();
  if (relayed && applied_before(self, a)) {
    st.dones.push_back(std::move(a.done));  // after the commits before it, as records
    schedule_flush(self);
    return;
  }
  // A relayed action's answer, refusals included, is written with the batch's next commit.
  auto answer = [&](int status, std::string text, bool applied) {
    if (!relayed) {
      if (applied) st.replies.push_back(std::move(a.reply));
      else a.reply(status, std::move(text));
      return;
    }
    st.applied_requests.insert(a.request_id);
    st.outcomes.push_back({a.request_id, status, std::move(text)});
    st.dones.push_back(std::move(a.done));
    schedule_flush(self);
  };
  if (!st.b) {
    auto e = hri::batch_not_found(st.tenant, st.id, true);
    return answer(e.status, e.message, false);
  }
  if (auto e = hri::check_action_role(a.who, a.request.a)) return answer(e->status, e->message, false);
  auto next = hri::apply_action(*st.b, a.request, a.who, st.svc->config().validation, st.now());
  if (!next) return answer(next.err().status, next.err().message, false);
  change_status(self, std::move(*next));
  track(self);  // e.g. every record already arrived before sendComplete
  answer(200, "", true);
  schedule_flush(self);
}

void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!st.dirty && st.records.empty() && st.dones.empty() && st.replies.empty() &&
      st.outcomes.empty())
    return;
  hri::service::commit c;
  if (st.dirty && st.b) c.state = *st.b;
  c.notifications = std::move(st.notifications);
  c.records = std::move(st.records);
  c.outcomes = std::move(st.outcomes);
  st.outcomes.clear();
  auto dones = std::make_shared<std::vector<done_fn>>(std::move(st.dones));
  auto replies =
      std::make_shared<std::vector<std::function<void(int, std::string)>>>(std::move(st.replies));
  st.notifications.clear();
  st.records.clear();
  st.dones.clear();
  st.replies.clear();
  st.dirty = false;
  ++st.commits_in_flight;
  auto me = caf::actor_cast<caf::actor>(self);
  st.svc->apply(std::move(c), [me, dones, replies](std::exception_ptr e) {
    for (auto& d : *dones) d(e);
    for (auto& r : *replies) r(e ? medflow::status_of(e) : 200, medflow::describe(e));
    caf::anon_send(me, flush_atom::value, e == nullptr);
  });
}

bool holds_work(const batch_state_state& st) {
  return st.dirty || !st.records.empty() || !st.dones.empty() || !st.replies.empty() ||
         !st.outcomes.empty() || st.commits_in_flight > 0;
}

// Draining: stops once what it decided is committed. Timers need no care: a pending
// completion or stuck timeout is resumed from the store when the batch's actor starts again.
void quit_if_drained(self_ptr self) {
  if (self->state.draining && !holds_work(self->state)) self->quit();
}

}  // namespace

caf::behavior batch_state(caf::stateful_actor<batch_state_state>* self,
                          std::shared_ptr<flows::hri::service> svc, std::string tenant,
                          std::string id, caf::actor registry, now_fn now) {
  auto& st = self->state;
  st.now = std::move(now);
  st.svc = std::move(svc);
  st.tenant = std::move(tenant);
  st.id = std::move(id);
  st.registry = std::move(registry);
  if (!st.id.empty()) st.b = st.svc->get_batch(st.tenant, st.id);
  track(self);  // resume a pending completion or stuck timeout
  if (st.dirty) schedule_flush(self);
  self->delayed_send(self, batch_state_state::idle_after, idle_atom::value, uint64_t{0});
  self->set_default_handler(caf::skip);
  return {
      [self](batch_record_atom, batch_record& r) {
        ++self->state.handled;
        on_record(self, r);
      },
      [self](batch_records_atom, batch_records& rs) {
        ++self->state.handled;  // messages, as the registry counts what it sent
        for (auto& r : rs.items) on_record(self, r);
      },
      [self](batch_action_atom, batch_action& a) {
        ++self->state.handled;
        on_action(self, a);
      },
      [self](flush_atom) {
        flush(self);
        quit_if_drained(self);
      },
      [self](drain_atom) {
        self->state.draining = true;
        if (!self->state.flush_scheduled) flush(self);
        quit_if_drained(self);
      },
      [self](flush_atom, bool ok) {
        auto& st = self->state;
        --st.commits_in_flight;
        if (!ok) {
          // Memory may be ahead of the store now: start over from the store and fail what is
          // buffered too; the consumers deliver it again and the seen offsets skip what did
          // commit.
          log::warn("hri", "commit failed; reloading the batch's state",
                    log::field{"batch_id", st.id});
          auto e = std::make_exception_ptr(std::runtime_error("batch state reloaded"));
          for (auto& d : st.dones) d(e);
          for (auto& r : st.replies) r(500, "batch state reloaded after a failed commit");
          st.dones.clear();
          st.replies.clear();
          st.records.clear();
          st.notifications.clear();
          st.outcomes.clear();
          st.applied_requests.clear();  // what did commit is in the store
          st.dirty = false;
          if (!st.id.empty()) st.b = st.svc->get_batch(st.tenant, st.id);
          quit_if_drained(self);
          return;
        }
        quit_if_drained(self);
        // Every outcome applied so far is committed: the store recognises those requests now.
        if (st.commits_in_flight == 0 && st.outcomes.empty()) st.applied_requests.clear();
        if (!st.timer_pending && st.commits_in_flight == 0 && !st.flush_scheduled)
          self->delayed_send(self, batch_state_state::idle_after, idle_atom::value, st.handled);
      },
      [self](check_atom, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.timer_generation) return;
        st.timer_pending = false;
        track(self);
        if (st.dirty) schedule_flush(self);
      },
      [self](idle_atom, uint64_t handled_then) {
        auto& st = self->state;
        if (handled_then != st.handled || st.timer_pending || st.commits_in_flight > 0) return;
        self->send(st.registry, idle_atom::value, st.tenant + "/" + st.id, st.handled);
      },
  };
}

}  // namespace medflow::actors
