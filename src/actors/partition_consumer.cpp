#include "actors/partition_consumer.hpp"

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
  if (st.draining && st.batch_end < 0 && !st.commit_inflight) self->quit();
}

void commit(self_ptr self, int64_t next) {
  auto& st = self->state;
  st.commit_inflight = true;
  auto me = caf::actor_cast<caf::actor>(self);
  st.bus->commit_async(st.cfg.group, st.cfg.topic, st.cfg.partition, next,
                       [me, next](std::exception_ptr e) {
                         std::string err;
                         if (e) {
                           try {
                             std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                             err = ex.what();
                           } catch (...) {
                             err = "unknown error";
                           }
                         }
                         caf::anon_send(me, committed_atom::value, next, err);
                       });
}

void batch_done(self_ptr self) {
  auto& st = self->state;
  int64_t end = st.batch_end;
  st.batch_end = -1;
  st.attempts->forget_below(end);
  commit(self, end);
  if (!st.draining) fetch(self);
}

void fetch(self_ptr self) {
  auto& st = self->state;
  if (st.batch_end >= 0 || st.draining) return;
  st.wake_pending->store(false);
  std::vector<bus::record> recs;
  try {
    recs = st.bus->fetch(st.cfg.topic, st.cfg.partition, st.next_fetch, st.cfg.fetch_max);
  } catch (const std::exception& e) {
    // The bus is unreachable or the topic vanished: fail, so the supervisor retries later.
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "fetch " + label(st.cfg) + " failed: " + e.what()));
    return;
  }
  if (recs.empty()) return;  // wait for a wake (or the safety-net tick)
  st.batch_end = recs.back().offset + 1;
  st.next_fetch = st.batch_end;
  st.outstanding = recs.size();
  st.m_batches->inc();
  st.m_batch_size->observe(static_cast<double>(recs.size()));
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
      [self](record_done_atom, int64_t) {
        auto& st = self->state;
        if (st.batch_end < 0 || st.outstanding == 0) return;
        st.m_records->inc();
        if (--st.outstanding == 0) batch_done(self);
        maybe_finish_drain(self);
      },
      [self](record_failed_atom, int64_t offset, const std::string& reason) {
        auto& st = self->state;
        int n = st.attempts->fail(offset, reason);
        self->quit(caf::make_error(caf::sec::runtime_error,
                                   label(st.cfg) + " offset " + std::to_string(offset) +
                                       " failed (attempt " + std::to_string(n) + "): " + reason));
      },
      [self](committed_atom, int64_t next, const std::string& err) {
        auto& st = self->state;
        st.commit_inflight = false;
        if (err.empty()) {
          st.committed = std::max(st.committed, next);
          st.m_commits->inc();
          st.m_committed->set(st.committed);
        } else {
          // Not fatal: the next batch's commit covers this one; a crash redelivers.
          log::warn("consumer", label(st.cfg), " commit of ", next, " failed: ", err);
        }
        maybe_finish_drain(self);
      },
      [self](drain_atom) {
        self->state.draining = true;
        maybe_finish_drain(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{
            {"committed", std::to_string(st.committed)},
            {"next_fetch", std::to_string(st.next_fetch)},
            {"in_flight", std::to_string(st.outstanding)},
            {"draining", st.draining ? "true" : "false"}};
      },
  };
}

}  // namespace medflow::actors
