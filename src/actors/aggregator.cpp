#include "actors/aggregator.hpp"

#include "core/clock.hpp"
#include "core/metrics.hpp"

namespace medflow::actors {

namespace {

void answer(caf::stateful_actor<aggregator_state>* self) {
  auto& st = self->state;
  if (st.answered) return;
  st.answered = true;
  st.job->reply(flows::aggregation::aggregate(*st.job->service, st.job->calls, st.results,
                                              clock::now_ms()));
  self->quit();
}

}  // namespace

caf::behavior aggregator(caf::stateful_actor<aggregator_state>* self,
                         std::shared_ptr<const fan_out> job) {
  auto& st = self->state;
  st.job = std::move(job);
  st.results.resize(st.job->calls.size());
  st.reported.assign(st.job->calls.size(), false);
  st.missing = st.job->calls.size();
  self->delayed_send(self, std::chrono::milliseconds(st.job->service->limits.aggregate_ms),
                     timeout_atom::value);
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
        static auto& late = metrics::registry::global().get_counter(
            "medflow_agp_aggregate_timeouts_total",
            "aggregated requests answered at the aggregate timeout with sources still out");
        late.inc();
        answer(self);  // the sources still out keep kind::not_answered
      },
  };
}

}  // namespace medflow::actors
