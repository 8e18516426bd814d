#include "core/json_schema.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace medflow::json_schema {

namespace {

using json = nlohmann::json;

// Recursive schemas ("items": {"$ref": "#"}) descend as deep as the instance does; this bounds the
// native stack a hostile, deeply nested request body can make the validator use.
constexpr int k_max_depth = 128;

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// JSON Schema lengths are in characters; every UTF-8 code point has exactly one non-continuation
// byte.
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// wchar_t holds a whole code point here, so std::wregex sees characters rather than bytes.
static_assert(sizeof(wchar_t) == 4, "pattern matching on non-ASCII text needs a 32-bit wchar_t");

std::wstring to_wide(std::string_view s) {
  std::wstring out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    char32_t cp = 0;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, cp = b & 0x07;
    } else {
      out.push_back(L'\uFFFD');
      ++i;
      continue;
    }
    // nlohmann's parser rejects malformed UTF-8, but a document built in code may still hold it.
    bool complete = i + extra < s.size();
    for (std::size_t k = 1; complete && k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        complete = false;
      } else {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      }
    }
    if (!complete) {
      out.push_back(L'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(static_cast<wchar_t>(cp));
    i += extra + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

// libstdc++'s default executor backtracks recursively, using ~250 bytes of stack per subject
// character: a 100 KB string overflows an 8 MB stack. Its polynomial (breadth-first) executor
// does not recurse per character but is ~4x slower on short strings, so both are kept: short
// subjects (ids, codes, times) take the fast one. Patterns with back-references cannot run
// breadth-first and always backtrack.
constexpr std::size_t k_backtracking_limit = 64;

template <typename Char>
struct regex_pair {
  std::basic_regex<Char> backtracking;
  std::optional<std::basic_regex<Char>> breadth_first;

  explicit regex_pair(const std::basic_string<Char>& source)
      : backtracking(source, std::regex_constants::ECMAScript) {
#if defined(__GLIBCXX__)
    try {
      breadth_first.emplace(source,
                            std::regex_constants::ECMAScript | std::regex_constants::__polynomial);
    } catch (const std::regex_error&) {
    }
#endif
  }

  template <typename It>
  bool search(It first, It last) const {
    const auto length = static_cast<std::size_t>(last - first);
    if (length <= k_backtracking_limit || !breadth_first) {
      return std::regex_search(first, last, backtracking);
    }
    return std::regex_search(first, last, *breadth_first);
  }
};

// A "pattern" compiled once. ASCII subjects go through the byte regex (the common case: codes,
// ids, times); anything else is matched on code points so "." and character classes count
// Cyrillic letters as one character each, as the PCRE "u" mode of the Elixir original does.
class pattern_matcher {
 public:
  explicit pattern_matcher(const std::string& source) : wide_(to_wide(source)) {
    if (is_ascii(source)) narrow_.emplace(source);
  }

  bool search(std::string_view subject) const {
    if (narrow_ && is_ascii(subject)) return narrow_->search(subject.begin(), subject.end());
    const std::wstring wide = to_wide(subject);
    return wide_.search(wide.begin(), wide.end());
  }

 private:
  std::optional<regex_pair<char>> narrow_;  // only for ASCII patterns, which bytes can express
  regex_pair<wchar_t> wide_;
};

// ---------------------------------------------------------------------------------------------
// Formats (dates and date-times: core/clock)

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9');
}

// The nex_json_schema email rule: dot-separated atoms of word characters and the RFC 5322
// specials, "@", one or more [A-Za-z0-9-] labels, then an alphabetic TLD of 2..63 letters.
bool is_email(std::string_view s) {
  const std::size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  static constexpr std::string_view specials = "_!#$%&'*+/=?`{|}~^-";
  bool atom_empty = true;
  for (char c : local) {
    if (c == '.') {
      if (atom_empty) return false;
      atom_empty = true;
    } else if (is_alnum(c) || specials.find(c) != std::string_view::npos) {
      atom_empty = false;
    } else {
      return false;
    }
  }
  if (atom_empty) return false;
  const std::size_t last_dot = domain.rfind('.');
  if (last_dot == std::string_view::npos) return false;
  const std::string_view tld = domain.substr(last_dot + 1);
  if (tld.size() < 2 || tld.size() > 63 || !std::all_of(tld.begin(), tld.end(), is_alpha)) {
    return false;
  }
  bool label_empty = true;
  for (char c : domain.substr(0, last_dot + 1)) {
    if (c == '.') {
      if (label_empty) return false;
      label_empty = true;
    } else if (is_alnum(c) || c == '-') {
      label_empty = false;
    } else {
      return false;
    }
  }
  return true;
}

// An absolute URI (RFC 3986): a scheme, ":", then only URI characters, with well-formed
// percent-escapes. The component grammar is not checked further.
bool is_uri(std::string_view s) {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(s[0])) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    if (!is_alnum(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.') return false;
  }
  static constexpr std::string_view allowed = "-._~:/?#[]@!$&'()*+,;=";
  for (std::size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !strings::is_hex(s[i + 1]) || !strings::is_hex(s[i + 2]))
        return false;
      i += 2;
    } else if (!is_alnum(s[i]) && allowed.find(s[i]) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The formats that are checked, with the error each one reports (eHealth's rule names and
// texts). Formats not listed are annotations only, as the draft allows ("dateTime" in eHealth's
// schemas is one).
struct format_rule {
  const char* name;  // the schema's "format"
  bool (*valid)(std::string_view);
  const char* rule;         // the error's rule name
  const char* expectation;  // "expected \"<value>\" to be <expectation>"
  const char* param;        // the error's one parameter, or none
};

const format_rule format_rules[] = {
    {"date", clock::is_rfc3339_date, "date", "a valid ISO 8601 date", "^\\d{4}-\\d{2}-\\d{2}$"},
    {"date-time", clock::is_rfc3339_date_time, "datetime", "a valid ISO 8601 date-time", nullptr},
    {"uuid", ids::is_uuid, "uuid", "a valid UUID", nullptr},
    {"email", is_email, "email", "an email address", nullptr},
    {"uri", is_uri, "format", "a valid URI", nullptr},
};

// ---------------------------------------------------------------------------------------------
// Compiled schema

enum type_bit : std::uint8_t {
  t_null = 1,
  t_boolean = 2,
  t_string = 4,
  t_integer = 8,
  t_number = 16,
  t_array = 32,
  t_object = 64,
};

bool integral(double d) {
  return std::isfinite(d) && std::floor(d) == d;
}

// An integral number also satisfies "number"; "integer" accepts 2.0 as a JSON number with no
// fractional part.
std::uint8_t instance_bits(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return t_null;
    case json::value_t::boolean:
      return t_boolean;
    case json::value_t::string:
      return t_string;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return t_integer | t_number;
    case json::value_t::number_float:
      return integral(v.get<double>()) ? t_integer | t_number : t_number;
    case json::value_t::array:
      return t_array;
    case json::value_t::object:
      return t_object;
    default:
      return 0;
  }
}

const char* instance_type_name(const json& v) {
  const std::uint8_t bits = instance_bits(v);
  if (bits & t_null) return "Null";
  if (bits & t_boolean) return "Boolean";
  if (bits & t_string) return "String";
  if (bits & t_integer) return "Integer";
  if (bits & t_number) return "Number";
  if (bits & t_array) return "Array";
  return "Object";
}

// long double carries a 64-bit mantissa, so int64/uint64 bounds compare exactly.
long double number_value(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
  return static_cast<long double>(v.get<double>());
}

struct bound {
  long double value;
  json literal;  // as written in the schema, for the message and params
  bool exclusive;
};

struct node {
  std::size_t index = 0;

  std::uint8_t types = 0;  // 0: no "type" keyword
  std::string expected_types;
  json type_params;

  node* ref = nullptr;

  bool has_enum = false;
  json enum_values;
  std::vector<std::string> enum_strings;  // sorted; used when every enum value is a string
  bool enum_all_strings = false;

  std::optional<std::size_t> min_length, max_length;
  std::optional<pattern_matcher> pattern;
  std::string pattern_description;
  json pattern_params;
  const format_rule* format = nullptr;

  std::optional<bound> minimum, maximum;
  std::optional<json> multiple_of;

  std::optional<std::size_t> min_items, max_items;
  bool unique_items = false;
  node* items = nullptr;
  std::vector<node*> tuple_items;

  std::vector<std::string> required;
  std::vector<std::pair<std::string, node*>> properties;  // sorted by name, as json objects are
  std::vector<std::pair<pattern_matcher, node*>> pattern_properties;
  bool additional_forbidden = false;
  node* additional = nullptr;
  std::optional<std::size_t> min_properties, max_properties;

  std::vector<node*> all_of, any_of, one_of;
  node* negated = nullptr;

  // Whether any keyword of each instance kind is present, to skip whole groups quickly.
  bool string_rules = false, number_rules = false, array_rules = false, object_rules = false;
};

}  // namespace

struct schema::impl {
  std::deque<node> nodes;  // a deque so node pointers stay valid while compiling
  const node* root = nullptr;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Compilation

// Keywords whose meaning this validator does not implement; silently ignoring them would accept
// requests the schema author meant to reject (or, for draft-03 forms, reject valid ones).
// clang-format off
constexpr std::string_view k_unsupported[] = {
    "dependencies", "additionalItems",                                   // draft-04
    "const", "contains", "propertyNames", "if", "then", "else",           // draft-06/07
    "dependentRequired", "dependentSchemas", "unevaluatedProperties",     // 2019-09 and later
    "unevaluatedItems", "prefixItems", "minContains", "maxContains", "$dynamicRef",
    "$recursiveRef",
    "extends", "disallow", "divisibleBy"};                                // draft-03
// clang-format on

std::string escape_pointer_token(const std::string& token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

class compiler {
 public:
  compiler(const json& doc, std::deque<node>& nodes) : doc_(doc), nodes_(nodes) {}

  node* compile(const json& schema, const std::string& pointer) {
    if (auto it = by_pointer_.find(pointer); it != by_pointer_.end()) return it->second;
    if (!schema.is_object()) {
      fail(pointer, schema.is_boolean()
                        ? "boolean schemas are not draft-04; use {} or {\"not\": {}}"
                        : "a schema must be a JSON object");
    }
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      if (std::find(std::begin(k_unsupported), std::end(k_unsupported), it.key()) !=
          std::end(k_unsupported)) {
        fail(pointer, "unsupported keyword \"" + it.key() + "\"");
      }
    }
    node& n = nodes_.emplace_back();
    n.index = nodes_.size() - 1;
    pointers_.push_back(pointer);
    by_pointer_.emplace(pointer, &n);

    compile_type(n, schema, pointer);
    compile_ref(n, schema, pointer);
    compile_enum(n, schema, pointer);
    compile_string(n, schema, pointer);
    compile_number(n, schema, pointer);
    compile_array(n, schema, pointer);
    compile_object(n, schema, pointer);
    compile_combinators(n, schema, pointer);
    if (const auto it = schema.find("definitions"); it != schema.end()) {
      // Compiled even when unreferenced so a broken definition fails at startup, not later.
      if (!it->is_object()) fail(pointer, "\"definitions\" must be an object");
      for (auto d = it->begin(); d != it->end(); ++d) {
        compile(*d, pointer + "/definitions/" + escape_pointer_token(d.key()));
      }
    }
    return &n;
  }

  // Binds every $ref to its target, compiling targets that sit outside the places already
  // compiled (a pointer into a sub-schema that was never reached through a keyword).
  void resolve_refs() {
    while (!pending_refs_.empty()) {
      const pending_ref ref = pending_refs_.back();
      pending_refs_.pop_back();
      node* target = nullptr;
      if (auto it = by_pointer_.find(ref.target); it != by_pointer_.end()) {
        target = it->second;
      } else {
        const json* value = nullptr;
        try {
          value = &doc_.at(json::json_pointer(ref.target));
        } catch (const json::exception&) {
          fail(pointers_[ref.from->index], "unresolvable $ref \"" + ref.text + "\"");
        }
        target = compile(*value, ref.target);
      }
      ref.from->ref = target;
    }
  }

  // A loop of $ref/allOf/anyOf/oneOf/not edges validates the same value forever; such a schema
  // can never be used, so it is rejected here rather than overflowing the stack on a request.
  void reject_cycles() {
    std::vector<std::uint8_t> state(nodes_.size(), 0);  // 0 new, 1 on the path, 2 done
    for (node& n : nodes_) visit(n, state);
  }

 private:
  struct pending_ref {
    node* from;
    std::string target;
    std::string text;
  };

  [[noreturn]] static void fail(const std::string& pointer, const std::string& what) {
    throw std::invalid_argument("json schema at #" + pointer + ": " + what);
  }

  static std::size_t count(const json& v, const std::string& pointer, const char* keyword) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::int64_t>();
    if (v.is_number_float() && integral(v.get<double>()) && v.get<double>() >= 0) {
      // A count beyond what size_t holds cannot be reached by any document: saturate
      // (casting such a double is undefined behaviour; json_schema_fuzz found it).
      const double d = v.get<double>();
      constexpr double limit = 18446744073709551616.0;  // 2^64
      if (d >= limit) return std::numeric_limits<std::size_t>::max();
      return static_cast<std::size_t>(d);
    }
    fail(pointer, std::string("\"") + keyword + "\" must be a non-negative integer");
  }

  static std::optional<std::size_t> optional_count(const json& schema, const std::string& pointer,
                                                   const char* keyword) {
    const auto it = schema.find(keyword);
    if (it == schema.end()) return std::nullopt;
    return count(*it, pointer, keyword);
  }

  static pattern_matcher regex(const std::string& source, const std::string& pointer) {
    try {
      return pattern_matcher(source);
    } catch (const std::regex_error& e) {
      fail(pointer, "invalid pattern \"" + source + "\": " + e.what());
    }
  }

  std::vector<node*> schema_list(const json& schema, const std::string& pointer,
                                 const char* keyword) {
    const auto it = schema.find(keyword);
    if (it == schema.end()) return {};
    if (!it->is_array() || it->empty()) {
      fail(pointer, std::string("\"") + keyword + "\" must be a non-empty array of schemas");
    }
    std::vector<node*> out;
    for (std::size_t i = 0; i < it->size(); ++i) {
      out.push_back(compile((*it)[i], pointer + "/" + keyword + "/" + std::to_string(i)));
    }
    return out;
  }

  static void compile_type(node& n, const json& schema, const std::string& pointer) {
    const auto it = schema.find("type");
    if (it == schema.end()) return;
    std::vector<std::string> names;
    if (it->is_string()) {
      names.push_back(it->get<std::string>());
    } else if (it->is_array() && !it->empty() &&
               std::all_of(it->begin(), it->end(), [](const json& t) { return t.is_string(); })) {
      for (const json& t : *it) names.push_back(t.get<std::string>());
    } else {
      fail(pointer, "\"type\" must be a type name or a non-empty array of type names");
    }
    n.type_params = json::array();
    for (const std::string& name : names) {
      static const std::pair<const char*, std::uint8_t> known[] = {
          {"null", t_null},       {"boolean", t_boolean}, {"string", t_string},
          {"integer", t_integer}, {"number", t_number},   {"array", t_array},
          {"object", t_object}};
      const auto k = std::find_if(std::begin(known), std::end(known),
                                  [&](const auto& entry) { return name == entry.first; });
      if (k == std::end(known)) fail(pointer, "unknown type \"" + name + "\" in \"type\"");
      n.types |= k->second;
      if (!n.expected_types.empty()) n.expected_types += " or ";
      n.expected_types += static_cast<char>(name[0] - 'a' + 'A');
      n.expected_types += name.substr(1);
      n.type_params.push_back(name);
    }
  }

  void compile_ref(node& n, const json& schema, const std::string& pointer) {
    const auto it = schema.find("$ref");
    if (it == schema.end()) return;
    if (!it->is_string()) fail(pointer, "\"$ref\" must be a string");
    const std::string text = it->get<std::string>();
    if (text.empty() || text[0] != '#') {
      fail(pointer, "$ref \"" + text +
                        "\" is not local to the document (remote $ref is not "
                        "supported)");
    }
    // The fragment is URI-encoded: undo %XX, leaving the ~0/~1 JSON pointer escapes, which is
    // the same form the compiler records for every schema location.
    std::string target;
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (text[i] != '%') {
        target += text[i];
      } else if (i + 2 < text.size() && strings::is_hex(text[i + 1]) &&
                 strings::is_hex(text[i + 2])) {
        target += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        fail(pointer, "$ref \"" + text + "\" has a malformed percent-escape");
      }
    }
    if (!target.empty() && target[0] != '/') {
      fail(pointer, "$ref \"" + text +
                        "\" is not a JSON pointer (only \"#\" and \"#/...\" are "
                        "supported)");
    }
    for (std::size_t i = 0; i < target.size(); ++i) {
      if (target[i] == '~' &&
          (i + 1 == target.size() || (target[i + 1] != '0' && target[i + 1] != '1'))) {
        fail(pointer, "$ref \"" + text + "\" has an invalid ~ escape");
      }
    }
    pending_refs_.push_back({&n, target, text});
  }

  static void compile_enum(node& n, const json& schema, const std::string& pointer) {
    const auto it = schema.find("enum");
    if (it == schema.end()) return;
    if (!it->is_array() || it->empty()) fail(pointer, "\"enum\" must be a non-empty array");
    n.has_enum = true;
    n.enum_values = *it;
    n.enum_all_strings =
        std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); });
    if (n.enum_all_strings) {
      for (const json& v : *it) n.enum_strings.push_back(v.get<std::string>());
      std::sort(n.enum_strings.begin(), n.enum_strings.end());
    }
  }

  static void compile_string(node& n, const json& schema, const std::string& pointer) {
    n.min_length = optional_count(schema, pointer, "minLength");
    n.max_length = optional_count(schema, pointer, "maxLength");
    if (const auto it = schema.find("pattern"); it != schema.end()) {
      if (!it->is_string()) fail(pointer, "\"pattern\" must be a string");
      const std::string source = it->get<std::string>();
      n.pattern.emplace(regex(source, pointer));
      n.pattern_description = "string does not match pattern \"" + source + "\"";
      n.pattern_params = json::array({source});
    }
    if (const auto it = schema.find("format"); it != schema.end()) {
      if (!it->is_string()) fail(pointer, "\"format\" must be a string");
      const std::string f = it->get<std::string>();
      for (const auto& r : format_rules)
        if (f == r.name) n.format = &r;
    }
    n.string_rules = n.min_length || n.max_length || n.pattern || n.format;
  }

  static std::optional<bound> compile_bound(const json& schema, const std::string& pointer,
                                            const char* keyword, const char* exclusive_keyword) {
    const auto it = schema.find(keyword);
    const auto ex = schema.find(exclusive_keyword);
    if (ex != schema.end() && !ex->is_boolean()) {
      fail(pointer, std::string("\"") + exclusive_keyword +
                        "\" must be a boolean (draft-04); the numeric draft-06 form is not "
                        "supported");
    }
    if (it == schema.end()) {
      if (ex != schema.end()) {
        fail(pointer, std::string("\"") + exclusive_keyword + "\" needs \"" + keyword + "\"");
      }
      return std::nullopt;
    }
    if (!it->is_number()) fail(pointer, std::string("\"") + keyword + "\" must be a number");
    return bound{number_value(*it), *it, ex != schema.end() && ex->get<bool>()};
  }

  static void compile_number(node& n, const json& schema, const std::string& pointer) {
    n.minimum = compile_bound(schema, pointer, "minimum", "exclusiveMinimum");
    n.maximum = compile_bound(schema, pointer, "maximum", "exclusiveMaximum");
    if (const auto it = schema.find("multipleOf"); it != schema.end()) {
      if (!it->is_number() || number_value(*it) <= 0) {
        fail(pointer, "\"multipleOf\" must be a number greater than 0");
      }
      n.multiple_of = *it;
    }
    n.number_rules = n.minimum || n.maximum || n.multiple_of;
  }

  void compile_array(node& n, const json& schema, const std::string& pointer) {
    n.min_items = optional_count(schema, pointer, "minItems");
    n.max_items = optional_count(schema, pointer, "maxItems");
    if (const auto it = schema.find("uniqueItems"); it != schema.end()) {
      if (!it->is_boolean()) fail(pointer, "\"uniqueItems\" must be a boolean");
      n.unique_items = it->get<bool>();
    }
    if (const auto it = schema.find("items"); it != schema.end()) {
      if (it->is_array()) {
        // Tuple form: item i against schema i; items beyond the list are unconstrained since
        // additionalItems is not supported.
        for (std::size_t i = 0; i < it->size(); ++i) {
          n.tuple_items.push_back(compile((*it)[i], pointer + "/items/" + std::to_string(i)));
        }
      } else {
        n.items = compile(*it, pointer + "/items");
      }
    }
    n.array_rules =
        n.min_items || n.max_items || n.unique_items || n.items || !n.tuple_items.empty();
  }

  void compile_object(node& n, const json& schema, const std::string& pointer) {
    if (const auto it = schema.find("required"); it != schema.end()) {
      if (!it->is_array() ||
          !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); })) {
        fail(pointer,
             "\"required\" must be an array of property names (the draft-03 boolean "
             "form is not supported)");
      }
      for (const json& name : *it) n.required.push_back(name.get<std::string>());
    }
    if (const auto it = schema.find("properties"); it != schema.end()) {
      if (!it->is_object()) fail(pointer, "\"properties\" must be an object");
      for (auto p = it->begin(); p != it->end(); ++p) {
        n.properties.emplace_back(
            p.key(), compile(*p, pointer + "/properties/" + escape_pointer_token(p.key())));
      }
      // json objects iterate in key order already; sorting keeps the merge walk in
      // check_object correct whatever the container.
      std::sort(n.properties.begin(), n.properties.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    if (const auto it = schema.find("patternProperties"); it != schema.end()) {
      if (!it->is_object()) fail(pointer, "\"patternProperties\" must be an object");
      for (auto p = it->begin(); p != it->end(); ++p) {
        const std::string at = pointer + "/patternProperties/" + escape_pointer_token(p.key());
        n.pattern_properties.emplace_back(regex(p.key(), at), compile(*p, at));
      }
    }
    if (const auto it = schema.find("additionalProperties"); it != schema.end()) {
      if (it->is_boolean()) {
        n.additional_forbidden = !it->get<bool>();
      } else {
        n.additional = compile(*it, pointer + "/additionalProperties");
      }
    }
    n.min_properties = optional_count(schema, pointer, "minProperties");
    n.max_properties = optional_count(schema, pointer, "maxProperties");
    n.object_rules = !n.required.empty() || !n.properties.empty() ||
                     !n.pattern_properties.empty() || n.additional_forbidden || n.additional ||
                     n.min_properties || n.max_properties;
  }

  void compile_combinators(node& n, const json& schema, const std::string& pointer) {
    n.all_of = schema_list(schema, pointer, "allOf");
    n.any_of = schema_list(schema, pointer, "anyOf");
    n.one_of = schema_list(schema, pointer, "oneOf");
    if (const auto it = schema.find("not"); it != schema.end()) {
      n.negated = compile(*it, pointer + "/not");
    }
  }

  void visit(node& n, std::vector<std::uint8_t>& state) {
    if (state[n.index] == 2) return;
    if (state[n.index] == 1) {
      fail(pointers_[n.index],
           "$ref cycle that never descends into the instance (infinite "
           "recursion)");
    }
    state[n.index] = 1;
    if (n.ref) visit(*n.ref, state);
    for (auto* list : {&n.all_of, &n.any_of, &n.one_of}) {
      for (node* c : *list) visit(*c, state);
    }
    if (n.negated) visit(*n.negated, state);
    state[n.index] = 2;
  }

  const json& doc_;
  std::deque<node>& nodes_;
  std::vector<std::string> pointers_;  // by node index, for error messages
  std::unordered_map<std::string, node*> by_pointer_;
  std::vector<pending_ref> pending_refs_;
};

