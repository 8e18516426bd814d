#include "core/json.hpp"

#include <atomic>
#include <utility>
#include <vector>

namespace medflow {

namespace {

using json = nlohmann::json;

std::atomic<std::size_t> process_max_depth{default_max_json_depth};

// Line and column (both from 1) of a byte offset, counted as nlohmann counts them.
std::string position_text(std::string_view text, std::size_t offset) {
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(offset - line_start + 1);
}

// The offset of the bracket that opens level max_depth + 1. Only called once the parser has
// read that far, so the text up to there is valid JSON (with comments when they are allowed).
std::size_t too_deep_offset(std::string_view text, std::size_t max_depth, bool comments) {
  std::size_t depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
    } else if (comments && c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      // nlohmann ends a line comment at any of these.
      i += 2;
      while (i < text.size() && text[i] != '\n' && text[i] != '\r' && text[i] != '\0') ++i;
    } else if (comments && c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      auto end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 1;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return text.size();
}

// "records[0].value.x": a member by its name (quoted when it is not a plain word), an item by
// its index.
void append_member(std::string& path, const std::string& name) {
  bool plain = !name.empty();
  for (char c : name) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    plain = plain && word;
  }
  if (plain) {
    if (!path.empty()) path += '.';
    path += name;
  } else {
    path += '[' + json(name).dump(-1, ' ', false, json::error_handler_t::replace) + ']';
  }
}

// Builds the document as nlohmann's own DOM parser does, and refuses a container opened beyond
// max_depth. A plain class (no virtual calls): sax_parse takes any type with these members.
class limited_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  limited_builder(json& root, std::size_t max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return value(nullptr); }
  bool boolean(bool v) { return value(v); }
  bool number_integer(number_integer_t v) { return value(v); }
  bool number_unsigned(number_unsigned_t v) { return value(v); }
  bool number_float(number_float_t v, const string_t&) { return value(v); }
  bool string(string_t& v) { return value(std::move(v)); }
  bool binary(binary_t& v) { return value(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool key(string_t& k) {
    member_ = &stack_.back()->get_ref<json::object_t&>()[std::move(k)];
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  // The exception is a temporary of the parser's: what is needed is copied.
  bool parse_error(std::size_t, const std::string& last_token, const json::exception& ex) {
    failure_id_ = ex.id;
    failure_text_ = json_error_text(ex);
    token_ = last_token;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  int failure_id() const { return failure_id_; }  // nlohmann's exception id, 0 when none
  const std::string& failure_text() const { return failure_text_; }
  const std::string& token() const { return token_; }

  // Where the next value would go: "records[0].value.x" ("" for the top level).
  std::string path() const {
    std::string out;
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      const json& container = *stack_[i];
      if (container.is_array()) {
        std::size_t index = container.size();
        if (i + 1 < stack_.size()) index = static_cast<std::size_t>(stack_[i + 1] - &container[0]);
        out += '[' + std::to_string(index) + ']';
        continue;
      }
      const json* child = i + 1 < stack_.size() ? stack_[i + 1] : member_;
      for (auto it = container.begin(); it != container.end(); ++it) {
        if (&*it == child) append_member(out, it.key());
      }
    }
    return out;
  }

 private:
  template <class V>
  json* place(V&& v) {
    if (stack_.empty()) {
      root_ = json(std::forward<V>(v));
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      auto& items = top.get_ref<json::array_t&>();
      items.emplace_back(std::forward<V>(v));
      return &items.back();
    }
    *member_ = json(std::forward<V>(v));
    return member_;
  }
  template <class V>
  bool value(V&& v) {
    place(std::forward<V>(v));
    return true;
  }
  bool open(json::value_t type) {
    if (stack_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(place(type));
    return true;
  }

  json& root_;
  std::size_t max_depth_;
  std::vector<json*> stack_;
  json* member_ = nullptr;
  bool too_deep_ = false;
  int failure_id_ = 0;
  std::string failure_text_;
  std::string token_;
};

}  // namespace

void set_max_json_depth(std::size_t depth) { process_max_depth.store(depth); }
std::size_t max_json_depth() { return process_max_depth.load(std::memory_order_relaxed); }

std::string json_nesting_text(std::size_t max_depth) {
  return "nesting deeper than " + std::to_string(max_depth) + " levels (json.max_depth)";
}

result<json> parse_json_limited(std::string_view text, std::size_t max_depth,
                                bool ignore_comments) {
  json root;
  limited_builder builder(root, max_depth);
  bool ok = json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true,
                            ignore_comments);
  if (ok) return root;
  if (builder.too_deep()) {
    std::size_t at = too_deep_offset(text, max_depth, ignore_comments);
    return error{400, "bad_request",
                 json_nesting_text(max_depth) + " at " + position_text(text, at),
                 json{{"max_depth", max_depth}}};
  }
  if (builder.failure_id() == 406) {  // out_of_range.406: a number beyond a double's range
    std::string path = builder.path();
    std::string literal = builder.token();
    if (literal.size() > 40) literal = literal.substr(0, 40) + "...";
    return error{400, "bad_request",
                 "number out of range at " + (path.empty() ? std::string("the top level") : path) +
                     ": " + literal,
                 json{{"field", path}}};
  }
  return error::bad_request(builder.failure_text());
}

result<json> parse_json_limited(std::string_view text) {
  return parse_json_limited(text, max_json_depth());
}

}  // namespace medflow
