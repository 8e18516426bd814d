// The per-source answer cache: keys, freshness, staleness, LRU bound, sweeping, threads.
#include "flows/aggregation/domain.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

namespace ag = medflow::flows::aggregation;
using json = nlohmann::json;

ag::cache_settings settings(int64_t max_entries = 3, int64_t ttl = 5000, int64_t stale = 60000) {
  ag::cache_settings s;
  s.enabled = true;
  s.max_entries = max_entries;
  s.ttl_ms = ttl;
  s.stale_ms = stale;
  return s;
}

}  // namespace

TEST_CASE("answer_cache::key: service, logical address and request body all count") {
  auto k = ag::answer_cache::key("GetAggregatedCareContacts", "HSA-ID-4", R"({"a":1})");
  CHECK(k == ag::answer_cache::key("GetAggregatedCareContacts", "HSA-ID-4", R"({"a":1})"));
  CHECK(k !=
        ag::answer_cache::key("GetAggregatedLaboratoryOrderOutcome", "HSA-ID-4", R"({"a":1})"));
  CHECK(k != ag::answer_cache::key("GetAggregatedCareContacts", "HSA-ID-5", R"({"a":1})"));
  CHECK(k != ag::answer_cache::key("GetAggregatedCareContacts", "HSA-ID-4", R"({"a":2})"));
  // The body is hashed: a large request does not make a large key.
  CHECK(ag::answer_cache::key("S", "A", std::string(100000, 'x')).size() < 100);
}

TEST_CASE("answer_cache: fresh within ttl, usable until stale, gone after") {
  ag::answer_cache c(settings(3, 5000, 60000));
  CHECK_FALSE(c.get("k", 0));
  c.put("k", json::array({1, 2}), 1000);
  CHECK(c.size() == 1);

  auto e = c.get("k", 1000);
  REQUIRE(e);
  CHECK(e->items == json::array({1, 2}));
  CHECK(e->stored_ms == 1000);
  CHECK(c.fresh(*e, 1000));
  CHECK(c.fresh(*e, 5999));
  CHECK_FALSE(c.fresh(*e, 6000));

  e = c.get("k", 60999);  // stale after 60000 ms
  REQUIRE(e);
  CHECK_FALSE(c.fresh(*e, 60999));
  CHECK_FALSE(c.get("k", 61000));
  CHECK(c.size() == 0);  // a stale entry found by get is dropped
}

TEST_CASE("answer_cache: put replaces an entry and renews its time") {
  ag::answer_cache c(settings());
  c.put("k", json::array({1}), 0);
  c.put("k", json::array({2}), 50000);
  CHECK(c.size() == 1);
  auto e = c.get("k", 100000);
  REQUIRE(e);
  CHECK(e->items == json::array({2}));
  CHECK(e->stored_ms == 50000);
}

TEST_CASE("answer_cache: the least recently used entry goes first") {
  ag::answer_cache c(settings(3));
  c.put("a", json::array({"a"}), 0);
  c.put("b", json::array({"b"}), 1);
  c.put("c", json::array({"c"}), 2);
  CHECK(c.size() == 3);
  c.put("d", json::array({"d"}), 3);  // evicts a
  CHECK(c.size() == 3);
  CHECK_FALSE(c.get("a", 4));
  CHECK(c.get("b", 4));  // b is now the most recent; c the least
  c.put("e", json::array({"e"}), 5);
  CHECK_FALSE(c.get("c", 6));
  CHECK(c.get("b", 6));
  CHECK(c.get("d", 6));
  CHECK(c.get("e", 6));
  // Replacing an entry counts as using it.
  c.put("b", json::array({"b2"}), 7);  // order now b, e, d
  c.put("f", json::array({"f"}), 8);   // evicts d
  CHECK_FALSE(c.get("d", 9));
  CHECK(c.size() == 3);
}

TEST_CASE("answer_cache: sweep removes stale entries only") {
  ag::answer_cache c(settings(10, 100, 1000));
  c.put("old1", json::array(), 0);
  c.put("old2", json::array(), 500);
  c.put("new", json::array(), 1500);
  CHECK(c.sweep(1499) == 1);
  CHECK(c.size() == 2);
  CHECK(c.sweep(1499) == 0);
  CHECK(c.sweep(1500) == 1);
  CHECK(c.size() == 1);
  CHECK(c.get("new", 1600));
  // The LRU list stays consistent after sweeping: filling up still evicts correctly.
  for (int i = 0; i < 20; ++i) c.put("k" + std::to_string(i), json::array(), 1600);
  CHECK(c.size() == 10);
  CHECK(c.sweep(100000) == 10);
  CHECK(c.size() == 0);
}

TEST_CASE("answer_cache: concurrent use stays within bounds") {
  ag::answer_cache c(settings(64, 50, 200));
  std::atomic<int> hits{0};
  std::atomic<size_t> largest{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string k = "k" + std::to_string((i * 7 + t) % 100);
        const int64_t now = i;
        if (i % 3 == 0) {
          c.put(k, json::array({t, i}), now);
        } else if (auto e = c.get(k, now)) {
          if (e->items.size() == 2) ++hits;
        }
        if (i % 500 == 0) c.sweep(now);
        size_t n = c.size(), seen = largest.load();
        while (n > seen && !largest.compare_exchange_weak(seen, n)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(largest.load() <= 64);
  CHECK(c.size() <= 64);
  CHECK(hits.load() > 0);
}
