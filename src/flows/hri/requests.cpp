// Request parsing with HRI's 400 texts: Echo binds the path, the query (GET) and the body, and a
// binding failure is the whole answer; otherwise go-playground/validator checks the bound struct
// and every failing field contributes one sorted line to "invalid request arguments:".
#include "core/clock.hpp"
#include "core/strings.hpp"
#include "flows/hri/domain.hpp"
#include "flows/hri/go_json.hpp"

#include <cerrno>
#include <cstdlib>

namespace medflow::flows::hri {

namespace {

using go::bound;
using go::go_type;
using go::violations;

constexpr const char* required = "is a required field";
constexpr const char* tenant_format =
    "may only contain lower-case alpha-numeric chars and the following 2 special chars: '-', "
    "'_'";
constexpr const char* stream_format =
    "may only contain lower-case alpha-numeric characters, no more than one '.', and the "
    "following 2 special chars: '-', '_'";

// HRI accepts any Unicode lower-case letter or digit; medflow keeps to ASCII because the ids
// become Kafka topic names, which allow nothing else.
bool tenant_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool valid_tenant(const std::string& id) {
  for (char c : id)
    if (!tenant_char(c)) return false;
  return true;
}

bool valid_stream(const std::string& id) {
  int dots = 0;
  for (char c : id) {
    if (c == '.') {
      ++dots;
    } else if (!tenant_char(c)) {
      return false;
    }
  }
  return dots <= 1;
}

// The path parameters and the rule each request struct applies to them.
enum class id_rule { skip, required, tenant, stream };

void check_id(violations& v, const char* name, const std::string& value, id_rule rule) {
  if (rule == id_rule::skip) return;
  if (value.empty()) {
    v.path(name, required);
  } else if (rule == id_rule::tenant && !valid_tenant(value)) {
    v.path(name, tenant_format);
  } else if (rule == id_rule::stream && !valid_stream(value)) {
    v.path(name, stream_format);
  }
}

// "required" + "injection-check-validator" on a bound string.
void check_text(violations& v, const char* name, const bound& b) {
  std::string s = b.present ? b.value.get<std::string>() : std::string();
  if (s.empty()) {
    v.body(name, required);
  } else if (go::has_injection_chars(s)) {
    v.body(name, go::injection_message);
  }
}

// min / max on a bound integer (present pointers are checked even when zero).
void check_range(violations& v, const char* name, const bound& b, int64_t min, int64_t max) {
  if (!b.present) return;
  int64_t n = b.value.get<int64_t>();
  if (n < min) {
    v.body(name, "must be " + go::group_digits(min) + " or greater");
  } else if (n > max) {
    v.body(name, "must be " + go::group_digits(max) + " or less");
  }
}

std::optional<int64_t> int_of(const bound& b) {
  if (!b.present) return std::nullopt;
  return b.value.get<int64_t>();
}

json map_of(const bound& b) {
  return b.present ? b.value : json();
}

// Decode + bind: the binder's text is the whole 400 answer.
std::optional<error> bind_body(const std::string& body, const char* go_struct,
                               const std::vector<go::field>& fields, std::vector<bound>& out) {
  auto decoded = go::decode(body);
  if (auto* text = std::get_if<std::string>(&decoded)) return error::bad_request(*text);
  if (auto text = go::bind(std::get<go::document>(decoded), go_struct, fields, out)) {
    return error::bad_request(*text);
  }
  return std::nullopt;
}

result<create_batch> create_batch_from(const std::string* tenant, const std::string& body) {
  static const std::vector<go::field> fields = {{"name", go_type::string},
                                                {"topic", go_type::string},
                                                {"dataType", go_type::string},
                                                {"invalidThreshold", go_type::int_},
                                                {"metadata", go_type::map}};
  std::vector<bound> b;
  if (auto e = bind_body(body, "CreateBatch", fields, b)) return *e;
  violations v;
  if (tenant) check_id(v, "tenantId", *tenant, id_rule::tenant);
  check_text(v, "name", b[0]);
  check_text(v, "topic", b[1]);
  check_text(v, "dataType", b[2]);
  if (auto e = v.to_error()) return *e;
  create_batch r;
  r.name = b[0].value.get<std::string>();
  r.topic = b[1].value.get<std::string>();
  r.data_type = b[2].value.get<std::string>();
  int64_t threshold = int_of(b[3]).value_or(0);
  r.invalid_threshold = threshold == 0 ? -1 : threshold;  // HRI: omitted or 0 means "none"
  r.metadata = map_of(b[4]);
  return r;
}

result<action_request> action_from(action a, const std::string* tenant, const std::string* id,
                                   const std::string& body) {
  static const std::vector<go::field> send_complete = {{"expectedRecordCount", go_type::int_ptr},
                                                       {"recordCount", go_type::int_ptr},
                                                       {"metadata", go_type::map}};
  static const std::vector<go::field> terminate = {{"metadata", go_type::map}};
  static const std::vector<go::field> processing_complete = {
      {"actualRecordCount", go_type::int_ptr}, {"invalidRecordCount", go_type::int_ptr}};
  static const std::vector<go::field> fail = {{"actualRecordCount", go_type::int_ptr},
                                              {"invalidRecordCount", go_type::int_ptr},
                                              {"failureMessage", go_type::string}};
  const std::vector<go::field>* fields = &terminate;
  const char* go_struct = "TerminateRequest";
  switch (a) {
    case action::send_complete:
      fields = &send_complete;
      go_struct = "SendCompleteRequest";
      break;
    case action::terminate:
      break;
    case action::processing_complete:
      fields = &processing_complete;
      go_struct = "ProcessingCompleteRequest";
      break;
    case action::fail:
      fields = &fail;
      go_struct = "FailRequest";
      break;
  }
  std::vector<bound> b;
  if (auto e = bind_body(body, go_struct, *fields, b)) return *e;
  violations v;
  if (tenant) check_id(v, "tenantId", *tenant, id_rule::required);
  if (id) check_id(v, "id", *id, id_rule::required);
  action_request r{a, {}, {}, {}, {}, {}};
  switch (a) {
    case action::send_complete:
      if (!b[0].present && !b[1].present) {
        v.body("expectedRecordCount",
               "must be present if recordCount (json field in request body) is not present");
        v.body("recordCount",
               "must be present if expectedRecordCount (json field in request body) is not "
               "present");
      }
      check_range(v, "expectedRecordCount", b[0], 0, INT64_MAX);
      check_range(v, "recordCount", b[1], 0, INT64_MAX);
      // The deprecated recordCount only counts when expectedRecordCount is absent.
      r.expected_record_count = b[0].present ? int_of(b[0]) : int_of(b[1]);
      r.metadata = map_of(b[2]);
      break;
    case action::terminate:
      r.metadata = map_of(b[0]);
      break;
    case action::fail:
      if (!b[2].present || b[2].value.get<std::string>().empty()) {
        v.body("failureMessage", required);
      } else {
        r.failure_message = b[2].value.get<std::string>();
      }
      [[fallthrough]];
    case action::processing_complete:
      if (!b[0].present) v.body("actualRecordCount", required);
      if (!b[1].present) v.body("invalidRecordCount", required);
      check_range(v, "actualRecordCount", b[0], 0, INT64_MAX);
      check_range(v, "invalidRecordCount", b[1], 0, INT64_MAX);
      r.actual_record_count = int_of(b[0]);
      r.invalid_record_count = int_of(b[1]);
      break;
  }
  if (auto e = v.to_error()) return *e;
  return r;
}

result<stream_settings> stream_from(const std::string* tenant, const std::string* stream,
                                    const std::string& body) {
  static const std::vector<go::field> fields = {
      {"numPartitions", go_type::int64_ptr},   {"retentionMs", go_type::int_ptr},
      {"cleanupPolicy", go_type::string_ptr},  {"retentionBytes", go_type::int_ptr},
      {"segmentMs", go_type::int_ptr},         {"segmentBytes", go_type::int_ptr},
      {"segmentIndexBytes", go_type::int_ptr}, {"validator", go_type::string}};
  std::vector<bound> b;
  if (auto e = bind_body(body, "CreateStreamsRequest", fields, b)) return *e;
  violations v;
  if (tenant) check_id(v, "tenantId", *tenant, id_rule::tenant);
  if (stream) check_id(v, "id", *stream, id_rule::stream);
  if (!b[0].present) v.body("numPartitions", required);
  check_range(v, "numPartitions", b[0], 1, 99);
  if (!b[1].present) v.body("retentionMs", required);
  check_range(v, "retentionMs", b[1], 3600000, 2592000000);
  if (b[2].present) {
    auto policy = b[2].value.get<std::string>();
    if (policy != "delete" && policy != "compact") {
      v.body("cleanupPolicy", "must be one of [delete compact]");
    }
  }
  check_range(v, "retentionBytes", b[3], 10485760, 1073741824);
  check_range(v, "segmentMs", b[4], 300000, 2592000000);
  check_range(v, "segmentBytes", b[5], 10485760, 536870912);
  check_range(v, "segmentIndexBytes", b[6], 102400, 104857600);
  // medflow's own field, declared like HRI's optional enums ("omitempty,oneof=..."): an empty
  // string is the default.
  std::string validator_kind = b[7].present ? b[7].value.get<std::string>() : std::string();
  if (!validator_kind.empty() && !known_validator(validator_kind)) {
    v.body("validator", "must be one of [passthrough json fhir]");
  }
  if (auto e = v.to_error()) return *e;
  stream_settings s;
  s.num_partitions = *int_of(b[0]);
  s.retention_ms = *int_of(b[1]);
  if (b[2].present) s.cleanup_policy = b[2].value.get<std::string>();
  s.retention_bytes = int_of(b[3]);
  s.segment_ms = int_of(b[4]);
  s.segment_bytes = int_of(b[5]);
  s.segment_index_bytes = int_of(b[6]);
  if (!validator_kind.empty()) s.validator = validator_kind;
  return s;
}

// -- search ------------------------------------------------------------------------------------

using params_t = std::vector<std::pair<std::string, std::string>>;

// Echo's query binding: the first value of the exact name, else of a case-insensitive match.
const std::string* query_value(const params_t& params, const char* name) {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  for (const auto& [k, v] : params)
    if (strings::iequals(k, name)) return &v;
  return nullptr;
}

// Echo's setIntField: an empty value is 0, else strconv.ParseInt(value, 10, 64).
std::optional<error> query_int(const params_t& params, const char* name, int64_t& out) {
  const std::string* value = query_value(params, name);
  if (!value) return std::nullopt;
  if (value->empty()) {
    out = 0;
    return std::nullopt;
  }
  const std::string& s = *value;
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  bool digits = i < s.size();
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') digits = false;
  const char* reason = "invalid syntax";
  if (digits) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) {
      out = v;
      return std::nullopt;
    }
    reason = "value out of range";
  }
  std::string internal = "strconv.ParseInt: parsing " + go::quote(s) + ": " + reason;
  return error::bad_request("code=400, message=" + internal + ", internal=" + internal);
}

