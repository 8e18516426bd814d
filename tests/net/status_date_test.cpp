// The status table and the Date text.
#include "net/date.hpp"
#include "net/status.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace medflow::net;

TEST_SUITE_BEGIN("status");

TEST_CASE("one row per status: reason phrase, error code and message") {
  CHECK(std::string(reason_phrase(200)) == "OK");
  CHECK(std::string(reason_phrase(404)) == "Not Found");
  CHECK(std::string(reason_phrase(413)) == "Content Too Large");  // RFC 9110's name
  CHECK(std::string(reason_phrase(422)) == "Unprocessable Content");
  CHECK(std::string(reason_phrase(299)) == "Unknown");
  CHECK(std::string(error_code_for(404)) == "not_found");
  CHECK(std::string(error_message_for(404)) == "not found");
  CHECK(std::string(error_code_for(413)) == "payload_too_large");
  CHECK(std::string(error_code_for(431)) == "header_fields_too_large");
  CHECK(std::string(error_code_for(505)) == "http_version_not_supported");
  // Without an error code of their own: medflow's generic ones.
  CHECK(std::string(error_code_for(409)) == "internal_error");
  CHECK(std::string(error_message_for(409)) == "error");
  CHECK(std::string(error_code_for(299)) == "internal_error");
}

TEST_CASE("IMF-fixdate (RFC 9110 5.6.7)") {
  CHECK(imf_fixdate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  CHECK(imf_fixdate(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(imf_fixdate(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(imf_fixdate(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST_CASE("the date cache formats once per second, not per call") {
  date_cache cache;
  for (int i = 0; i < 1000; ++i) CHECK(cache.at(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(cache.formats() == 1);
  CHECK(cache.at(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
  CHECK(cache.at(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
  CHECK(cache.formats() == 2);
  // current_date() is this thread's cache at the clock's second.
  auto now = current_date();
  CHECK(now.size() == 29);
  CHECK(now.substr(25) == " GMT");
}

TEST_SUITE_END();
