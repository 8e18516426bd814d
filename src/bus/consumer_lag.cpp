#include "bus/consumer_lag.hpp"

#include "core/log.hpp"
#include "core/metrics.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>

namespace medflow::bus {

lag_report consumer_lag(log& l, const std::string* only_topic) {
  lag_report out;
  for (auto& [group, topic] : l.tracked_groups()) {
    if (only_topic && *only_topic != topic) continue;
    // One read that failed (a broker down, waited for up to its timeout) ends the measure: the
    // next ones would most likely wait as long, and a scrape must answer in time.
    if (!out.failed.empty()) break;
    std::optional<int32_t> n;
    try {
      n = l.partitions(topic);
    } catch (const std::exception& e) {
      out.failed.push_back(group + " " + topic + ": " + e.what());
      continue;
    }
    if (!n) continue;  // deleted (an HRI stream's topics)
    for (int32_t p = 0; p < *n; ++p) {
      partition_lag pl{group, topic, p};
      try {
        pl.end_offset = l.end_offset(topic, p);
        pl.committed = l.committed(group, topic, p);
      } catch (const unknown_topic&) {
        break;
      } catch (const unknown_partition&) {
        break;
      } catch (const std::exception& e) {
        out.failed.push_back(group + " " + topic + "[" + std::to_string(p) + "]: " + e.what());
        break;
      }
      pl.lag = std::max<int64_t>(0, pl.end_offset - pl.committed.value_or(0));
      out.partitions.push_back(std::move(pl));
    }
  }
  return out;
}

uint64_t export_consumer_lag(log& l, metrics::registry& r) {
  // The series of the previous scrape: one whose partition went away is removed.
  struct state {
    std::mutex mutex;
    std::set<metrics::labels> shown;
  };
  auto st = std::make_shared<state>();
  return r.add_collector([&l, &r, st] {
    std::lock_guard<std::mutex> g{st->mutex};
    auto report = consumer_lag(l);
    for (auto& why : report.failed) medflow::log::debug("bus", "consumer lag not measured: ", why);
    std::set<metrics::labels> now;
    for (auto& pl : report.partitions) {
      metrics::labels ls{{"topic", pl.topic},
                         {"partition", std::to_string(pl.partition)},
                         {"group", pl.group}};
      r.get_gauge("medflow_consumer_lag",
                  "records of the partition the group has not committed yet (end offset less "
                  "committed offset)",
                  ls)
          .set(pl.lag);
      now.insert(ls);
    }
    // A partition not measured this time (its topic deleted, or its broker down) is dropped:
    // a stale lag would look like a real one.
    for (auto& ls : st->shown)
      if (!now.count(ls)) r.remove_gauge_fn("medflow_consumer_lag", ls);
    st->shown = std::move(now);
  });
}

}  // namespace medflow::bus
