#include "core/json_fast.hpp"

#include "core/json.hpp"

#include <atomic>
#include <cstdint>
#include <charconv>
#include <cmath>

namespace medflow::json_fast {

namespace {
std::atomic<bool> on{true};

// simdjson's element as nlohmann's value; false on a negative zero (ambiguous, see to_json).
// Recursion is bounded by the parser's nesting limit (json.max_depth).
bool convert(simdjson::dom::element e, nlohmann::json& out) {
  using type = simdjson::dom::element_type;
  switch (e.type()) {
    case type::ARRAY: {
      simdjson::dom::array items = e.get_array().value_unsafe();
      out = nlohmann::json::array();
      auto& a = out.get_ref<nlohmann::json::array_t&>();
      a.reserve(items.size());
      for (auto v : items)
        if (!convert(v, a.emplace_back())) return false;
      return true;
    }
    case type::OBJECT: {
      simdjson::dom::object fields = e.get_object().value_unsafe();
      out = nlohmann::json::object();
      auto& o = out.get_ref<nlohmann::json::object_t&>();
      for (auto field : fields) {
        // A repeated key: the last value, as nlohmann keeps it.
        auto& slot = o[std::string(field.key)];
        slot = nullptr;
        if (!convert(field.value, slot)) return false;
      }
      return true;
    }
    case type::INT64: {
      int64_t v = e.get_int64().value_unsafe();
      if (v >= 0) out = static_cast<uint64_t>(v);
      else out = v;
      return true;
    }
    case type::UINT64: out = e.get_uint64().value_unsafe(); return true;
    case type::DOUBLE: {
      double v = e.get_double().value_unsafe();
      if (v == 0 && std::signbit(v)) return false;
      out = v;
      return true;
    }
    case type::STRING: out = std::string(e.get_string().value_unsafe()); return true;
    case type::BOOL: out = e.get_bool().value_unsafe(); return true;
    case type::NULL_VALUE: out = nullptr; return true;
  }
  return false;
}
}

void set_enabled(bool enable) { on.store(enable); }
bool enabled() { return on.load(std::memory_order_relaxed); }

std::optional<simdjson::dom::element> parse(std::string_view text, std::size_t max_bytes) {
  if (!enabled() || text.size() > max_bytes) return std::nullopt;
  thread_local simdjson::dom::parser parser;
  // The limit is read on every call: json.max_depth is set at start-up, after a thread may
  // have parsed with the default.
  std::size_t depth = max_json_depth();
  if (parser.max_depth() != depth || parser.capacity() < text.size()) {
    // Capacity grows to the longest text parsed here (at least 4 KiB, at most max_bytes).
    std::size_t capacity = std::max<std::size_t>({text.size(), parser.capacity(), 4096});
    if (parser.allocate(capacity, depth) != simdjson::SUCCESS) return std::nullopt;
  }
  // realloc_if_needed: simdjson reads past the end of what it is given, so it works on its own
  // padded copy of the text.
  auto doc = parser.parse(text.data(), text.size(), true);
  if (doc.error()) return std::nullopt;
  return doc.value_unsafe();
}

// Whether the text may hold a number "-0" (simdjson reads it as the integer 0, which nlohmann
// reads from "0" unsigned and from "-0" signed): a '-' then '0' at the start of a token. Inside
// a string such a pair only sends the text to nlohmann; a date's "2026-01" does not match.
bool may_hold_negative_zero(std::string_view text) {
  for (std::size_t at = text.find("-0"); at != std::string_view::npos; at = text.find("-0", at + 1)) {
    if (at == 0) return true;
    switch (text[at - 1]) {
      case ':': case ',': case '[': case ' ': case '\t': case '\n': case '\r':
        return true;
      default:
        break;
    }
  }
  return false;
}

std::optional<nlohmann::json> to_json(std::string_view text, std::size_t max_bytes) {
  if (may_hold_negative_zero(text)) return std::nullopt;
  auto doc = parse(text, max_bytes);
  if (!doc) return std::nullopt;
  nlohmann::json out;
  if (!convert(*doc, out)) return std::nullopt;
  return out;
}

namespace {

// Whether nlohmann's dump writes `s` as it is between quotes (ensure_ascii off): nothing it
// escapes (a byte below 0x20, '"', '\\') and valid UTF-8 (invalid UTF-8 is the error handler's).
bool verbatim(const std::string& s) {
  bool ascii = true;
  for (unsigned char c : s) {
    if (c < 0x20 || c == '"' || c == '\\') return false;
    if (c >= 0x80) ascii = false;
  }
  return ascii || simdjson::validate_utf8(s.data(), s.size());
}

template <class Json>
void write_string(const std::string& s, std::string& out, nlohmann::json::error_handler_t on_error) {
  if (verbatim(s)) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += Json(s).dump(-1, ' ', false, on_error);
  }
}

template <class Json>
void write(const Json& j, std::string& out, nlohmann::json::error_handler_t on_error) {
  using t = nlohmann::json::value_t;
  switch (j.type()) {
    case t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ',';
        first = false;
        write_string<Json>(it.key(), out, on_error);
        out += ':';
        write(*it, out, on_error);
      }
      out += '}';
      return;
    }
    case t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ',';
        first = false;
        write(v, out, on_error);
      }
      out += ']';
      return;
    }
    case t::string: write_string<Json>(j.template get_ref<const std::string&>(), out, on_error); return;
    case t::boolean: out += j.template get<bool>() ? "true" : "false"; return;
    case t::null: out += "null"; return;
    case t::number_integer:
    case t::number_unsigned: {
      char buf[24];
      auto r = j.type() == t::number_integer
                   ? std::to_chars(buf, buf + sizeof buf, j.template get<std::int64_t>())
                   : std::to_chars(buf, buf + sizeof buf, j.template get<std::uint64_t>());
      out.append(buf, r.ptr);
      return;
    }
    default:  // floats (nlohmann's shortest round-trip form), binary, discarded
      out += j.dump(-1, ' ', false, on_error);
      return;
  }
}

template <class Json>
std::string dump_any(const Json& j, nlohmann::json::error_handler_t on_error) {
  std::string out;
  out.reserve(256);
  write(j, out, on_error);
  return out;
}

}  // namespace

std::string dump(const nlohmann::json& j, nlohmann::json::error_handler_t on_error) {
  return dump_any(j, on_error);
}

std::string dump(const nlohmann::ordered_json& j, nlohmann::json::error_handler_t on_error) {
  return dump_any(j, on_error);
}

}  // namespace medflow::json_fast
