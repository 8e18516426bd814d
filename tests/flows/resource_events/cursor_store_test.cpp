// Subscriptions' cursor (the opaque string of the pull API) and store (subscriptions and their
// durable per-partition positions, which never move back).
#include "flows/resource_events/cursor.hpp"
#include "flows/resource_events/store.hpp"

#include "core/base64.hpp"
#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

namespace {

using namespace medflow::flows::resource_events;
using medflow::base64::encode_url;

std::string refused(std::string_view text, std::size_t max = default_max_cursor_bytes) {
  auto r = decode_cursor(text, max);
  REQUIRE_FALSE_MESSAGE(r.ok(), text);
  CHECK(r.err().status == 400);
  return r.err().message;
}

}  // namespace

TEST_CASE("cursor: round trip, empty and several partitions") {
  positions none;
  CHECK(encode_cursor(none).empty());
  REQUIRE(decode_cursor("").ok());
  CHECK(decode_cursor("")->empty());

  positions p{{{"ehealth-careplan", 0}, 0},
              {{"ehealth-careplan", 3}, 42},
              {{"ehealth-episodeofcare.status", 1}, 9223372036854775807LL}};
  std::string text = encode_cursor(p);
  CHECK(text.find_first_of("+/=:,") == std::string::npos);
  auto back = decode_cursor(text);
  REQUIRE(back.ok());
  CHECK(*back == p);
}

TEST_CASE("cursor: hostile text is a stable 400") {
  const std::string bad = "cursor: not a cursor of this subscription's events";
  CHECK(refused("!!!") == bad);
  CHECK(refused("YQ==") == bad);  // standard alphabet / padding: not ours
  CHECK(refused(encode_url("a:0:1,")) == bad);
  CHECK(refused(encode_url("a:0")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url(":0:1")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a:-1:1")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a:0:01")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a:2147483648:1")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a:0:9223372036854775808")) ==
        "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a b:0:1")) == "cursor: entry 1 is not topic:partition:offset");
  CHECK(refused(encode_url("a:0:1,b:0:x")) == "cursor: entry 2 is not topic:partition:offset");
  CHECK(refused(encode_url("a:0:1,a:0:2")) == "cursor: entry 2 repeats a topic partition");
  CHECK(refused(std::string(65, 'A'), 64) == "cursor: longer than 64 bytes");
  CHECK(decode_cursor(encode_url("a.b:2147483647:0")).ok());
}

TEST_CASE("store: subscriptions are inserted, listed, loaded and deleted with their cursor") {
  medflow::test::temp_dir dir;
  auto db = medflow::test::open_database(dir.file("re.db"), {migrations()});
  // The daemon writes through the store's writer; the test through its own connection.
  auto c = medflow::test::open_connection(dir.file("re.db"));

  CHECK(count_subscriptions(*c) == 0);
  subscription_row a{"s-a", "ehealth-careplan.>", "eventType = 'create'",
                     {{"mode", "pull"}}, 1700000000123};
  subscription_row b{"s-b", "x", "", {{"mode", "webhook"}, {"url", "http://h/x"}},
                     1700000000124};
  insert_subscription(*c, a);
  insert_subscription(*c, b);
  CHECK(count_subscriptions(*c) == 2);

  auto got = load_subscription(*c, "s-a");
  REQUIRE(got);
  CHECK(to_json(*got) == nlohmann::json{{"id", "s-a"},
                                         {"topic", "ehealth-careplan.>"},
                                         {"selector", "eventType = 'create'"},
                                         {"delivery", {{"mode", "pull"}}},
                                         {"created", "2023-11-14T22:13:20.123Z"}});
  CHECK_FALSE(load_subscription(*c, "nope"));
  auto all = list_subscriptions(*c);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "s-a");
  CHECK(all[1].delivery.at("url") == "http://h/x");

  // The cursor: empty, then forward only.
  CHECK(load_cursor(*c, "s-a").empty());
  positions p1{{{"ehealth-careplan.subject", 0}, 5}, {{"ehealth-careplan.subject", 1}, 2}};
  CHECK(commit_cursor(*c, "s-a", p1));
  CHECK(load_cursor(*c, "s-a") == p1);
  positions older{{{"ehealth-careplan.subject", 0}, 3}, {{"ehealth-careplan.x", 0}, 1}};
  CHECK(commit_cursor(*c, "s-a", older));
  positions want{{{"ehealth-careplan.subject", 0}, 5},
                 {{"ehealth-careplan.subject", 1}, 2},
                 {{"ehealth-careplan.x", 0}, 1}};
  CHECK(load_cursor(*c, "s-a") == want);
  CHECK(load_cursor(*c, "s-b").empty());

  // Unknown subscription: nothing stored.
  CHECK_FALSE(commit_cursor(*c, "nope", p1));
  CHECK(load_cursor(*c, "nope").empty());

  CHECK(delete_subscription(*c, "s-a"));
  CHECK_FALSE(delete_subscription(*c, "s-a"));
  CHECK_FALSE(load_subscription(*c, "s-a"));
  CHECK(load_cursor(*c, "s-a").empty());
  CHECK(count_subscriptions(*c) == 1);
}