// ---------------------------------------------------------------------------------------------
// Validation

struct context {
  std::vector<violation>* out;  // null: only the verdict matters (anyOf/oneOf/not branches)
  std::string path;             // maintained only when out is set
  int depth = 0;
};

void report(context& ctx, const char* rule, std::string description, json params) {
  ctx.out->push_back({ctx.path, rule, std::move(description), std::move(params)});
}

std::string number_text(const json& v) {
  return v.dump();
}

bool check(const node& n, const json& v, context& ctx);

// Validates a member or item one level down, with the depth bound and the path extended.
template <typename AppendPath>
bool descend(const node& n, const json& v, context& ctx, AppendPath&& append_path) {
  const std::size_t mark = ctx.path.size();
  if (ctx.out) append_path(ctx.path);
  bool ok = true;
  if (ctx.depth >= k_max_depth) {
    if (ctx.out) {
      report(ctx, "invalid",
             "value is nested too deeply to validate (more than " + std::to_string(k_max_depth) +
                 " levels)",
             json{{"max_depth", k_max_depth}});
    }
    ok = false;
  } else {
    ++ctx.depth;
    ok = check(n, v, ctx);
    --ctx.depth;
  }
  if (ctx.out) ctx.path.resize(mark);
  return ok;
}

bool descend_member(const node& n, const json& v, const std::string& name, context& ctx) {
  return descend(n, v, ctx, [&](std::string& path) {
    path += '.';
    path += name;
  });
}

