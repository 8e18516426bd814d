#include "http/topic_routes.hpp"

#include "bus/consumer_lag.hpp"
#include "bus/log.hpp"
#include "core/json.hpp"
#include "http/server.hpp"

#include <algorithm>
#include <cstdint>
#include <map>

namespace medflow::http {

namespace {

const int64_t max_records_per_read = 10000;

// Decodes the body of POST /topics/{topic}/records into messages, or says what is wrong.
result<std::vector<bus::message>> decode_records(const std::string& topic,
                                                 const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("records"))
    return error::bad_request("body must be an object with a \"records\" array");
  auto& records = body["records"];
  if (!records.is_array() || records.empty())
    return error::bad_request("\"records\" must be a non-empty array");
  std::vector<bus::message> out;
  out.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    auto& r = records[i];
    std::string at = "records[" + std::to_string(i) + "]";
    if (!r.is_object()) return error::bad_request(at + " must be an object");
    for (auto it = r.begin(); it != r.end(); ++it)
      if (it.key() != "key" && it.key() != "value" && it.key() != "headers" &&
          it.key() != "partition")
        return error::bad_request(at + " has an unknown field \"" + it.key() + "\"");
    bus::message m;
    m.topic = topic;
    if (r.contains("key") && !r["key"].is_null()) {
      if (!r["key"].is_string()) return error::bad_request(at + ".key must be a string or null");
      m.key = r["key"].get<std::string>();
    }
    if (!r.contains("value")) return error::bad_request(at + ".value is required");
    m.value = r["value"].dump();
    if (r.contains("headers") && !r["headers"].is_null()) {
      auto& hs = r["headers"];
      if (!hs.is_object())
        return error::bad_request(at + ".headers must be an object of string values");
      for (auto it = hs.begin(); it != hs.end(); ++it) {
        if (!it->is_string())
          return error::bad_request(at + ".headers." + it.key() + " must be a string");
        m.hdrs.emplace_back(it.key(), it->get<std::string>());
      }
    }
    if (r.contains("partition") && !r["partition"].is_null()) {
      // Range-checked before the conversion: 4294967296 would wrap to partition 0.
      auto& p = r["partition"];
      bool in_range = p.is_number_unsigned() ? p.get<uint64_t>() <= INT32_MAX
                                              : p.is_number_integer() && p.get<int64_t>() >= 0 &&
                                                    p.get<int64_t>() <= INT32_MAX;
      if (!in_range)
        return error::bad_request(at + ".partition must be an integer from 0 to " +
                                  std::to_string(INT32_MAX));
      m.partition = static_cast<int32_t>(p.get<int64_t>());
    }
    out.push_back(std::move(m));
  }
  return out;
}

// A record value back as JSON: the JSON it holds, or its bytes as a string when it is not JSON
// (e.g. written by another Kafka client) or nests deeper than json.max_depth.
nlohmann::json value_json(const std::string& v) {
  auto j = parse_json_limited(v);
  if (j) return std::move(*j);
  return v;
}

}  // namespace

