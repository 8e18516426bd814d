#include "actors/aggregation/source_worker.hpp"

#include "actors/completion_runner.hpp"
#include "core/clock.hpp"

namespace medflow::actors {

namespace agg = flows::aggregation;

namespace {

using self_ptr = caf::stateful_actor<source_worker_state>*;

void report(self_ptr self, agg::source_result r) {
  auto& st = self->state;
  self->send(st.aggregator, source_done_atom::value, st.index, std::move(r));
  self->quit();
}

agg::source_result outcome_of(const agg::service_definition& s,
                              const net::http_client::response& resp) {
  using o = net::http_client::response::outcome;
  agg::source_result r;
  switch (resp.result) {
    case o::ok:
      if (resp.status == 200) {
        auto items = agg::parse_source_answer(s, resp.body);
        if (items) {
          r.k = agg::source_result::kind::answered;
          r.items = std::move(*items);
        } else {
          r.k = agg::source_result::kind::failed;
          r.error_text = items.err().message;
        }
      } else {
        r.k = agg::source_result::kind::fault;
        r.http_status = resp.status;
        r.error_text = resp.body.substr(0, 1000);
      }
      break;
    case o::timeout:
      r.k = agg::source_result::kind::timeout;
      r.error_text = "Read timed out: " + resp.error;
      break;
    case o::connect_failed:
    case o::failed:
      r.k = agg::source_result::kind::failed;
      r.error_text = resp.error;
      break;
  }
  return r;
}

}  // namespace

caf::behavior source_worker(caf::stateful_actor<source_worker_state>* self,
                            std::shared_ptr<const fan_out> job, size_t index,
                            caf::actor aggregator) {
  auto& st = self->state;
  st.job = std::move(job);
  st.index = index;
  st.aggregator = std::move(aggregator);
  const auto& call = st.job->calls[index];
  auto* cache = st.job->cache;
  if (cache) {
    st.cache_key = agg::answer_cache::key(st.job->service->name, call.logical_address,
                                          st.job->request_body);
    auto now = clock::now_ms();
    if (auto e = cache->get(st.cache_key, now); e && cache->fresh(*e, now)) {
      agg::source_result r;
      r.k = agg::source_result::kind::answered;
      r.items = std::move(e->items);  // get() returned a copy
      r.from_cache = true;
      r.cached_at_ms = e->stored_ms;
      report(self, std::move(r));
      return {};
    }
  }
  net::http_client::request req;
  req.url = call.url;
  req.body = st.job->request_body;
  req.headers = st.job->headers;
  req.headers.emplace_back("x-rivta-logical-address", call.logical_address);
  req.timeout_ms = st.job->service->limits.service_ms;
  auto me = caf::actor_cast<caf::actor>(self);
  // One aggregated request's calls share an I/O thread (affinity: the request's job).
  st.job->http->call(
      std::move(req),
      [me](net::http_client::response resp) { post(me, call_done_atom::value, std::move(resp)); },
      std::hash<const void*>{}(st.job.get()));
  return {
      [self](call_done_atom, net::http_client::response& resp) {
        auto& st = self->state;
        auto r = outcome_of(*st.job->service, resp);
        r.elapsed_us = resp.elapsed_us;
        auto* cache = st.job->cache;
        auto now = clock::now_ms();
        if (cache) {
          if (r.k == agg::source_result::kind::answered) {
            cache->put(st.cache_key, r.items, now);
          } else if (auto e = cache->get(st.cache_key, now)) {
            // The source failed, but an earlier answer is kept: it stands in, flagged.
            r.cache_fallback = true;
            r.items = std::move(e->items);  // get() returned a copy
            r.cached_at_ms = e->stored_ms;
          }
        }
        report(self, std::move(r));
      },
  };
}

}  // namespace medflow::actors