bool descend_item(const node& n, const json& v, std::size_t index, context& ctx) {
  return descend(n, v, ctx, [&](std::string& path) {
    path += '[';
    path += std::to_string(index);
    path += ']';
  });
}

// Each check_* returns whether the value passed; in verdict-only mode it returns at the first
// failure, otherwise it records every violation.

bool check_enum(const node& n, const json& v, context& ctx) {
  bool found = false;
  if (n.enum_all_strings) {
    found = v.is_string() && std::binary_search(n.enum_strings.begin(), n.enum_strings.end(),
                                                v.get_ref<const std::string&>());
  } else {
    // json equality is numeric across integer and float representations, as the draft asks.
    found = std::find(n.enum_values.begin(), n.enum_values.end(), v) != n.enum_values.end();
  }
  if (!found && ctx.out) report(ctx, "inclusion", "value is not allowed in enum", n.enum_values);
  return found;
}

bool check_string(const node& n, const std::string& s, context& ctx) {
  bool ok = true;
  if (n.min_length || n.max_length) {
    const std::size_t length = code_points(s);
    if (n.min_length && length < *n.min_length) {
      if (!ctx.out) return false;
      ok = false;
      report(ctx, "length",
             "expected value to have a minimum length of " + std::to_string(*n.min_length) +
                 " but was " + std::to_string(length),
             json{{"min", *n.min_length}, {"actual", length}});
    }
    if (n.max_length && length > *n.max_length) {
      if (!ctx.out) return false;
      ok = false;
      report(ctx, "length",
             "expected value to have a maximum length of " + std::to_string(*n.max_length) +
                 " but was " + std::to_string(length),
             json{{"max", *n.max_length}, {"actual", length}});
    }
  }
  if (n.pattern && !n.pattern->search(s)) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "format", n.pattern_description, n.pattern_params);
  }
  if (n.format && !n.format->valid(s)) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, n.format->rule, "expected \"" + s + "\" to be " + n.format->expectation,
           n.format->param ? json::array({n.format->param}) : json::array());
  }
  return ok;
}

