#include "actors/partition_consumer.hpp"

#include "core/error.hpp"
#include "core/log.hpp"

namespace medflow::actors {

int attempt_tracker::fail(int64_t offset, const std::string& reason) {
  std::lock_guard<std::mutex> g{mutex_};
  auto& f = failures_[offset];
  ++f.first;
  f.second = reason;
  return f.first;
}

int attempt_tracker::attempts(int64_t offset) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto it = failures_.find(offset);
  return it == failures_.end() ? 0 : it->second.first;
}

std::string attempt_tracker::last_reason(int64_t offset) const {
  std::lock_guard<std::mutex> g{mutex_};
  auto it = failures_.find(offset);
  return it == failures_.end() ? std::string{} : it->second.second;
}

void attempt_tracker::forget_below(int64_t next) {
  std::lock_guard<std::mutex> g{mutex_};
  failures_.erase(failures_.begin(), failures_.lower_bound(next));
}

namespace {

using self_ptr = caf::stateful_actor<partition_consumer_state>*;

std::string label(const consumer_config& c) {
  return c.topic + "/" + std::to_string(c.partition);
}

void fetch(self_ptr self);

void maybe_finish_drain(self_ptr self) {
  auto& st = self->state;
  if (st.draining && st.pending.empty() && st.committing < 0 && st.committed >= st.next_fetch)
    self->quit();
}

// Commits the done prefix unless a commit is in flight (its answer triggers the next one).
void maybe_commit(self_ptr self) {
  auto& st = self->state;
  int64_t point = st.done_up_to();
  if (st.committing >= 0 || point <= st.committed) return;
  auto now = self->clock().now();
  auto due = st.last_commit + st.cfg.commit_interval;
  if (!st.draining && st.cfg.commit_interval.count() > 0 && now < due) {
    if (!st.commit_timer) {
      st.commit_timer = true;
      self->delayed_send(self, due - now, commit_atom::value);
    }
    return;
  }
  st.last_commit = now;
  st.committing = point;
  st.attempts->forget_below(point);
  auto me = caf::actor_cast<caf::actor>(self);
  st.bus->commit_async(st.cfg.group, st.cfg.topic, st.cfg.partition, point,
                       [me, point](std::exception_ptr e) {
                         caf::anon_send(me, committed_atom::value, point, medflow::describe(e));
                       });
}

// A record failed: count the attempt and stop; the supervisor restarts the consumer, which
// starts again at the committed offset.
void fail_record(self_ptr self, int64_t offset, const std::string& reason) {
  auto& st = self->state;
  int n = st.attempts->fail(offset, reason);
  self->quit(caf::make_error(caf::sec::runtime_error,
                             label(st.cfg) + " offset " + std::to_string(offset) +
                                 " failed (attempt " + std::to_string(n) + "): " + reason));
}

// record_handlers::order::in_log_order: the handler gets the record at once; its completion
// comes back as record_done / record_failed. Returns false when the handler threw (the
// consumer has failed then).
done_fn completion(self_ptr self, int64_t offset) {
  return [me = caf::actor_cast<caf::actor>(self), box = self->state.dones,
          offset](std::exception_ptr e) {
    if (e) caf::anon_send(me, record_failed_atom::value, offset, medflow::describe(e));
    else if (box->add(offset)) caf::anon_send(me, records_done_atom::value);
  };
}

bool hand_over(self_ptr self, work_item& item) {
  auto& st = self->state;
  int64_t offset = item.rec.offset;
  done_fn done = completion(self, offset);
  try {
    if (item.dead_letter)
      st.handlers->dead_letter(item.rec, item.reason, std::move(done));
    else
      st.handlers->process(item.rec, std::move(done));
  } catch (const std::exception& e) {
    fail_record(self, offset, e.what());
    return false;
  }
  return true;
}

// record_handlers::process_all: the run of records gathered so far, at once (nothing when
// empty). False when the handler threw: the run's first record has failed then.
bool hand_over_all(self_ptr self, std::vector<std::pair<bus::record, done_fn>>& run) {
  if (run.empty()) return true;
  int64_t first = run.front().first.offset;
  try {
    self->state.handlers->process_all(std::exchange(run, {}));
  } catch (const std::exception& e) {
    fail_record(self, first, e.what());
    return false;
  }
  return true;
}

// Records finished (from the sequencer one by one, from in-order handlers in bulk).
void records_done(self_ptr self, const std::vector<int64_t>& offsets) {
  auto& st = self->state;
  size_t finished = 0;
  for (int64_t offset : offsets) finished += st.pending.erase(offset);
  if (finished == 0) return;
  st.m_records->inc(finished);
  maybe_commit(self);
  // New records wake the consumer; a finished one only matters when a fetch was put off for
  // lack of room, and then once a whole batch fits again (not one by one).
  if (st.fetch_deferred && st.cfg.max_in_flight - st.pending.size() >=
                               std::min(st.cfg.fetch_max, st.cfg.max_in_flight))
    fetch(self);
  maybe_finish_drain(self);
}

void fetch(self_ptr self) {
  auto& st = self->state;
  if (st.draining) return;
  if (st.pending.size() >= st.cfg.max_in_flight) {
    st.fetch_deferred = true;  // the wake stays pending until a fetch runs
    return;
  }
  st.fetch_deferred = false;
  st.wake_pending->store(false);
  size_t room = std::min(st.cfg.fetch_max, st.cfg.max_in_flight - st.pending.size());
  std::vector<bus::record> recs;
  try {
    recs = st.bus->fetch(st.cfg.topic, st.cfg.partition, st.next_fetch, room);
  } catch (const std::exception& e) {
    // The bus is unreachable or the topic vanished: fail, so the supervisor retries later.
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "fetch " + label(st.cfg) + " failed: " + e.what()));
    return;
  }
  if (recs.empty()) return;  // wait for a wake (or the safety-net tick)
  size_t got = recs.size();
  st.next_fetch = recs.back().offset + 1;
  st.m_batches->inc();
  st.m_batch_size->observe(static_cast<double>(recs.size()));
  bool all_at_once = !st.sequencer && st.handlers->process_all != nullptr;
  std::vector<std::pair<bus::record, done_fn>> run;
  for (auto& r : recs) {
    work_item item;
    int tries = st.attempts->attempts(r.offset);
    if (tries >= st.cfg.max_attempts) {
      item.dead_letter = true;
      item.reason = "failed " + std::to_string(tries) + " attempts; last: " +
                    st.attempts->last_reason(r.offset);
      st.m_dead_lettered->inc();
      log::warn("consumer", label(st.cfg), " offset ", r.offset, " dead-lettered: ", item.reason);
    }
    st.pending.insert(r.offset);
    if (!st.sequencer) {
      item.rec = std::move(r);
      if (all_at_once && !item.dead_letter) {
        int64_t offset = item.rec.offset;
        run.emplace_back(std::move(item.rec), completion(self, offset));
        continue;
      }
      if (!hand_over_all(self, run) || !hand_over(self, item)) return;
      continue;
    }
    std::string key;
    try {
      key = st.handlers->key_of(r);
    } catch (const std::exception& e) {
      // A record whose key cannot even be read cannot be ordered: dead-letter it at once.
      item.dead_letter = true;
      item.reason = std::string("cannot read the record's key: ") + e.what();
      st.m_dead_lettered->inc();
    }
    item.rec = std::move(r);
    self->send(st.sequencer, dispatch_atom::value, key, std::move(item));
  }
  if (!hand_over_all(self, run)) return;
  // A full batch means more may be waiting: continue after the messages already queued.
  if (got == room) self->send(self, wake_atom::value);
}

}  // namespace