constexpr const char* es_date_format = "strict_date_optional_time||epoch_millis";

// Elasticsearch's strict_date_optional_time||epoch_millis: yyyy[-MM[-dd[THH[:mm[:ss[.f]]][zone]]]]
// in UTC unless a zone (Z, +hh:mm, +hhmm, +hh) is given, else an integer of epoch milliseconds
// (a bare 4-digit number is a year, as the first format wins). `round_up` is how Elasticsearch
// reads an lte bound: missing time fields are the end of the period (23:59:59.999).
std::optional<int64_t> parse_es_date(const std::string& s, bool round_up) {
  auto num = [&](size_t pos, size_t n, int64_t& out) { return clock::read_digits(s, pos, n, out); };
  int64_t y = 0, mo = 1, d = 1;
  int64_t h = round_up ? 23 : 0, mi = round_up ? 59 : 0, sec = round_up ? 59 : 0;
  int64_t ms = round_up ? 999 : 0, offset_min = 0;
  bool date_ok = num(0, 4, y);
  size_t pos = 4;
  if (date_ok && pos < s.size() && s[pos] == '-') {
    date_ok = num(pos + 1, 2, mo);
    pos += 3;
    if (date_ok && pos < s.size() && s[pos] == '-') {
      date_ok = num(pos + 1, 2, d);
      pos += 3;
      if (date_ok && pos < s.size() && s[pos] == 'T') {
        date_ok = num(pos + 1, 2, h);
        pos += 3;
        if (date_ok && pos < s.size() && s[pos] == ':') {
          date_ok = num(pos + 1, 2, mi);
          pos += 3;
          if (date_ok && pos < s.size() && s[pos] == ':') {
            date_ok = num(pos + 1, 2, sec);
            pos += 3;
            if (date_ok && pos < s.size() && s[pos] == '.') {
              size_t start = ++pos;
              int64_t frac = 0, scale = 100;
              while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
                frac += (s[pos] - '0') * scale;
                scale /= 10;
                ++pos;
              }
              date_ok = pos > start && pos - start <= 9;
              ms = frac;
            } else if (round_up) {
              ms = 999;
            } else {
              ms = 0;
            }
          } else {
            sec = round_up ? 59 : 0;
          }
        } else {
          mi = round_up ? 59 : 0;
        }
        if (date_ok && pos < s.size()) {
          char z = s[pos];
          if (z == 'Z') {
            ++pos;
          } else if (z == '+' || z == '-') {
            int64_t oh = 0, om = 0;
            date_ok = num(pos + 1, 2, oh);
            pos += 3;
            if (date_ok && pos < s.size() && s[pos] == ':') {
              date_ok = num(pos + 1, 2, om);
              pos += 3;
            } else if (date_ok && pos + 2 <= s.size() && num(pos, 2, om)) {
              pos += 2;
            }
            offset_min = (oh * 60 + om) * (z == '+' ? 1 : -1);
            date_ok = date_ok && oh <= 18 && om <= 59;
          }
        }
      }
    }
  }
  if (date_ok && pos == s.size() && h <= 23 && mi <= 59 && sec <= 59) {
    if (!clock::valid_date(y, mo, d)) return std::nullopt;
    int64_t secs =
        clock::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    return secs * 1000 + ms;
  }
  // epoch_millis: an integer, optionally negative, with an optional fraction of a millisecond.
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  size_t digits_start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == digits_start || i - digits_start > 18) return std::nullopt;
  size_t int_end = i;
  if (i < s.size() && s[i] == '.') {
    size_t frac_start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == frac_start) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return std::strtoll(s.substr(0, int_end).c_str(), nullptr, 10);
}

