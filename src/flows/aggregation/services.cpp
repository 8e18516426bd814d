// Configuration: the three timeouts, aggregating service definitions (one JSON file each under
// config/aggregation/) and the TAK (permissions and routes).
#include "flows/aggregation/domain.hpp"

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <limits>
#include <set>

namespace medflow::flows::aggregation {

namespace {

std::string in_quotes(const std::string& s) {
  return json(s).dump();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool valid_name(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Reads the members of one object of a configuration file, naming fields by their path in the
// file ("timeouts.serviceMs") after a prefix that says which file ("service GetX: ").
class object_reader {
 public:
  object_reader(const json& j, std::string prefix, std::string path)
      : j_(j), prefix_(std::move(prefix)), path_(std::move(path)) {}

  error fail(const std::string& field, const std::string& what) const {
    return error::bad_request(prefix_ + name(field) + " " + what);
  }
  std::string name(const std::string& field) const {
    return path_.empty() ? field : path_ + "." + field;
  }
  const json* find(const char* field) const {
    auto it = j_.find(field);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  // Unknown members are refused: a misspelt key would otherwise silently keep a default (a
  // misspelt sourceSystemPointer would turn the consumer's filter off).
  std::optional<error> only(std::initializer_list<const char*> known) const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      bool found =
          std::any_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; });
      if (!found) return error::bad_request(prefix_ + "unknown field " + in_quotes(name(it.key())));
    }
    return std::nullopt;
  }

  std::optional<error> text(const char* field, bool required, std::string& out) const {
    const json* v = find(field);
    if (!v) {
      if (required) return fail(field, "is required");
      return std::nullopt;
    }
    if (!v->is_string()) return fail(field, "must be a string");
    out = v->get<std::string>();
    if (required && out.empty()) return fail(field, "must not be empty");
    return std::nullopt;
  }

  std::optional<error> integer(const char* field, int64_t& out) const {
    const json* v = find(field);
    if (!v) return std::nullopt;
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() &&
         v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
      return fail(field, "must be an integer");
    out = v->get<int64_t>();
    return std::nullopt;
  }

  std::optional<error> boolean(const char* field, bool& out) const {
    const json* v = find(field);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return fail(field, "must be true or false");
    out = v->get<bool>();
    return std::nullopt;
  }

  std::optional<error> pointer(const char* field, bool required, std::string& out) const {
    if (auto e = text(field, required, out)) return e;
    if (out.empty()) return std::nullopt;
    try {
      json::json_pointer p(out);
    } catch (const json::exception&) {
      // A stable text of our own: the library's wording changes between versions.
      return fail(field, in_quotes(out) +
                             " is not a JSON pointer (RFC 6901: \"/a/b\", ~0 for ~, ~1 for /)");
    }
    return std::nullopt;
  }

 private:
  const json& j_;
  std::string prefix_;
  std::string path_;
};

// The configured categories: a single string, a comma list or an array. Unlike AgP (which
// splits on "," without trimming, so "cat2, cat3" never matches " cat3") each one is trimmed,
// and an empty one is refused.
std::optional<error> read_categorizations(const object_reader& r, const json* v,
                                          std::vector<std::string>& out) {
  if (!v) return std::nullopt;
  std::vector<std::string> raw;
  if (v->is_string()) {
    const auto s = v->get<std::string>();
    if (trim(s).empty()) return std::nullopt;
    size_t from = 0;
    while (true) {
      auto comma = s.find(',', from);
      raw.push_back(s.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
  } else if (v->is_array()) {
    for (const auto& item : *v) {
      if (!item.is_string()) return r.fail("categorization", "must hold strings");
      raw.push_back(item.get<std::string>());
    }
  } else {
    return r.fail("categorization", "must be a string, a comma list or an array of strings");
  }
  for (const auto& c : raw) {
    auto t = trim(c);
    if (t.empty()) return r.fail("categorization", "has an empty category");
    out.push_back(t);
  }
  return std::nullopt;
}

}  // namespace

std::optional<error> check_timeouts(const timeouts& t, const std::string& where, bool strict) {
  std::vector<std::string> problems;
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0)
      problems.push_back(std::string(name) + " (" + std::to_string(v) + ") must be positive");
  };
  positive("SERVICE_TIMEOUT_MS", t.service_ms);
  positive("AGGREGATE_TIMEOUT_MS", t.aggregate_ms);
  positive("AGGREGATED_SERVICE_TIMEOUT_MS", t.aggregated_service_ms);
  // The seed's rule: a source's call must end before the answers are collected, and the
  // collection before the consumer's request times out; otherwise a slow source's error is
  // never reported in processingStatus.
  if (strict && t.aggregate_ms <= t.service_ms)
    problems.push_back("AGGREGATE_TIMEOUT_MS (" + std::to_string(t.aggregate_ms) +
                       ") must be greater than SERVICE_TIMEOUT_MS (" +
                       std::to_string(t.service_ms) + ")");
  if (t.aggregated_service_ms <= t.aggregate_ms)
    problems.push_back("AGGREGATED_SERVICE_TIMEOUT_MS (" + std::to_string(t.aggregated_service_ms) +
                       ") must be greater than AGGREGATE_TIMEOUT_MS (" +
                       std::to_string(t.aggregate_ms) + ")");
  if (problems.empty()) return std::nullopt;
  std::string msg = where.empty() ? "" : where + ": ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  return error::bad_request(msg);
}