caf::behavior partition_consumer(caf::stateful_actor<partition_consumer_state>* self,
                                 consumer_config cfg, bus::log* bus,
                                 std::shared_ptr<const record_handlers> handlers,
                                 std::shared_ptr<attempt_tracker> attempts) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.bus = bus;
  st.handlers = std::move(handlers);
  st.attempts = std::move(attempts);
  st.wake_pending = std::make_shared<std::atomic<bool>>(false);
  auto& reg = metrics::registry::global();
  metrics::labels ls{{"topic", st.cfg.topic}, {"partition", std::to_string(st.cfg.partition)}};
  st.m_records = &reg.get_counter("medflow_consumer_records_total", "records handled", ls);
  st.m_batches = &reg.get_counter("medflow_consumer_batches_total", "batches fetched", ls);
  st.m_dead_lettered =
      &reg.get_counter("medflow_consumer_dead_lettered_total", "records dead-lettered", ls);
  st.m_commits = &reg.get_counter("medflow_consumer_commits_total", "offset commits", ls);
  st.m_batch_size = &reg.get_histogram("medflow_consumer_batch_size", "records per fetched batch",
                                       metrics::size_buckets(), ls);
  st.m_committed =
      &reg.get_gauge("medflow_consumer_committed_offset", "last committed offset", ls);

  try {
    st.committed = bus->committed(st.cfg.group, st.cfg.topic, st.cfg.partition).value_or(0);
  } catch (const std::exception& e) {
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "reading the committed offset of " + label(st.cfg) +
                                   " failed: " + e.what()));
    return {};
  }
  st.next_fetch = st.committed;
  st.m_committed->set(st.committed);
  st.last_commit = self->clock().now() - st.cfg.commit_interval;  // the first may go at once
  if (st.handlers->mode == record_handlers::order::by_key)
    st.sequencer = self->spawn<caf::linked>(keyed_sequencer, st.handlers,
                                            caf::actor_cast<caf::actor>(self), st.cfg.limits,
                                            label(st.cfg));
  auto me = caf::actor_cast<caf::actor>(self);
  auto pending = st.wake_pending;
  st.watch = bus->watch(st.cfg.topic, st.cfg.partition, [me, pending] {
    if (!pending->exchange(true)) caf::anon_send(me, wake_atom::value);
  });
  self->send(self, wake_atom::value);
  self->delayed_send(self, st.cfg.poll_interval, tick_atom::value);

  return {
      [self](wake_atom) { fetch(self); },
      [self](tick_atom) {
        fetch(self);
        if (!self->state.draining)
          self->delayed_send(self, self->state.cfg.poll_interval, tick_atom::value);
      },
      [self](record_done_atom, int64_t offset) { records_done(self, {offset}); },
      [self](records_done_atom) { records_done(self, self->state.dones->take()); },
      [self](record_failed_atom, int64_t offset, const std::string& reason) {
        fail_record(self, offset, reason);
      },
      [self](committed_atom, int64_t next, const std::string& err) {
        auto& st = self->state;
        st.committing = -1;
        if (err.empty()) {
          st.committed = std::max(st.committed, next);
          st.m_commits->inc();
          st.m_committed->set(st.committed);
        } else {
          // Not fatal: the next commit covers this one; a crash redelivers.
          log::warn("consumer", label(st.cfg), " commit of ", next, " failed: ", err);
          if (st.draining) {
            self->quit();  // what was not committed is delivered again (idempotently) later
            return;
          }
        }
        maybe_commit(self);
        maybe_finish_drain(self);
      },
      [self](commit_atom) {
        self->state.commit_timer = false;
        maybe_commit(self);
        maybe_finish_drain(self);
      },
      [self](drain_atom) {
        self->state.draining = true;
        maybe_commit(self);
        maybe_finish_drain(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{
            {"committed", std::to_string(st.committed)},
            {"next_fetch", std::to_string(st.next_fetch)},
            {"in_flight", std::to_string(st.pending.size())},
            {"draining", st.draining ? "true" : "false"}};
      },
  };
}

}  // namespace medflow::actors