bool multiple_of(const json& v, const json& factor) {
  if (v.is_number_integer() && factor.is_number_integer()) {
    // Both integral: exact remainder. Unsigned values above INT64_MAX go the floating way.
    if (!v.is_number_unsigned() && !factor.is_number_unsigned()) {
      return v.get<std::int64_t>() % factor.get<std::int64_t>() == 0;
    }
    if (v.is_number_unsigned() && factor.is_number_unsigned()) {
      return v.get<std::uint64_t>() % factor.get<std::uint64_t>() == 0;
    }
  }
  // Decimal fractions are inexact in binary (0.3 / 0.1 = 2.9999999999999996), so a quotient
  // within rounding error of an integer counts as a multiple.
  const long double q = number_value(v) / number_value(factor);
  return std::fabs(q - std::round(q)) <= 1e-9L * std::max(1.0L, std::fabs(q));
}

bool check_number(const node& n, const json& v, context& ctx) {
  bool ok = true;
  const long double x = number_value(v);
  if (n.minimum) {
    const bound& b = *n.minimum;
    if (b.exclusive ? !(x > b.value) : !(x >= b.value)) {
      if (!ctx.out) return false;
      ok = false;
      report(ctx, "number",
             std::string("expected the value to be ") + (b.exclusive ? "> " : ">= ") +
                 number_text(b.literal),
             json{{b.exclusive ? "greater_than" : "greater_than_or_equal_to", b.literal}});
    }
  }
  if (n.maximum) {
    const bound& b = *n.maximum;
    if (b.exclusive ? !(x < b.value) : !(x <= b.value)) {
      if (!ctx.out) return false;
      ok = false;
      report(ctx, "number",
             std::string("expected the value to be ") + (b.exclusive ? "< " : "<= ") +
                 number_text(b.literal),
             json{{b.exclusive ? "less_than" : "less_than_or_equal_to", b.literal}});
    }
  }
  if (n.multiple_of && !multiple_of(v, *n.multiple_of)) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "number",
           "expected value to be a multiple of " + number_text(*n.multiple_of) + " but got " +
               number_text(v),
           json{{"multiple_of", *n.multiple_of}, {"actual", v}});
  }
  return ok;
}