result<service_definition> parse_service(const json& j, const timeouts& default_timeouts,
                                         const cache_settings& default_cache) {
  if (!j.is_object()) return error::bad_request("service: the definition must be a JSON object");
  service_definition s;
  s.limits = default_timeouts;
  s.cache = default_cache;

  {
    object_reader r(j, "service: ", "");
    if (auto e = r.text("name", true, s.name)) return *e;
    if (!valid_name(s.name))
      return r.fail("name", in_quotes(s.name) + " must match [A-Za-z0-9._-]+");
  }
  const std::string prefix = "service " + s.name + ": ";
  object_reader r(j, prefix, "");
  if (auto e = r.only({"name", "serviceDomain", "categorization", "contract", "patientIdPointer",
                       "sourceSystemPointer", "dedupeOn", "listField", "timeouts", "cache"}))
    return *e;
  if (auto e = r.text("serviceDomain", true, s.service_domain)) return *e;
  if (auto e = read_categorizations(r, r.find("categorization"), s.categorizations)) return *e;
  if (auto e = r.text("contract", true, s.contract)) return *e;
  if (auto e = r.pointer("patientIdPointer", true, s.patient_id_pointer)) return *e;
  if (auto e = r.pointer("sourceSystemPointer", false, s.source_system_pointer)) return *e;
  std::string dedupe = "sourceSystem";
  if (auto e = r.text("dedupeOn", false, dedupe)) return *e;
  if (dedupe == "sourceSystem") {
    s.dedupe = dedupe_on::source_system;
  } else if (dedupe == "logicalAddress") {
    s.dedupe = dedupe_on::logical_address;
  } else {
    return r.fail("dedupeOn",
                  in_quotes(dedupe) + " must be \"sourceSystem\" or \"logicalAddress\"");
  }
  if (auto e = r.text("listField", true, s.list_field)) return *e;
  // The answer holds the list and "processingStatus" side by side.
  if (s.list_field == "processingStatus")
    return r.fail("listField", "must not be \"processingStatus\"");

  if (const json* t = r.find("timeouts")) {
    if (!t->is_object()) return r.fail("timeouts", "must be an object");
    object_reader tr(*t, prefix, "timeouts");
    if (auto e = tr.only({"serviceMs", "aggregateMs", "aggregatedServiceMs"})) return *e;
    if (auto e = tr.integer("serviceMs", s.limits.service_ms)) return *e;
    if (auto e = tr.integer("aggregateMs", s.limits.aggregate_ms)) return *e;
    if (auto e = tr.integer("aggregatedServiceMs", s.limits.aggregated_service_ms)) return *e;
  }
  // A service may collect for less time than a call may take (AgP's own integration tests
  // run so): sources still out are then reported "Unknown error". It must answer before the
  // consumer's request is given up, though.
  if (auto e = check_timeouts(s.limits, "service " + s.name, false)) return *e;

  if (const json* c = r.find("cache")) {
    if (!c->is_object()) return r.fail("cache", "must be an object");
    object_reader cr(*c, prefix, "cache");
    if (auto e = cr.only({"enabled", "maxEntries", "ttlMs", "expirationIntervalMs", "staleMs"}))
      return *e;
    if (auto e = cr.boolean("enabled", s.cache.enabled)) return *e;
    if (auto e = cr.integer("maxEntries", s.cache.max_entries)) return *e;
    if (auto e = cr.integer("ttlMs", s.cache.ttl_ms)) return *e;
    if (auto e = cr.integer("expirationIntervalMs", s.cache.expiration_interval_ms)) return *e;
    if (auto e = cr.integer("staleMs", s.cache.stale_ms)) return *e;
  }
  // Checked on the merged values: a default can be what makes a file's value inconsistent.
  const json no_members = json::object();
  object_reader cr(no_members, prefix, "cache");
  auto num = [](int64_t v) { return "(" + std::to_string(v) + ")"; };
  if (s.cache.max_entries < 1)
    return cr.fail("maxEntries", num(s.cache.max_entries) + " must be at least 1");
  if (s.cache.ttl_ms < 0) return cr.fail("ttlMs", num(s.cache.ttl_ms) + " must not be negative");
  if (s.cache.expiration_interval_ms < 1)
    return cr.fail("expirationIntervalMs",
                   num(s.cache.expiration_interval_ms) + " must be at least 1");
  // An answer swept before it stops being fresh would make ttlMs a lie.
  if (s.cache.stale_ms < s.cache.ttl_ms)
    return cr.fail("staleMs", num(s.cache.stale_ms) + " must not be less than cache.ttlMs " +
                                  num(s.cache.ttl_ms));
  return s;
}

