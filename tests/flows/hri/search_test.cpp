// GET /tenants/{t}/batches query parameters: Echo's query binding, the validator's injection
// check, and what Elasticsearch would refuse (dates, from/size).
#include "flows/hri/domain.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
using params = std::vector<std::pair<std::string, std::string>>;

const int64_t jan2_2020 = 1577923200000;  // 2020-01-02T00:00:00Z

std::string search_error(const params& p) {
  auto r = hri::parse_search(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().status == 400);
  return r.err().message;
}

std::string date_text(const std::string& v) {
  std::string reason = "failed to parse date field [" + v +
                       "] with format [strict_date_optional_time||epoch_millis]";
  return "Get batch failed: [400] search_phase_execution_exception: all shards failed: "
         "parse_exception: " +
         reason + ": [" + reason + "]";
}

}  // namespace

TEST_CASE("search: defaults and given values") {
  auto none = hri::parse_search({});
  REQUIRE(none.ok());
  CHECK(none->size == 10);
  CHECK(none->from == 0);
  CHECK_FALSE(none->name);
  CHECK_FALSE(none->status);
  CHECK_FALSE(none->gte_ms);
  CHECK_FALSE(none->lte_ms);
  auto all = hri::parse_search({{"name", "niceName"},
                                {"status", "niceStatus"},
                                {"gteDate", "2020-01-02"},
                                {"lteDate", "2020-01-02"},
                                {"size", "1"},
                                {"from", "2"}});
  REQUIRE(all.ok());
  CHECK(all->name == "niceName");
  CHECK(all->status == "niceStatus");  // unknown statuses simply match nothing
  CHECK(all->size == 1);
  CHECK(all->from == 2);
  CHECK(all->gte_ms == jan2_2020);
  CHECK(all->lte_ms == jan2_2020 + 86399999);  // lte rounds a date up to the day's end
  // Echo: first value, case-insensitive names, an empty integer is 0.
  auto echo = hri::parse_search({{"SIZE", "5"}, {"size", "7"}, {"size", "8"}, {"from", ""}});
  CHECK(echo->size == 7);
  CHECK(echo->from == 0);
  auto empty_name = hri::parse_search({{"name", ""}});
  CHECK(empty_name->name == "");  // present: matches only batches named ""
}

TEST_CASE("search: dates as Elasticsearch reads them") {
  auto gte = [](const std::string& v) { return hri::parse_search({{"gteDate", v}})->gte_ms; };
  auto lte = [](const std::string& v) { return hri::parse_search({{"lteDate", v}})->lte_ms; };
  CHECK(gte("2020-01-02T10:00:00Z") == jan2_2020 + 36000000);
  CHECK(gte("2020-01-02T10:00:00.5Z") == jan2_2020 + 36000500);
  CHECK(gte("2020-01-02T10:00:00+01:00") == jan2_2020 + 32400000);
  CHECK(gte("2020-01-02T10:00:00-0130") == jan2_2020 + 41400000);
  CHECK(gte("2020-01-02T10:00") == jan2_2020 + 36000000);
  CHECK(gte("2020-01-02T10") == jan2_2020 + 36000000);
  CHECK(gte("2020-01") == 1577836800000);
  CHECK(gte("2020") == 1577836800000);  // a 4-digit number is a year, not epoch millis
  CHECK(gte("1577923200000") == jan2_2020);
  CHECK(gte("-1000") == -1000);
  CHECK(lte("2020-01-02T10:00") == jan2_2020 + 36059999);
  CHECK(lte("2020-01-02T10:00:00Z") == jan2_2020 + 36000999);
  CHECK(lte("2020-01-02T10:00:00.250Z") == jan2_2020 + 36000250);
  CHECK(lte("1577923200000") == jan2_2020);
  for (std::string v : {"INVALID", "", "2020-13-01", "2019-02-29", "2020-01-02T24:00:00Z",
                        "2020-01-02 10:00:00", "01/02/2020", "2020-01-02T10:00:00+25:00"}) {
    CHECK(search_error({{"gteDate", v}}) == date_text(v));
  }
  CHECK(search_error({{"lteDate", "later"}}) == date_text("later"));
  CHECK(search_error({{"gteDate", "a"}, {"lteDate", "b"}}) == date_text("a"));  // gte first
}