error es_error(const std::string& detail) {
  return error::bad_request("Get batch failed: [400] " + detail);
}

error date_error(const std::string& value) {
  std::string reason =
      "failed to parse date field [" + value + "] with format [" + es_date_format + "]";
  return es_error("search_phase_execution_exception: all shards failed: parse_exception: " +
                  reason + ": [" + reason + "]");
}

// Elasticsearch reads from and size as Java ints; -1 means "not given".
std::optional<error> es_int(const char* name, int64_t& value, int64_t fallback) {
  if (value < INT32_MIN || value > INT32_MAX) {
    return es_error(std::string("illegal_argument_exception: Failed to parse int parameter [") +
                    name + "] with value [" + std::to_string(value) + "]");
  }
  if (value == -1) value = fallback;
  if (value < 0) {
    if (std::string(name) == "from") {
      return es_error("illegal_argument_exception: [from] parameter cannot be negative");
    }
    return es_error("illegal_argument_exception: [size] parameter cannot be negative, found [" +
                    std::to_string(value) + "]");
  }
  return std::nullopt;
}

result<search_query> search_from(const std::string* tenant, const params_t& params) {
  search_query q;
  // Echo binds the struct fields in order: name, status, gteDate, lteDate, size, from.
  auto text = [&](const char* name, std::optional<std::string>& out) {
    if (const std::string* v = query_value(params, name)) out = *v;
  };
  text("name", q.name);
  text("status", q.status);
  text("gteDate", q.gte_date);
  text("lteDate", q.lte_date);
  if (auto e = query_int(params, "size", q.size)) return *e;
  if (auto e = query_int(params, "from", q.from)) return *e;
  violations v;
  if (tenant) check_id(v, "tenantId", *tenant, id_rule::required);
  auto inject = [&](const char* name, const std::optional<std::string>& value) {
    if (value && go::has_injection_chars(*value)) v.query(name, go::injection_message);
  };
  inject("name", q.name);
  inject("status", q.status);
  inject("gteDate", q.gte_date);
  inject("lteDate", q.lte_date);
  if (auto e = v.to_error()) return *e;
  return q;
}

}  // namespace