bool unique(const json::array_t& items) {
  if (items.size() < 2) return true;
  // Sorting pointers keeps this O(n log n) without copying the items; json's ordering and
  // equality both treat 1 and 1.0 as the same number.
  std::vector<const json*> sorted;
  sorted.reserve(items.size());
  for (const json& item : items) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) { return *a < *b; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if (*sorted[i - 1] == *sorted[i]) return false;
  }
  return true;
}

bool check_array(const node& n, const json::array_t& items, context& ctx) {
  bool ok = true;
  if (n.min_items && items.size() < *n.min_items) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "length",
           "expected a minimum of " + std::to_string(*n.min_items) + " items but got " +
               std::to_string(items.size()),
           json{{"min", *n.min_items}, {"actual", items.size()}});
  }
  if (n.max_items && items.size() > *n.max_items) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "length",
           "expected a maximum of " + std::to_string(*n.max_items) + " items but got " +
               std::to_string(items.size()),
           json{{"max", *n.max_items}, {"actual", items.size()}});
  }
  if (n.unique_items && !unique(items)) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "unique", "expected items to be unique but they were not", json::array());
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    const node* item_schema = n.items;
    if (!n.tuple_items.empty()) item_schema = i < n.tuple_items.size() ? n.tuple_items[i] : nullptr;
    if (!item_schema) continue;
    if (!descend_item(*item_schema, items[i], i, ctx)) {
      if (!ctx.out) return false;
      ok = false;
    }
  }
  return ok;
}

