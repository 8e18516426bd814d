// Subscriptions, the pure part: ActiveMQ topic wildcards and the validation of
// POST /subscriptions's body (errors name the field, position and what was expected).
#include "flows/resource_events/subscription.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

using namespace medflow::flows::resource_events;
using nlohmann::json;

bool match(const char* pattern, const char* topic) {
  auto p = topic_pattern::compile(pattern);
  REQUIRE_MESSAGE(p.ok(), pattern);
  return p->matches(topic);
}

std::string pattern_error(const char* pattern) {
  auto p = topic_pattern::compile(pattern);
  REQUIRE_FALSE_MESSAGE(p.ok(), pattern);
  CHECK(p.err().status == 400);
  return p.err().message;
}

}  // namespace

TEST_CASE("topic pattern: literal names match only themselves") {
  CHECK(match("ehealth-careplan", "ehealth-careplan"));
  CHECK_FALSE(match("ehealth-careplan", "ehealth-careplan.subject"));
  CHECK_FALSE(match("ehealth-careplan.subject", "ehealth-careplan"));
  CHECK_FALSE(match("ehealth-careplan", "ehealth-careplan2"));
  CHECK_FALSE(match("ehealth-careplan", "ehealth-care"));
  CHECK(topic_pattern::compile("a.b_c-d")->is_literal());
}

TEST_CASE("topic pattern: '*' is exactly one segment") {
  CHECK(match("ehealth-episodeofcare.*", "ehealth-episodeofcare.status"));
  CHECK(match("ehealth-episodeofcare.*", "ehealth-episodeofcare.team"));
  CHECK_FALSE(match("ehealth-episodeofcare.*", "ehealth-episodeofcare"));
  CHECK_FALSE(match("ehealth-episodeofcare.*", "ehealth-episodeofcare.team.x"));
  CHECK(match("*", "ehealth-careplan"));
  CHECK_FALSE(match("*", "ehealth-careplan.subject"));
  CHECK(match("*.status", "ehealth-episodeofcare.status"));
  CHECK_FALSE(match("*.status", "ehealth-episodeofcare.team"));
  CHECK(match("a.*.c", "a.b.c"));
  CHECK_FALSE(match("a.*.c", "a.c"));
  CHECK_FALSE(topic_pattern::compile("a.*")->is_literal());
}

TEST_CASE("topic pattern: '>' is one or more remaining segments") {
  CHECK(match("ehealth-careplan.>", "ehealth-careplan.subject"));
  CHECK(match("ehealth-careplan.>", "ehealth-careplan.subject.x.y"));
  CHECK_FALSE(match("ehealth-careplan.>", "ehealth-careplan"));
  CHECK_FALSE(match("ehealth-careplan.>", "ehealth-careplanx.subject"));
  CHECK(match(">", "a"));
  CHECK(match(">", "a.b.c"));
  CHECK(match("*.>", "a.b"));
  CHECK_FALSE(match("*.>", "a"));
}

TEST_CASE("topic pattern: errors name the column and what was expected") {
  CHECK(pattern_error("") == "topic: expected a topic name or pattern, found empty text");
  CHECK(pattern_error("a..b") == "topic: expected a segment (a name, '*' or '>'), found '.' at column 3");
  CHECK(pattern_error(".a") == "topic: expected a segment (a name, '*' or '>'), found '.' at column 1");
  CHECK(pattern_error("a.") ==
        "topic: expected a segment (a name, '*' or '>'), found end of text at column 3");
  CHECK(pattern_error("a.>.b") == "topic: expected end of text after '>', found '.' at column 4");
  CHECK(pattern_error("ab*") ==
        "topic: expected a letter, digit, '_', '-' or '.', found '*' inside a name (a wildcard "
        "is a whole segment) at column 3");
  CHECK(pattern_error("a b") == "topic: expected a letter, digit, '_', '-' or '.', found ' ' at column 2");
  CHECK(pattern_error("a\x01") ==
        "topic: expected a letter, digit, '_', '-' or '.', found byte 0x01 at column 2");
  CHECK(pattern_error(std::string(250, 'a').c_str()) == "topic: longer than 249 bytes");
  CHECK(topic_pattern::compile(std::string(249, 'a')).ok());
}