void add_topic_routes(server& srv, bus::log& bus, int default_partitions,
                      size_t read_max_bytes) {
  srv.add(
      "GET", "/topics",
      [&bus](const net::request&, net::response& res, const params&) {
        // The lag of medflowd's own consumer groups, per topic and partition.
        std::map<std::string, nlohmann::json> consumers;
        auto lags = bus::consumer_lag(bus);
        for (auto& pl : lags.partitions) {
          nlohmann::json c = {{"group", pl.group},
                              {"partition", pl.partition},
                              {"end_offset", pl.end_offset},
                              {"committed", pl.committed ? nlohmann::json(*pl.committed) : nullptr},
                              {"lag", pl.lag}};
          consumers[pl.topic].push_back(std::move(c));
        }
        nlohmann::json list = nlohmann::json::array();
        for (auto& t : bus.topics()) {
          auto c = consumers.find(t.name);
          list.push_back({{"name", t.name},
                          {"partitions", t.partitions},
                          {"consumers", c == consumers.end() ? nlohmann::json::array()
                                                             : std::move(c->second)}});
        }
        nlohmann::json body = {{"topics", list}};
        // Lag that could not be measured (a broker down) is said, not left out silently.
        if (!lags.failed.empty()) body["consumer_lag_errors"] = lags.failed;
        send_json(res, 200, body);
      });

  srv.add(
      "POST", "/topics",
      [&bus, default_partitions](const net::request& req, net::response& res,
                                 const params&) {
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto& b = *body;
        if (!b.is_object() || !b.contains("name") || !b["name"].is_string())
          return send_error(res, error::bad_request("\"name\" (string) is required"));
        auto name = b["name"].get<std::string>();
        if (!bus::valid_topic_name(name))
          return send_error(res, error::bad_request(
                                     "invalid topic name \"" + name +
                                     "\": use 1 to 249 of [a-zA-Z0-9._-], not \".\" or \"..\""));
        int64_t parts = default_partitions;
        if (b.contains("partitions")) {
          if (!b["partitions"].is_number_integer() || b["partitions"].get<int64_t>() < 1 ||
              b["partitions"].get<int64_t>() > 10000)
            return send_error(res, error::bad_request("\"partitions\" must be an integer from 1 to 10000"));
          parts = b["partitions"].get<int64_t>();
        }
        bool existed = bus.partitions(name).has_value();
        try {
          bus.create_topic(name, static_cast<int32_t>(parts));
        } catch (const bus::topic_exists& e) {
          return send_error(res, error::conflict(e.what()));
        }
        send_json(res, existed ? 200 : 201, {{"name", name}, {"partitions", parts}});
      });

  srv.add(
      "POST", "/topics/{topic}/records",
      [&bus](const net::request& req, net::response& res, const params& ps) {
        const auto& topic = ps.at("topic");
        if (!bus::valid_topic_name(topic))
          return send_error(res, error::bad_request("invalid topic name \"" + topic + "\""));
        auto body = parse_json_body(req);
        if (!body) return send_error(res, body.err());
        auto msgs = decode_records(topic, *body);
        if (!msgs) return send_error(res, msgs.err());
        std::vector<bus::position> pos;
        try {
          pos = bus.append(*msgs);
        } catch (const bus::unknown_topic& e) {
          return send_error(res, error::not_found(e.what()));
        } catch (const bus::unknown_partition& e) {
          return send_error(res, error::not_found(e.what()));
        }
        nlohmann::json offsets = nlohmann::json::array();
        for (auto& p : pos) offsets.push_back({{"partition", p.partition}, {"offset", p.offset}});
        send_json(res, 200, {{"offsets", offsets}});
      });

  srv.add(
      "GET", "/topics/{topic}/partitions/{partition}/records",
      [&bus, read_max_bytes](const net::request& req, net::response& res, const params& ps) {
        const auto& topic = ps.at("topic");
        if (!bus::valid_topic_name(topic))
          return send_error(res, error::bad_request("invalid topic name \"" + topic + "\""));
        auto p = path_int(ps, "partition", 0, INT32_MAX);
        if (!p) return send_error(res, p.err());
        auto offset = query_int(req, "offset", 0, 0, INT64_MAX);
        if (!offset) return send_error(res, offset.err());
        auto max = query_int(req, "max", 100, 1, max_records_per_read);
        if (!max) return send_error(res, max.err());
        auto cap = static_cast<int64_t>(std::min<size_t>(read_max_bytes, INT64_MAX));
        auto max_bytes = query_int(req, "max_bytes", cap, 1, cap);
        if (!max_bytes) return send_error(res, max_bytes.err());
        std::vector<bus::record> recs;
        try {
          recs = bus.fetch(topic, static_cast<int32_t>(*p), *offset, static_cast<size_t>(*max),
                           static_cast<size_t>(*max_bytes));
        } catch (const bus::unknown_topic& e) {
          return send_error(res, error::not_found(e.what()));
        } catch (const bus::unknown_partition& e) {
          return send_error(res, error::not_found(e.what()));
        }
        nlohmann::json list = nlohmann::json::array();
        for (auto& r : recs) {
          nlohmann::json hs = nlohmann::json::object();
          for (auto& [k, v] : r.hdrs) hs[k] = v;
          list.push_back({{"partition", r.partition},
                          {"offset", r.offset},
                          {"timestamp", r.timestamp_ms},
                          {"key", r.key ? nlohmann::json(*r.key) : nlohmann::json(nullptr)},
                          {"value", value_json(r.value)},
                          {"headers", hs}});
        }
        // Where the next read continues: after the last record given (fewer than `max` came
        // when the byte cap or the partition's end was reached).
        int64_t next = recs.empty() ? *offset : recs.back().offset + 1;
        send_json(res, 200,
                  {{"records", list}, {"next", {{"partition", *p}, {"offset", next}}}});
      });
}

}  // namespace medflow::http