namespace {

// One key of several fields: '\0' cannot occur inside them (they come from JSON strings, which
// may hold it, but then the key only ever fails to match).
std::string index_key(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string k;
  k.reserve(a.size() + b.size() + c.size() + 2);
  k.append(a).push_back('\0');
  k.append(b).push_back('\0');
  k.append(c);
  return k;
}

}  // namespace

struct tak::lookup_index {
  size_t permissions = 0;  // the tables' sizes when indexed
  size_t routes = 0;
  std::unordered_set<std::string> permitted;         // consumer, contract, logical address
  std::unordered_map<std::string, size_t> route_at;  // contract, logical address -> routes[i]
};

void tak::reindex() {
  auto ix = std::make_shared<lookup_index>();
  ix->permissions = permissions.size();
  ix->routes = routes.size();
  for (auto& p : permissions)
    ix->permitted.insert(index_key(p.consumer, p.contract, p.logical_address));
  for (size_t i = 0; i < routes.size(); ++i)  // the first of equal routes, as a scan finds
    ix->route_at.emplace(index_key(routes[i].contract, routes[i].logical_address), i);
  index_ = std::move(ix);
}

const tak::lookup_index* tak::current_index() const {
  if (!index_ || index_->permissions != permissions.size() || index_->routes != routes.size())
    return nullptr;
  return index_.get();
}

bool tak::authorized(const std::string& consumer, const std::string& contract,
                     const std::string& logical_address) const {
  if (consumer.empty()) return false;
  if (auto* ix = current_index())
    return ix->permitted.count(index_key(consumer, contract, logical_address)) > 0 ||
           ix->permitted.count(index_key(consumer, contract, "*")) > 0;
  return std::any_of(permissions.begin(), permissions.end(), [&](const permission& p) {
    return p.consumer == consumer && p.contract == contract &&
           (p.logical_address == logical_address || p.logical_address == "*");
  });
}

const route* tak::route_for(const std::string& contract, const std::string& logical_address) const {
  if (auto* ix = current_index()) {
    auto it = ix->route_at.find(index_key(contract, logical_address));
    return it == ix->route_at.end() ? nullptr : &routes[it->second];
  }
  for (const auto& r : routes)
    if (r.contract == contract && r.logical_address == logical_address) return &r;
  return nullptr;
}

result<tak> parse_tak(const json& j) {
  const std::string prefix = "tak: ";
  if (!j.is_object()) return error::bad_request("tak: the table must be a JSON object");
  object_reader top(j, prefix, "");
  if (auto e = top.only({"permissions", "routes"})) return *e;
  tak t;

  // Reads the optional array `field` of objects with the members `known`, one at a time.
  auto each = [&](const char* field, std::initializer_list<const char*> known,
                  auto&& read) -> std::optional<error> {
    const json* list = top.find(field);
    if (!list) return std::nullopt;
    if (!list->is_array()) return top.fail(field, "must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = std::string(field) + "[" + std::to_string(i) + "]";
      if (!(*list)[i].is_object()) return top.fail(path, "must be an object");
      object_reader r((*list)[i], prefix, path);
      if (auto e = r.only(known)) return e;
      if (auto e = read(r, path)) return e;
    }
    return std::nullopt;
  };

  if (auto e = each("permissions", {"consumer", "contract", "logicalAddress"},
                    [&](const object_reader& r, const std::string&) -> std::optional<error> {
                      permission p;
                      if (auto e = r.text("consumer", true, p.consumer)) return e;
                      if (auto e = r.text("contract", true, p.contract)) return e;
                      if (auto e = r.text("logicalAddress", true, p.logical_address)) return e;
                      t.permissions.push_back(std::move(p));
                      return std::nullopt;
                    }))
    return *e;

  std::set<std::pair<std::string, std::string>> seen;
  if (auto e = each(
          "routes", {"contract", "logicalAddress", "url"},
          [&](const object_reader& r, const std::string& path) -> std::optional<error> {
            route rt;
            if (auto e = r.text("contract", true, rt.contract)) return e;
            if (auto e = r.text("logicalAddress", true, rt.logical_address)) return e;
            if (auto e = r.text("url", true, rt.url)) return e;
            // "*" is a permission's wildcard; a route leads to one receiver.
            if (rt.logical_address == "*")
              return r.fail("logicalAddress", "\"*\" is not allowed in a route");
            if (rt.url.rfind("http://", 0) != 0 && rt.url.rfind("https://", 0) != 0)
              return r.fail("url", in_quotes(rt.url) + " must start with http:// or https://");
            // Without validity dates there is nothing to choose between two routes by.
            if (!seen.insert({rt.contract, rt.logical_address}).second)
              return top.fail(path,
                              "repeats the route of " + rt.contract + " to " + rt.logical_address);
            t.routes.push_back(std::move(rt));
            return std::nullopt;
          }))
    return *e;
  t.reindex();
  return t;
}

}  // namespace medflow::flows::aggregation
