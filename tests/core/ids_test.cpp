// core/ids: identifiers drawn from a per-thread buffer of the CSPRNG's bytes must still be
// well-formed and never repeat (a byte handed out twice would repeat an id).
#include "core/ids.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace medflow;

TEST_CASE("uuid4: version 4, variant 1, no repeats over many buffer refills") {
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    auto u = ids::uuid4();
    REQUIRE(ids::is_uuid(u));
    CHECK(u[14] == '4');
    CHECK(std::string("89ab").find(u[19]) != std::string::npos);
    CHECK(seen.insert(u).second);
  }
}

TEST_CASE("random_hex: length, hex digits, no repeats; sizes past the buffer's limit too") {
  std::set<std::string> seen;
  for (size_t n : {1u, 6u, 8u, 10u, 16u, 17u, 32u, 600u}) {
    auto h = ids::random_hex(n);
    CHECK(h.size() == 2 * n);
    CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  for (int i = 0; i < 20000; ++i) CHECK(seen.insert(ids::random_hex(8)).second);
  // Mixed sizes: each draw takes fresh bytes, whatever the sizes before it.
  std::set<std::string> mixed;
  for (int i = 0; i < 5000; ++i)
    for (size_t n : {6u, 10u, 16u}) CHECK(mixed.insert(ids::random_hex(n)).second);
}

TEST_CASE("ids drawn on several threads do not repeat across threads") {
  std::vector<std::vector<std::string>> got(4);
  std::vector<std::thread> ts;
  for (auto& g : got)
    ts.emplace_back([&g] {
      for (int i = 0; i < 5000; ++i) g.push_back(ids::uuid4());
    });
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (auto& g : got) all.insert(g.begin(), g.end());
  CHECK(all.size() == 20000);
}