TEST_CASE("search: from and size") {
  CHECK(search_error({{"size", "abc"}}) ==
        "code=400, message=strconv.ParseInt: parsing \"abc\": invalid syntax, "
        "internal=strconv.ParseInt: parsing \"abc\": invalid syntax");
  CHECK(search_error({{"from", "1.5"}}) ==
        "code=400, message=strconv.ParseInt: parsing \"1.5\": invalid syntax, "
        "internal=strconv.ParseInt: parsing \"1.5\": invalid syntax");
  CHECK(search_error({{"from", "99999999999999999999"}}) ==
        "code=400, message=strconv.ParseInt: parsing \"99999999999999999999\": value out of "
        "range, internal=strconv.ParseInt: parsing \"99999999999999999999\": value out of range");
  CHECK(search_error({{"size", "a\"b"}, {"from", "x"}}) ==  // size is bound first
        "code=400, message=strconv.ParseInt: parsing \"a\\\"b\": invalid syntax, "
        "internal=strconv.ParseInt: parsing \"a\\\"b\": invalid syntax");
  CHECK(hri::parse_search({{"size", "-1"}, {"from", "-1"}})->size == 10);  // ES: "not given"
  CHECK(hri::parse_search({{"size", "-1"}, {"from", "-1"}})->from == 0);
  CHECK(hri::parse_search({{"size", "+5"}})->size == 5);
  CHECK(search_error({{"size", "-2"}}) ==
        "Get batch failed: [400] illegal_argument_exception: [size] parameter cannot be "
        "negative, found [-2]");
  CHECK(search_error({{"from", "-5"}}) ==
        "Get batch failed: [400] illegal_argument_exception: [from] parameter cannot be negative");
  CHECK(search_error({{"size", "3000000000"}}) ==
        "Get batch failed: [400] illegal_argument_exception: Failed to parse int parameter "
        "[size] with value [3000000000]");
  CHECK(hri::parse_search({{"size", "9990"}, {"from", "10"}}).ok());
  CHECK(search_error({{"size", "9991"}, {"from", "10"}}) ==
        "Get batch failed: [400] search_phase_execution_exception: all shards failed: "
        "illegal_argument_exception: Result window is too large, from + size must be less than or "
        "equal to: [10000] but was [10001]. See the scroll api for a more efficient way to "
        "request large data sets. This limit can be set by changing the "
        "[index.max_result_window] index level setting.");
  CHECK(search_error({{"from", "9999"}, {"gteDate", "x"}}) == date_text("x"));  // dates first
}

TEST_CASE("search: injection characters and the tenant, before authorization") {
  const std::string injection = R"(must not contain the following characters: "=<>[]{})";
  CHECK(search_error({{"name", "{[]//sqlInjection[]}"}}) ==
        "invalid request arguments:\n- name (request query parameter) " + injection);
  CHECK(search_error({{"status", "{[]//sqlInjection[]}"}}) ==
        "invalid request arguments:\n- status (request query parameter) " + injection);
  CHECK(search_error({{"gteDate", "01/01/2019"}, {"lteDate", R"({}[][sqlInjection]"})"}}) ==
        "invalid request arguments:\n- lteDate (request query parameter) " + injection);
  CHECK(search_error({{"gteDate", "a=b"}, {"name", "<"}}) ==
        "invalid request arguments:\n- gteDate (request query parameter) " + injection +
            "\n- name (request query parameter) " + injection);
  // bind_search stops at what HRI checks before the token; resolve_search does the rest.
  auto bound = hri::bind_search("t1", {{"gteDate", "INVALID"}, {"size", "20000"}});
  REQUIRE(bound.ok());
  CHECK(bound->gte_date == "INVALID");
  CHECK_FALSE(bound->gte_ms);
  CHECK(hri::resolve_search(*bound)->message == date_text("INVALID"));
  auto missing = hri::bind_search("", {{"name", "x"}});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().message ==
        "invalid request arguments:\n- tenantId (url path parameter) is a required field");
  auto fine = hri::bind_search("t1", {{"lteDate", "2020-01-02"}});
  REQUIRE(fine.ok());
  CHECK_FALSE(hri::resolve_search(*fine));
  CHECK(fine->lte_ms == jan2_2020 + 86399999);
}
