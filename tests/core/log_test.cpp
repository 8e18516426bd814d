#include "core/log.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace medflow;

namespace {
// 2026-12-07T01:02:03.045Z
constexpr int64_t t_ms = 1796605323045;
}  // namespace

TEST_CASE("log formats: text, json and journal, with structured fields") {
  log::fields fs{{"job_id", "j-1"}, {"request_id", "has space"}};

  auto text = log::render(log::format::text, log::level::warn, t_ms, "medical_events",
                          "job skipped", fs);
  CHECK(text == "2026-12-07T01:02:03.045Z warn  [medical_events] job skipped job_id=j-1 "
                "request_id=\"has space\"");

  auto line = log::render(log::format::json, log::level::info, t_ms, "hri", "a \"quoted\"\nline",
                          {{"batch_id", "b1"}, {"correlation_id", "c1"}});
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2026-12-07T01:02:03.045Z");
  CHECK(j["level"] == "info");
  CHECK(j["component"] == "hri");
  CHECK(j["message"] == "a \"quoted\"\nline");
  CHECK(j["batch_id"] == "b1");
  CHECK(j["correlation_id"] == "c1");
  // The keys in a fixed order: time first, as log shippers expect.
  CHECK(line.rfind("{\"time\":", 0) == 0);

  // A field cannot overwrite the line's own keys.
  auto clash = nlohmann::json::parse(log::render(log::format::json, log::level::error, t_ms, "x",
                                                 "m", {{"level", "debug"}}));
  CHECK(clash["level"] == "error");

  // Invalid UTF-8 in a message still gives valid JSON.
  CHECK_NOTHROW(nlohmann::json::parse(
      log::render(log::format::json, log::level::info, t_ms, "x", "bad \xff byte", {})));

  CHECK(log::render(log::format::journal, log::level::error, t_ms, "store", "full", {}) ==
        "<3>[store] full");
  CHECK(log::render(log::format::journal, log::level::warn, t_ms, "a", "b", {}).rfind("<4>", 0) == 0);
  CHECK(log::render(log::format::journal, log::level::info, t_ms, "a", "b", {}).rfind("<6>", 0) == 0);
  CHECK(log::render(log::format::journal, log::level::debug, t_ms, "a", "b", {}).rfind("<7>", 0) == 0);
  // One event, one line: a newline in a text message cannot forge another line.
  CHECK(log::render(log::format::journal, log::level::info, t_ms, "a", "x\n<3>forged", {}) ==
        "<6>[a] x <3>forged");
}

TEST_CASE("log format names") {
  log::format f = log::format::text;
  CHECK(log::parse_format("json", f));
  CHECK(f == log::format::json);
  CHECK(log::parse_format("journal", f));
  CHECK(f == log::format::journal);
  CHECK(log::parse_format("text", f));
  CHECK(f == log::format::text);
  CHECK_FALSE(log::parse_format("xml", f));
}