std::optional<error> check_tenant_id(const std::string& id) {
  violations v;
  check_id(v, "tenantId", id, id_rule::tenant);
  return v.to_error();
}

std::optional<error> check_stream_id(const std::string& id) {
  violations v;
  check_id(v, "id", id, id_rule::stream);
  return v.to_error();
}

std::optional<error> check_tenant_present(const std::string& tenant) {
  violations v;
  check_id(v, "tenantId", tenant, id_rule::required);
  return v.to_error();
}

std::optional<error> check_batch_ids(const std::string& tenant, const std::string& batch_id) {
  violations v;
  check_id(v, "tenantId", tenant, id_rule::required);
  check_id(v, "id", batch_id, id_rule::required);
  return v.to_error();
}

std::optional<error> check_stream_ids(const std::string& tenant, const std::string& stream) {
  violations v;
  check_id(v, "tenantId", tenant, id_rule::required);
  check_id(v, "id", stream, id_rule::stream);
  return v.to_error();
}

result<create_batch> parse_create_batch(const std::string& body) {
  return create_batch_from(nullptr, body);
}

result<create_batch> parse_create_batch(const std::string& tenant, const std::string& body) {
  return create_batch_from(&tenant, body);
}

result<action_request> parse_action(action a, const std::string& body) {
  return action_from(a, nullptr, nullptr, body);
}

