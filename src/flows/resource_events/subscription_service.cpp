#include "flows/resource_events/subscription_service.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/json.hpp"

#include <algorithm>
#include <map>
#include <string_view>

namespace medflow::flows::resource_events {

using nlohmann::json;

record_cache::counter record_cache::arrivals(const partition_key& part) {
  std::lock_guard<std::mutex> g{mutex_};
  auto& c = arrivals_[part];
  if (!c) c = std::make_shared<std::atomic<std::uint64_t>>(0);
  c->fetch_add(1);  // records appended before the watch existed: no read at `next` is skipped
  return c;
}

std::vector<record_cache::entry> record_cache::read(
    const partition_key& part, std::int64_t from, std::size_t max,
    const std::function<std::vector<bus::record>(std::int64_t)>& fetch) {
  std::vector<entry> out;
  std::uint64_t seen = 0;  // the arrivals counter before the bus read
  bool known = false;      // a watch counts the partition's arrivals
  {
    std::lock_guard<std::mutex> g{mutex_};
    auto c = arrivals_.find(part);
    known = c != arrivals_.end();
    if (known) seen = c->second->load();
    auto it = parts_.find(part);
    if (it != parts_.end()) {
      auto& p = it->second;
      if (cap_ > 0 && from >= p.begin && from < p.next) {
        auto first = std::lower_bound(p.recs.begin(), p.recs.end(), from,
                                      [](const entry& e, std::int64_t o) { return e->rec.offset < o; });
        for (; first != p.recs.end() && out.size() < max; ++first) out.push_back(*first);
        if (!out.empty()) return out;
      }
      // Nothing came since a bus read found nothing here.
      if (from == p.next && p.empty_at && *p.empty_at == seen) return out;
    }
  }
  auto recs = fetch(from);
  out.reserve(recs.size());
  for (auto& r : recs) out.push_back(std::make_shared<const cached_record>(std::move(r)));
  std::lock_guard<std::mutex> g{mutex_};
  auto& p = parts_[part];
  if (out.empty()) {
    if (known && (p.recs.empty() || from == p.next)) {
      if (p.recs.empty()) p.begin = from;
      p.next = from;
      p.empty_at = seen;
    }
    return out;
  }
  p.empty_at.reset();
  if (cap_ == 0) {
    p.recs.clear();
    p.begin = p.next = out.back()->rec.offset + 1;
    return out;
  }
  if (p.recs.empty() || from != p.next) {
    // Not the continuation of what is cached: this read starts the cached range anew.
    p.recs.clear();
    p.begin = from;
  }
  for (const auto& e : out) p.recs.push_back(e);
  p.next = out.back()->rec.offset + 1;
  while (p.recs.size() > cap_) {
    p.recs.pop_front();
    p.begin = p.recs.front()->rec.offset;
  }
  return out;
}

void record_cache::forget(const std::string& topic) {
  std::lock_guard<std::mutex> g{mutex_};
  for (auto it = parts_.begin(); it != parts_.end();)
    it = it->first.first == topic ? parts_.erase(it) : std::next(it);
}

subscription_service::subscription_service(store::database& db, bus::log& bus, service_settings s)
    : db_(db), bus_(bus), s_(std::move(s)), cache_(s_.cache_records) {}

std::vector<bus::topic_info> subscription_service::topics_of(const topic_pattern& p) {
  std::vector<bus::topic_info> out;
  for (auto& t : bus_.topics())
    if (p.matches(t.name)) out.push_back(std::move(t));
  std::sort(out.begin(), out.end(),
            [](const bus::topic_info& a, const bus::topic_info& b) { return a.name < b.name; });
  return out;
}

result<json> subscription_service::create(const json& body) {
  auto spec = parse_subscription(body, s_.spec);
  if (!spec) return spec.err();
  subscription_row row{ids::uuid4(), spec->topic.text(), spec->selector_text,
                       to_json(spec->delivery), clock::now_ms()};
  // Start at the end of what exists now: a subscriber gets what is published after it.
  positions start;
  for (const auto& t : topics_of(spec->topic))
    for (int32_t p = 0; p < t.partitions; ++p) start[{t.name, p}] = bus_.end_offset(t.name, p);
  std::size_t cap = s_.max_subscriptions;
  return db_.write().run([&](store::tx& t) -> result<json> {
    if (static_cast<std::size_t>(count_subscriptions(t.conn)) >= cap)
      return error::conflict("subscriptions: at most " + std::to_string(cap) +
                             " subscriptions (subscriptions.max_count)");
    insert_subscription(t.conn, row);
    commit_cursor(t.conn, row.id, start);
    return to_json(row);
  });
}

json subscription_service::list() {
  auto rd = db_.reader();
  json out = json::array();
  for (const auto& r : list_subscriptions(*rd)) out.push_back(to_json(r));
  return out;
}

namespace {
error unknown(const std::string& id) { return error::not_found("subscription " + id + " not found"); }
}  // namespace

result<json> subscription_service::get(const std::string& id) {
  auto rd = db_.reader();
  auto r = load_subscription(*rd, id);
  if (!r) return unknown(id);
  return to_json(*r);
}

status subscription_service::remove(const std::string& id) {
  return db_.write().run([&](store::tx& t) -> status {
    if (!delete_subscription(t.conn, id)) return unknown(id);
    return ok_status();
  });
}

result<active_subscription> subscription_service::open(const std::string& id) {
  std::optional<subscription_row> row;
  {
    auto rd = db_.reader();
    row = load_subscription(*rd, id);
  }
  if (!row) return unknown(id);
  json body = {{"topic", row->topic}, {"selector", row->selector}, {"delivery", row->delivery}};
  // Stored subscriptions were valid when created; a smaller selector cap set since then does
  // not disable them.
  spec_limits lim = s_.spec;
  lim.max_selector_bytes = std::max(lim.max_selector_bytes, row->selector.size());
  auto spec = parse_subscription(body, lim);
  if (!spec) return error::internal("stored subscription " + id + ": " + spec.err().message);
  return active_subscription{std::move(*row), std::move(spec.value())};
}

positions subscription_service::acked(const std::string& id) {
  auto rd = db_.reader();
  return load_cursor(*rd, id);
}

result<positions> subscription_service::cursor_of(const std::string& id, std::string_view text) {
  auto p = decode_cursor(text, s_.max_cursor_bytes);
  if (!p) return p.err();
  auto sub = open(id);
  if (!sub) return sub.err();
  for (const auto& [key, offset] : *p)
    if (!sub->spec.topic.matches(key.first))
      return error::bad_request("cursor: not a cursor of this subscription's events");
  return p;
}

status subscription_service::ack(const std::string& id, const json& body) {
  if (!body.is_object() || !body.contains("cursor") || !body["cursor"].is_string())
    return error::bad_request("expected {\"cursor\": \"...\"}");
  auto p = cursor_of(id, body["cursor"].get_ref<const std::string&>());
  if (!p) return p.err();
  return db_.write().run([&](store::tx& t) -> status {
    if (!commit_cursor(t.conn, id, *p)) return unknown(id);
    return ok_status();
  });
}

void subscription_service::create_topics() { bus_.create_topic(dead_letter_topic, 1); }

void subscription_service::advance(const std::string& id, const positions& to, done_fn done) {
  db_.write().submit([id, to](store::tx& t) { commit_cursor(t.conn, id, to); }, std::move(done));
}

void subscription_service::dead_letter(const std::string& id, const bus::record& r,
                                       const std::string& reason, const positions& to,
                                       done_fn done) {
  db_.write().submit(
      [this, id, r, reason, to](store::tx& t) {
        auto hdrs = r.hdrs;
        hdrs.emplace_back("dead_letter_reason", reason);
        hdrs.emplace_back("subscription_id", id);
        hdrs.emplace_back("source_topic", r.topic);
        hdrs.emplace_back("source_partition", std::to_string(r.partition));
        hdrs.emplace_back("source_offset", std::to_string(r.offset));
        bus_.append_in(t, {dead_letter_topic, id, r.value, std::move(hdrs), std::nullopt});
        commit_cursor(t.conn, id, to);
      },
      std::move(done));
}

bool selected(const selector& sel, const bus::record& r) {
  return sel.matches([&](std::string_view name) {
    for (auto it = r.hdrs.rbegin(); it != r.hdrs.rend(); ++it)
      if (it->first == name) return property_value::string(it->second);
    return property_value::null();
  });
}

namespace {
void append_quoted(std::string& out, std::string_view text) {
  out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

namespace {
// The "body" value: the value itself when it is JSON on one line, else the value parsed (within
// json.max_depth: a record written by any Kafka client may nest deeper than dump's recursion
// can take) and written again, else the value as a string.
std::string body_text(const std::string& value) {
  if (value.find_first_of("\r\n") == std::string::npos && json::accept(value)) return value;
  auto parsed = parse_json_limited(value);
  json body = parsed ? std::move(*parsed) : json(value);  // not JSON, or too deep: the text
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The "headers" object: by name, the last of a repeated header winning (as the selector sees
// them).
std::string headers_text(const bus::headers& hdrs) {
  std::map<std::string_view, std::string_view> headers;
  for (const auto& [k, v] : hdrs) headers[k] = v;
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : headers) {
    if (!first) out += ',';
    first = false;
    append_quoted(out, k);
    out += ':';
    append_quoted(out, v);
  }
  out += '}';
  return out;
}

std::string assemble(const bus::record& r, const std::string& body, const std::string& headers,
                     const std::string& cursor) {
  std::string out;
  out.reserve(body.size() + headers.size() + cursor.size() + r.topic.size() + 96);
  out += "{\"body\":";
  out += body;
  out += ",\"cursor\":";
  append_quoted(out, cursor);
  out += ",\"headers\":";
  out += headers;
  out += ",\"offset\":";
  out += std::to_string(r.offset);
  out += ",\"partition\":";
  out += std::to_string(r.partition);
  out += ",\"topic\":";
  append_quoted(out, r.topic);
  out += '}';
  return out;
}
}  // namespace

cached_record::cached_record(bus::record r)
    : rec(std::move(r)), body(body_text(rec.value)), headers(headers_text(rec.hdrs)) {}

std::string event_text(const bus::record& r, const std::string& cursor) {
  return assemble(r, body_text(r.value), headers_text(r.hdrs), cursor);
}

std::string event_text(const cached_record& r, const std::string& cursor) {
  return assemble(r.rec, r.body, r.headers, cursor);
}

std::vector<std::string> subscription_service::collect(const active_subscription& s,
                                                       positions& from, std::size_t max) {
  std::vector<std::string> out;
  walk(s, from, max, [&out](const cached_record& r, const positions& after) {
    out.push_back(event_text(r, encode_cursor(after)));
  });
  return out;
}

void subscription_service::scan(const active_subscription& s, positions& from, std::size_t max,
                                const match_fn& on_match) {
  walk(s, from, max,
       [&on_match](const cached_record& r, const positions& after) { on_match(r.rec, after); });
}

void subscription_service::walk(const active_subscription& s, positions& from, std::size_t max,
                                const record_fn& on_match) {
  std::size_t matched = 0;
  if (max == 0) return;
  for (const auto& t : topics_of(s.spec.topic)) {
    for (int32_t p = 0; p < t.partitions && matched < max; ++p) {
      auto& next = from[{t.name, p}];  // a topic created after the subscription: from 0
      while (matched < max) {
        std::vector<record_cache::entry> recs;
        try {
          recs = cache_.read({t.name, p}, next, s_.fetch_batch, [&](std::int64_t at) {
            return bus_.fetch(t.name, p, at, s_.fetch_batch);
          });
        } catch (const bus::unknown_topic&) {
          cache_.forget(t.name);
          break;  // deleted meanwhile
        } catch (const bus::unknown_partition&) {
          break;
        }
        if (recs.empty()) break;
        for (const auto& e : recs) {
          const bus::record& r = e->rec;
          if (matched >= max) break;
          next = r.offset + 1;
          if (!selected(s.spec.compiled, r)) continue;
          ++matched;
          on_match(*e, from);
        }
      }
    }
    if (matched >= max) break;
  }
}

}  // namespace medflow::flows::resource_events