TEST_CASE("parse_subscription: a valid body with each delivery mode") {
  auto s = parse_subscription(json::parse(
      R"({"topic":"ehealth-episodeofcare.*","selector":"eventType = 'create'"})"));
  REQUIRE(s.ok());
  CHECK(s->topic.text() == "ehealth-episodeofcare.*");
  CHECK(s->selector_text == "eventType = 'create'");
  CHECK(s->delivery.mode == delivery_mode::pull);
  CHECK(to_json(s->delivery) == json{{"mode", "pull"}});
  CHECK(s->compiled.matches([](std::string_view n) {
    return n == "eventType" ? property_value::string("create") : property_value::null();
  }));
  CHECK_FALSE(s->compiled.matches([](std::string_view n) {
    return n == "eventType" ? property_value::string("update") : property_value::null();
  }));

  auto all = parse_subscription(json{{"topic", "a"}});
  REQUIRE(all.ok());
  CHECK(all->compiled.empty());

  auto w = parse_subscription(json::parse(
      R"({"topic":">","delivery":{"mode":"webhook","url":"http://127.0.0.1:9/hook"}})"));
  REQUIRE(w.ok());
  CHECK(w->delivery.mode == delivery_mode::webhook);
  CHECK(to_json(w->delivery) == json{{"mode", "webhook"}, {"url", "http://127.0.0.1:9/hook"}});

  auto st = parse_subscription(json::parse(R"({"topic":"a","delivery":{"mode":"stream"}})"));
  REQUIRE(st.ok());
  CHECK(st->delivery.mode == delivery_mode::stream);
}

TEST_CASE("parse_subscription: refusals are 400 and name the field") {
  auto refuse = [](const char* body) {
    auto s = parse_subscription(json::parse(body));
    REQUIRE_FALSE_MESSAGE(s.ok(), body);
    CHECK(s.err().status == 400);
    return s.err().message;
  };
  CHECK(refuse("[]") == "expected a JSON object");
  CHECK(refuse("{}") == "topic: expected a string");
  CHECK(refuse(R"({"topic":1})") == "topic: expected a string");
  CHECK(refuse(R"({"topic":"a","x":1})") == "unknown field 'x'");
  CHECK(refuse(R"({"topic":"a*"})").rfind("topic: expected a letter", 0) == 0);
  CHECK(refuse(R"({"topic":"a","selector":5})") == "selector: expected a string");
  CHECK(refuse(R"({"topic":"a","delivery":"pull"})") == "delivery: expected an object");
  CHECK(refuse(R"({"topic":"a","delivery":{}})") ==
        "delivery.mode: expected \"pull\", \"webhook\" or \"stream\"");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"push"}})") ==
        "delivery.mode: expected \"pull\", \"webhook\" or \"stream\"");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"pull","url":"http://x"}})") ==
        "delivery.url: only for mode \"webhook\"");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"pull","y":1}})") ==
        "delivery: unknown field 'y'");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"webhook"}})") ==
        "delivery.url: expected an http:// or https:// URL");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"webhook","url":"ftp://x"}})") ==
        "delivery.url: expected an http:// or https:// URL with a host");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"webhook","url":"http://"}})") ==
        "delivery.url: expected an http:// or https:// URL with a host");
  CHECK(refuse(R"({"topic":"a","delivery":{"mode":"webhook","url":"http://a b"}})")
            .rfind("delivery.url: expected an http:// or https:// URL, found", 0) == 0);
}

TEST_CASE("parse_subscription: a selector error names its position; the size cap holds") {
  auto s = parse_subscription(json{{"topic", "a"}, {"selector", "eventType = 'x' AND ("}});
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().status == 400);
  CHECK(s.err().message.rfind("selector: expected", 0) == 0);
  CHECK(s.err().message.find("column 22") != std::string::npos);
  CHECK(s.err().detail.at("column") == 22);

  spec_limits small;
  small.max_selector_bytes = 16;
  auto big = parse_subscription(json{{"topic", "a"}, {"selector", "eventType = 'abcdefghij'"}},
                                small);
  REQUIRE_FALSE(big.ok());
  CHECK(big.err().status == 400);
  CHECK(parse_subscription(json{{"topic", "a"}, {"selector", "eventType = 'a'"}}, small).ok());
}