bool check_object(const node& n, const json::object_t& members, context& ctx) {
  bool ok = true;
  for (const std::string& name : n.required) {
    if (members.find(name) != members.end()) continue;
    if (!ctx.out) return false;
    ok = false;
    const std::size_t mark = ctx.path.size();
    ctx.path += '.';
    ctx.path += name;
    report(ctx, "required", "required property " + name + " was not present", json::array());
    ctx.path.resize(mark);
  }
  if (n.min_properties && members.size() < *n.min_properties) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "length",
           "expected a minimum of " + std::to_string(*n.min_properties) + " properties but got " +
               std::to_string(members.size()),
           json{{"min", *n.min_properties}, {"actual", members.size()}});
  }
  if (n.max_properties && members.size() > *n.max_properties) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "length",
           "expected a maximum of " + std::to_string(*n.max_properties) + " properties but got " +
               std::to_string(members.size()),
           json{{"max", *n.max_properties}, {"actual", members.size()}});
  }
  if (n.properties.empty() && n.pattern_properties.empty() && !n.additional_forbidden &&
      !n.additional) {
    return ok;
  }
  // Members and n.properties are both sorted by name: one merge walk finds each member's schema.
  auto declared = n.properties.begin();
  for (const auto& [name, value] : members) {
    while (declared != n.properties.end() && declared->first < name) ++declared;
    bool matched = false;
    if (declared != n.properties.end() && declared->first == name) {
      matched = true;
      if (!descend_member(*declared->second, value, name, ctx)) {
        if (!ctx.out) return false;
        ok = false;
      }
    }
    for (const auto& [pattern, schema] : n.pattern_properties) {
      if (!pattern.search(name)) continue;
      matched = true;
      if (!descend_member(*schema, value, name, ctx)) {
        if (!ctx.out) return false;
        ok = false;
      }
    }
    if (matched) continue;
    if (n.additional_forbidden) {
      if (!ctx.out) return false;
      ok = false;
      const std::size_t mark = ctx.path.size();
      ctx.path += '.';
      ctx.path += name;
      report(ctx, "schema_does_not_allow_additional_properties",
             "schema does not allow additional properties", json::object());
      ctx.path.resize(mark);
    } else if (n.additional && !descend_member(*n.additional, value, name, ctx)) {
      if (!ctx.out) return false;
      ok = false;
    }
  }
  return ok;
}

