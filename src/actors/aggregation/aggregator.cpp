#include "actors/aggregation/aggregator.hpp"

#include "core/clock.hpp"
#include "core/metrics.hpp"

#include <algorithm>

namespace medflow::actors {

namespace {

void answer(caf::stateful_actor<aggregator_state>* self) {
  auto& st = self->state;
  if (st.answered) return;
  st.answered = true;
  int64_t slowest = 0;
  for (auto& r : st.results) slowest = std::max(slowest, r.elapsed_us);
  st.job->reply(flows::aggregation::aggregate(*st.job->service, st.job->calls,
                                              std::move(st.results), clock::now_ms()),
                slowest);
  self->quit();
}

// A source still out at the aggregate timeout is cut off like one whose call failed: when its
// cache holds an earlier answer (younger than stale_ms), that answer stands in
// (DataFromCacheSynchFailed with the time it was stored), not NoDataSynchFailed.
void stand_in_from_cache(caf::stateful_actor<aggregator_state>* self) {
  auto& st = self->state;
  auto* cache = st.job->cache;
  if (!cache) return;
  auto now = clock::now_ms();
  for (size_t i = 0; i < st.results.size(); ++i) {
    if (st.reported[i]) continue;
    auto key = flows::aggregation::answer_cache::key(
        st.job->service->name, st.job->calls[i].logical_address, st.job->request_body);
    if (auto e = cache->get(key, now)) {
      auto& r = st.results[i];
      r.cache_fallback = true;
      r.items = std::move(e->items);  // get() returned a copy
      r.cached_at_ms = e->stored_ms;
    }
  }
}

}  // namespace

metrics::counter& aggregate_timeouts() {
  static auto& late = metrics::registry::global().get_counter(
      "medflow_agp_aggregate_timeouts_total",
      "aggregated requests answered at the aggregate timeout with sources still out");
  return late;
}

caf::behavior aggregator(caf::stateful_actor<aggregator_state>* self,
                         std::shared_ptr<const fan_out> job) {
  auto& st = self->state;
  st.job = std::move(job);
  st.results.resize(st.job->calls.size());
  st.reported.assign(st.job->calls.size(), false);
  st.missing = st.job->calls.size();
  // Every call ends by its own per-call timeout (the HTTP client enforces it). Only when the
  // aggregate timeout comes first does the aggregator need a timer of its own; that spares
  // CAF's clock thread a wake-up per request in the usual configuration.
  const auto& limits = st.job->service->limits;
  if (limits.aggregate_ms <= limits.service_ms)
    self->delayed_send(self, std::chrono::milliseconds(limits.aggregate_ms), timeout_atom::value);
  if (st.missing == 0) answer(self);
  return {
      [self](source_done_atom, size_t index, flows::aggregation::source_result& r) {
        auto& st = self->state;
        if (index >= st.results.size() || st.reported[index]) return;
        st.reported[index] = true;
        st.results[index] = std::move(r);
        if (--st.missing == 0) answer(self);
      },
      [self](timeout_atom) {
        aggregate_timeouts().inc();
        stand_in_from_cache(self);
        answer(self);  // the sources still out keep kind::not_answered
      },
  };
}

}  // namespace medflow::actors
