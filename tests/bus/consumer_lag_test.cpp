// Consumer lag from the bus interface alone, on the embedded backend (the Kafka backend's
// end_offset and committed are tested in kafka_log_test; the e2e observability test measures
// the lag on both).
#include "bus/consumer_lag.hpp"
#include "bus/embedded_log.hpp"

#include "core/metrics.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::bus;

TEST_CASE("consumer lag: end offset less committed, per tracked group and partition") {
  test::temp_dir dir;
  auto db = test::open_database(dir.file("bus.db"), {embedded_log::migrations()});
  embedded_log l(*db);
  l.create_topic("t", 2);
  l.create_topic("other", 1);
  l.append({{"t", std::nullopt, "1", {}, 0}, {"t", std::nullopt, "2", {}, 0},
            {"t", std::nullopt, "3", {}, 0}, {"t", std::nullopt, "4", {}, 1},
            {"other", std::nullopt, "x", {}, 0}});
  CHECK(consumer_lag(l).partitions.empty());  // nothing tracked

  l.track_group("g", "t");
  l.track_group("g", "t");  // idempotent
  l.commit("g", "t", 0, 1);
  auto r = consumer_lag(l);
  REQUIRE(r.partitions.size() == 2);
  CHECK(r.failed.empty());
  CHECK(r.partitions[0].partition == 0);
  CHECK(r.partitions[0].end_offset == 3);
  CHECK(r.partitions[0].committed == 1);
  CHECK(r.partitions[0].lag == 2);
  CHECK(r.partitions[1].partition == 1);
  CHECK_FALSE(r.partitions[1].committed);  // nothing committed: lag from offset 0
  CHECK(r.partitions[1].lag == 1);

  l.track_group("h", "other");
  std::string only = "other";
  auto o = consumer_lag(l, &only);
  REQUIRE(o.partitions.size() == 1);
  CHECK(o.partitions[0].group == "h");
  CHECK(o.partitions[0].lag == 1);

  // The metric, measured when rendered; a deleted topic's series go away.
  metrics::registry reg;
  auto id = export_consumer_lag(l, reg);
  auto text = reg.render();
  CHECK(text.find("medflow_consumer_lag{topic=\"t\",partition=\"0\",group=\"g\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("medflow_consumer_lag{topic=\"other\",partition=\"0\",group=\"h\"} 1\n") !=
        std::string::npos);
  l.commit("g", "t", 0, 3);
  l.delete_topic("other");
  text = reg.render();
  CHECK(text.find("medflow_consumer_lag{topic=\"t\",partition=\"0\",group=\"g\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("topic=\"other\"") == std::string::npos);
  reg.remove_collector(id);
}