result<action_request> parse_action(action a, const std::string& tenant,
                                    const std::string& batch_id, const std::string& body) {
  return action_from(a, &tenant, &batch_id, body);
}

result<stream_settings> parse_stream(const std::string& body) {
  return stream_from(nullptr, nullptr, body);
}

result<stream_settings> parse_stream(const std::string& tenant, const std::string& stream,
                                     const std::string& body) {
  return stream_from(&tenant, &stream, body);
}

result<search_query> bind_search(const std::string& tenant, const params_t& params) {
  return search_from(&tenant, params);
}

std::optional<error> resolve_search(search_query& q) {
  // Elasticsearch's order: the REST layer reads from, then size; the shard parses the query's
  // dates (gte before lte), then checks the result window.
  if (auto e = es_int("from", q.from, 0)) return e;
  if (auto e = es_int("size", q.size, 10)) return e;
  q.gte_ms.reset();
  q.lte_ms.reset();
  if (q.gte_date) {
    q.gte_ms = parse_es_date(*q.gte_date, false);
    if (!q.gte_ms) return date_error(*q.gte_date);
  }
  if (q.lte_date) {
    q.lte_ms = parse_es_date(*q.lte_date, true);
    if (!q.lte_ms) return date_error(*q.lte_date);
  }
  if (q.from + q.size > 10000) {
    return es_error(
        "search_phase_execution_exception: all shards failed: illegal_argument_exception: Result "
        "window is too large, from + size must be less than or equal to: [10000] but was [" +
        std::to_string(q.from + q.size) +
        "]. See the scroll api for a more efficient way to request large data sets. This limit "
        "can be set by changing the [index.max_result_window] index level setting.");
  }
  return std::nullopt;
}

result<search_query> parse_search(const params_t& params) {
  auto q = search_from(nullptr, params);
  if (!q) return q;
  if (auto e = resolve_search(*q)) return *e;
  return q;
}

}  // namespace medflow::flows::hri
