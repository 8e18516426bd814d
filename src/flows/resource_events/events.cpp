#include "flows/resource_events/events.hpp"

#include "core/json_fast.hpp"

#include <algorithm>
#include <initializer_list>
#include <set>

namespace medflow::flows::resource_events {

namespace {

// -- parsing the mapping ----------------------------------------------------------------------------

struct parse_failure {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw parse_failure{where + ": " + what};
}

// Keys starting with '_' are comments ("_doc": "..."), ignored everywhere.
bool is_comment(const std::string& key) { return !key.empty() && key[0] == '_'; }

void expect_object(const json& v, const std::string& where) {
  if (!v.is_object()) fail(where, "expected an object");
}

const std::string& expect_string(const json& v, const std::string& where, size_t max_bytes) {
  if (!v.is_string()) fail(where, "expected a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) fail(where, "must not be empty");
  if (s.size() > max_bytes) fail(where, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

void only_fields(const json& obj, const std::string& where,
                 std::initializer_list<const char*> allowed) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (is_comment(key)) continue;
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
    if (!ok) fail(where + "." + key, "unknown field");
  }
}

bool name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_';
}

doc_path parse_path(const std::string& text, const std::string& where) {
  doc_path out;
  size_t start = 0;
  while (true) {
    auto dot = text.find('.', start);
    auto part = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    path_segment seg;
    if (part.size() > 2 && part.compare(part.size() - 2, 2, "[]") == 0) {
      seg.each = true;
      part.resize(part.size() - 2);
    }
    if (part.empty() || !std::all_of(part.begin(), part.end(), name_char))
      fail(where, "\"" + text + "\" is not a path (field names of [A-Za-z0-9_] joined by '.', "
                  "'[]' after a field that holds an array)");
    seg.name = std::move(part);
    out.push_back(std::move(seg));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// A FHIR resource type as it appears in a URL: letters and digits.
void check_type_name(const std::string& t, const std::string& where) {
  bool ok = std::all_of(t.begin(), t.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
  });
  if (!ok) fail(where, "\"" + t + "\" is not a resource type (letters and digits)");
}

void check_topic(const std::string& topic, const std::string& where) {
  if (!bus::valid_topic_name(topic))
    fail(where, "\"" + topic + "\" is not a valid topic name ([a-zA-Z0-9._-], at most 249)");
}

mapping parse(const json& doc, const std::vector<std::string>& known_kinds,
              const mapping_limits& limits) {
  expect_object(doc, "events");
  only_fields(doc, "events", {"resource_types", "resources"});
  if (!doc.contains("resource_types")) fail("events.resource_types", "missing");
  if (!doc.contains("resources")) fail("events.resources", "missing");
  size_t rules = 0;
  auto count = [&](const std::string& where) {
    if (++rules > limits.max_rules)
      fail(where, "more than " + std::to_string(limits.max_rules) + " entries in the mapping");
  };

  mapping m;
  const auto& types = doc["resource_types"];
  expect_object(types, "resource_types");
  for (auto& [kind, type] : types.items()) {
    if (is_comment(kind)) continue;
    auto where = "resource_types." + kind;
    count(where);
    auto& t = expect_string(type, where, limits.max_name_bytes);
    check_type_name(t, where);
    m.resource_types.emplace(kind, t);
  }
  if (!m.resource_types.count("patient"))
    fail("resource_types.patient", "missing (patientReference is <base_url>/<its type>/<id>)");

  const auto& resources = doc["resources"];
  expect_object(resources, "resources");
  std::set<std::string> topics_seen;
  for (auto& [kind, spec] : resources.items()) {
    if (is_comment(kind)) continue;
    auto where = "resources." + kind;
    count(where);
    if (std::find(known_kinds.begin(), known_kinds.end(), kind) == known_kinds.end())
      fail(where, "unknown resource kind (medflowd records: " + [&] {
        std::string all;
        for (auto& k : known_kinds) all += (all.empty() ? "" : ", ") + k;
        return all;
      }() + ")");
    expect_object(spec, where);
    only_fields(spec, where, {"profile", "aliases", "elements", "contexts"});
    resource_rule r;
    r.kind = kind;
    auto type = m.resource_types.find(kind);
    if (type == m.resource_types.end())
      fail(where, "no resource type for it in resource_types");
    r.resource_type = type->second;
    if (!spec.contains("profile")) fail(where + ".profile", "missing");
    r.profile = expect_string(spec["profile"], where + ".profile", limits.max_name_bytes);
    check_topic(r.profile, where + ".profile");
    // One topic, one resource: a subscriber to a profile's topic knows what it gets.
    auto claim = [&](const std::string& topic, const std::string& at) {
      if (!topics_seen.insert(topic).second) fail(at, "topic \"" + topic + "\" is used twice");
    };
    claim(r.profile, where + ".profile");
    if (spec.contains("aliases")) {
      const auto& aliases = spec["aliases"];
      if (!aliases.is_array()) fail(where + ".aliases", "expected an array of topic names");
      for (size_t i = 0; i < aliases.size(); ++i) {
        auto at = where + ".aliases[" + std::to_string(i) + "]";
        count(at);
        auto& a = expect_string(aliases[i], at, limits.max_name_bytes);
        check_topic(a, at);
        claim(a, at);
        r.aliases.push_back(a);
      }
    }
    if (spec.contains("elements")) {
      const auto& elements = spec["elements"];
      expect_object(elements, where + ".elements");
      for (auto& [name, e] : elements.items()) {
        if (is_comment(name)) continue;
        auto at = where + ".elements." + name;
        count(at);
        expect_object(e, at);
        only_fields(e, at, {"paths", "target"});
        element_rule rule;
        rule.name = name;
        if (name.size() > limits.max_name_bytes) fail(at, "name too long");
        check_topic(r.profile + "." + name, at);
        claim(r.profile + "." + name, at);
        if (!e.contains("paths") || !e["paths"].is_array() || e["paths"].empty())
          fail(at + ".paths", "expected a non-empty array of paths");
        for (size_t i = 0; i < e["paths"].size(); ++i) {
          auto pat = at + ".paths[" + std::to_string(i) + "]";
          count(pat);
          rule.paths.push_back(
              parse_path(expect_string(e["paths"][i], pat, limits.max_name_bytes), pat));
        }
        if (e.contains("target")) {
          rule.target = expect_string(e["target"], at + ".target", limits.max_name_bytes);
          if (!m.resource_types.count(rule.target))
            fail(at + ".target", "\"" + rule.target + "\" has no resource type in resource_types");
        }
        r.elements.push_back(std::move(rule));
      }
    }
    if (spec.contains("contexts")) {
      const auto& contexts = spec["contexts"];
      expect_object(contexts, where + ".contexts");
      for (auto& [name, cx] : contexts.items()) {
        if (is_comment(name)) continue;
        auto at = where + ".contexts." + name;
        count(at);
        expect_object(cx, at);
        only_fields(cx, at, {"path"});
        if (name.size() > limits.max_name_bytes) fail(at, "name too long");
        check_topic(r.profile + "." + name, at);
        claim(r.profile + "." + name, at);
        if (!cx.contains("path")) fail(at + ".path", "missing");
        r.contexts.push_back(
            {name, parse_path(expect_string(cx["path"], at + ".path", limits.max_name_bytes),
                              at + ".path")});
      }
    }
    m.resources.emplace(kind, std::move(r));
  }
  for (auto& k : known_kinds)
    if (!m.resources.count(k))
      fail("resources", "kind \"" + k + "\" is not mapped (every change must have its event)");
  return m;
}

// -- reading documents ---------------------------------------------------------------------------

void collect(const json& node, const doc_path& path, size_t at, std::vector<const json*>& out) {
  if (at == path.size()) {
    if (!node.is_null()) out.push_back(&node);
    return;
  }
  if (!node.is_object()) return;
  auto it = node.find(path[at].name);
  if (it == node.end()) return;
  if (!path[at].each) return collect(*it, path, at + 1, out);
  if (it->is_array())
    for (auto& item : *it) collect(item, path, at + 1, out);
}

const json* at_key(const json& node, const char* key) {
  if (!node.is_object()) return nullptr;
  auto it = node.find(key);
  return it == node.end() ? nullptr : &*it;
}

std::string string_at(const json* node) {
  return node && node->is_string() ? node->get<std::string>() : std::string();
}

// {"identifier": {"type": {"coding": [{"code": "employee"}]}, "value": "<id>"}} or "<id>".
std::string reference_url(const mapping& m, const settings& s, const std::string& target,
                          const json& ref) {
  std::string id, kind = target;
  if (ref.is_string()) {
    id = ref.get<std::string>();
  } else if (const json* ident = at_key(ref, "identifier")) {
    id = string_at(at_key(*ident, "value"));
    if (kind.empty()) {
      const json* coding = nullptr;
      if (const json* type = at_key(*ident, "type")) coding = at_key(*type, "coding");
      if (coding && coding->is_array() && !coding->empty())
        kind = string_at(at_key((*coding)[0], "code"));
    }
  }
  if (id.empty() || kind.empty()) return {};
  auto type = m.resource_types.find(kind);
  return s.base_url + "/" + (type != m.resource_types.end() ? type->second : kind) + "/" + id;
}

std::vector<std::string> minus(const std::vector<std::string>& a,
                               const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (auto& x : a)
    if (std::find(b.begin(), b.end(), x) == b.end()) out.push_back(x);
  return out;
}

using ordered = nlohmann::ordered_json;

struct event_base {
  std::string reference;          // resourceReference
  std::string patient_reference;  // empty: none
  std::string version;            // resourceVersion
};

bus::message make(const std::string& topic, const char* message_type, const char* event_type,
                  const event_base& b, const std::string& profile, ordered body,
                  const char* extra_name = nullptr, const std::string& extra_value = {}) {
  bus::message msg;
  msg.topic = topic;
  msg.key = b.reference;
  msg.value = json_fast::dump(body);
  auto& h = msg.hdrs;
  h.reserve(8);
  h.emplace_back("eventType", event_type);
  h.emplace_back("messageType", message_type);
  h.emplace_back("messageVersion", message_version);
  h.emplace_back("resourceReference", b.reference);
  h.emplace_back("messageClass", std::string(message_class_prefix) + message_type);
  if (!b.patient_reference.empty()) h.emplace_back("patientReference", b.patient_reference);
  h.emplace_back("resourceProfile", profile);
  if (extra_name) h.emplace_back(extra_name, extra_value);
  return msg;
}

ordered body_of(const char* message_type, const char* event_type, const event_base& b) {
  ordered body;
  body["messageType"] = message_type;
  body["messageVersion"] = message_version;
  body["eventType"] = event_type;
  body["resourceReference"] = b.reference;
  body["resourceVersion"] = b.version;
  return body;
}

}  // namespace

result<mapping> parse_mapping(const json& doc, const std::vector<std::string>& known_kinds,
                              const mapping_limits& limits) {
  try {
    return parse(doc, known_kinds, limits);
  } catch (const parse_failure& f) {
    return error::bad_request(f.message);
  }
}

std::vector<std::string> topics(const mapping& m) {
  std::set<std::string> out;
  for (auto& [kind, r] : m.resources) {
    out.insert(r.profile);
    for (auto& a : r.aliases) out.insert(a);
    for (auto& e : r.elements) out.insert(r.profile + "." + e.name);
    for (auto& c : r.contexts) out.insert(r.profile + "." + c.name);
  }
  return {out.begin(), out.end()};
}

const char* change_type_name(change_type c) {
  switch (c) {
    case change_type::created: return "created";
    case change_type::updated: return "updated";
    case change_type::deleted: return "deleted";
  }
  return "updated";
}

std::vector<std::string> element_references(const mapping& m, const settings& s,
                                            const element_rule& e, const json* doc) {
  std::vector<std::string> out;
  if (!doc) return out;
  std::vector<const json*> refs;
  for (auto& p : e.paths) collect(*doc, p, 0, refs);
  for (auto* r : refs) {
    auto url = reference_url(m, s, e.target, *r);
    if (!url.empty() && std::find(out.begin(), out.end(), url) == out.end())
      out.push_back(std::move(url));
  }
  return out;
}

std::vector<bus::message> build_events(const mapping& m, const settings& s, const change& c) {
  std::vector<bus::message> out;
  auto it = m.resources.find(c.kind);
  if (it == m.resources.end()) return out;
  const auto& r = it->second;
  event_base b;
  b.reference = s.base_url + "/" + r.resource_type + "/" + std::string(c.id);
  if (!c.patient_id.empty())
    b.patient_reference =
        s.base_url + "/" + m.resource_types.at("patient") + "/" + std::string(c.patient_id);
  b.version = std::to_string(c.type == change_type::deleted ? c.version_before : c.version_after);
  const char* type = change_type_name(c.type);

  out.push_back(make(r.profile, simple_event, type, b, r.profile, body_of(simple_event, type, b)));
  for (auto& alias : r.aliases)
    out.push_back(make(alias, simple_event, type, b, alias, body_of(simple_event, type, b)));

  if (c.type != change_type::deleted) {
    // The version after the change, for reference and context events alike.
    event_base after = b;
    after.version = std::to_string(c.version_after);
    for (auto& e : r.elements) {
      auto old_refs = element_references(m, s, e, c.type == change_type::created ? nullptr : c.before);
      auto new_refs = element_references(m, s, e, c.after);
      auto topic = r.profile + "." + e.name;
      auto emit = [&](const char* event_type, std::vector<std::string> refs) {
        if (refs.empty()) return;
        auto body = body_of(reference_event, event_type, after);
        body["resourceElement"] = e.name;
        body["references"] = std::move(refs);
        out.push_back(
            make(topic, reference_event, event_type, after, r.profile, std::move(body),
                 "resourceElement", e.name));
      };
      emit("reference_added", minus(new_refs, old_refs));
      emit("reference_removed", minus(old_refs, new_refs));
    }
  }

  if (c.type == change_type::updated && c.before && c.after) {
    for (auto& cx : r.contexts) {
      std::vector<const json*> was, is;
      collect(*c.before, cx.path, 0, was);
      collect(*c.after, cx.path, 0, is);
      bool same = was.size() == is.size() &&
                  std::equal(was.begin(), was.end(), is.begin(),
                             [](const json* x, const json* y) { return *x == *y; });
      if (same) continue;
      auto body = body_of(context_event, "updated", b);
      body["context"] = cx.name;
      body["status"] = "";
      out.push_back(make(r.profile + "." + cx.name, context_event, "updated", b, r.profile,
                         std::move(body), "context", cx.name));
    }
  }
  return out;
}

}  // namespace medflow::flows::resource_events