bool passes(const node& n, const json& v, const context& ctx) {
  context verdict{nullptr, {}, ctx.depth};
  return check(n, v, verdict);
}

bool check_combinators(const node& n, const json& v, context& ctx) {
  bool ok = true;
  // allOf adds nothing of its own: the failing branches' violations say what is wrong.
  for (const node* branch : n.all_of) {
    if (!check(*branch, v, ctx)) {
      if (!ctx.out) return false;
      ok = false;
    }
  }
  if (!n.any_of.empty() && std::none_of(n.any_of.begin(), n.any_of.end(), [&](const node* branch) {
        return passes(*branch, v, ctx);
      })) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "schemata", "expected any of the schemata to match but none did", json::array());
  }
  if (!n.one_of.empty()) {
    std::vector<std::size_t> matched;
    for (std::size_t i = 0; i < n.one_of.size(); ++i) {
      if (passes(*n.one_of[i], v, ctx)) matched.push_back(i);
      if (!ctx.out && matched.size() > 1) return false;
    }
    if (matched.size() != 1) {
      if (!ctx.out) return false;
      ok = false;
      if (matched.empty()) {
        report(ctx, "schemata",
               "expected exactly one of the schemata to match, but none of them did",
               json::array());
      } else {
        std::string indices;
        for (std::size_t i : matched) {
          if (!indices.empty()) indices += ", ";
          indices += std::to_string(i);
        }
        report(ctx, "schemata",
               "expected exactly one of the schemata to match, but the schemata at indices " +
                   indices + " matched",
               json(matched));
      }
    }
  }
  if (n.negated && passes(*n.negated, v, ctx)) {
    if (!ctx.out) return false;
    ok = false;
    report(ctx, "schemata", "expected schema not to match but it did", json::array());
  }
  return ok;
}

bool check(const node& n, const json& v, context& ctx) {
  // A value of the wrong type gets one "cast" violation: its other keywords would only restate
  // the mismatch.
  if (n.types != 0 && (instance_bits(v) & n.types) == 0) {
    if (ctx.out) {
      report(ctx, "cast",
             "type mismatch. Expected " + n.expected_types + " but got " + instance_type_name(v),
             n.type_params);
    }
    return false;
  }
  bool ok = true;
  // Keywords next to a $ref are applied too, as ex_json_schema does (eHealth's schemas write
  // {"type": "string", "$ref": "#/definitions/uuid"}), although draft-04 would ignore them.
  if (n.ref && !check(*n.ref, v, ctx)) {
    if (!ctx.out) return false;
    ok = false;
  }
  if (n.has_enum && !check_enum(n, v, ctx)) {
    if (!ctx.out) return false;
    ok = false;
  }
  bool kind_ok = true;
  if (n.string_rules && v.is_string()) {
    kind_ok = check_string(n, v.get_ref<const std::string&>(), ctx);
  } else if (n.number_rules && v.is_number()) {
    kind_ok = check_number(n, v, ctx);
  } else if (n.array_rules && v.is_array()) {
    kind_ok = check_array(n, v.get_ref<const json::array_t&>(), ctx);
  } else if (n.object_rules && v.is_object()) {
    kind_ok = check_object(n, v.get_ref<const json::object_t&>(), ctx);
  }
  if (!kind_ok) {
    if (!ctx.out) return false;
    ok = false;
  }
  if (!n.all_of.empty() || !n.any_of.empty() || !n.one_of.empty() || n.negated) {
    if (!check_combinators(n, v, ctx)) ok = false;
  }
  return ok;
}

}  // namespace

schema schema::compile(const nlohmann::json& doc) {
  auto built = std::make_shared<impl>();
  compiler c(doc, built->nodes);
  built->root = c.compile(doc, "");
  c.resolve_refs();
  c.reject_cycles();
  schema s;
  s.impl_ = std::move(built);
  return s;
}

std::vector<violation> schema::validate(const nlohmann::json& instance) const {
  if (!impl_) throw std::logic_error("json_schema::schema::validate on a schema never compiled");
  std::vector<violation> out;
  context ctx{&out, "$", 0};
  check(*impl_->root, instance, ctx);
  return out;
}

}  // namespace medflow::json_schema
