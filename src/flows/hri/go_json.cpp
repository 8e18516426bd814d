#include "flows/hri/go_json.hpp"

#include "core/json.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace medflow::flows::hri::go {

namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

constexpr char32_t replacement = 0xFFFD;

// utf8.DecodeRune: an invalid or overlong sequence, or an encoded surrogate, is U+FFFD of width 1.
std::pair<char32_t, size_t> decode_rune(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return {c, 1};
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF && cont(1)) return {char32_t((c & 0x1F) << 6 | (b(1) & 0x3F)), 2};
  if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
    char32_t r = (c & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
    if (r >= 0x800 && (r < 0xD800 || r > 0xDFFF)) return {r, 3};
  }
  if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    char32_t r = (c & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
    if (r >= 0x10000 && r <= 0x10FFFF) return {r, 4};
  }
  return {replacement, 1};
}

void append_utf8(std::string& out, char32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

// strconv.IsPrint for the runes a request body is likely to hold: Go's tables are not at hand,
// so beyond ASCII only the well-known invisible runes (C1 controls, NBSP, soft hyphen, zero-width
// and line/paragraph separators, BOM) count as unprintable.
bool is_print(char32_t r) {
  if (r < 0x80) return r >= 0x20 && r != 0x7F;
  if (r <= 0xA0 || r == 0xAD) return false;
  if ((r >= 0x200B && r <= 0x200F) || r == 0x2028 || r == 0x2029 || r == 0xFEFF) return false;
  return !(r >= 0xFFF9 && r <= 0xFFFB);
}

void append_quoted_rune(std::string& out, char32_t r, bool invalid_byte, unsigned char byte) {
  char buf[16];
  if (invalid_byte) {
    std::snprintf(buf, sizeof buf, "\\x%02x", byte);
    out += buf;
    return;
  }
  if (r == '"' || r == '\\') {
    out += '\\';
    out += static_cast<char>(r);
    return;
  }
  if (is_print(r)) {
    append_utf8(out, r);
    return;
  }
  switch (r) {
    case '\a':
      out += "\\a";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\v':
      out += "\\v";
      return;
    default:
      break;
  }
  if (r < ' ' || r == 0x7F) {
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(r));
  } else if (r < 0x10000) {
    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(r));
  } else {
    std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(r));
  }
  out += buf;
}

// -- Go's JSON scanner (encoding/json/scanner.go), state by state, for its exact messages ------

enum class st {
  begin_value_or_empty,
  begin_value,
  begin_string_or_empty,
  begin_string,
  end_value,
  end_top,
  in_string,
  in_string_esc,
  esc_u,
  esc_u1,
  esc_u12,
  esc_u123,
  neg,
  one,
  zero,
  dot,
  dot0,
  e,
  e_sign,
  e0,
  t,
  tr,
  tru,
  f,
  fa,
  fal,
  fals,
  n,
  nu,
  nul,
  error
};
enum class op { cont, skip, end_object, end_array, end, error };
enum class ps : char { object_key, object_value, array_value };

class scanner {
 public:
  // Go stops at 10000 levels, medflowd at json.max_depth (at most 10000).
  explicit scanner(size_t max_depth) : max_depth_(max_depth) {}

  op step(unsigned char c) {
    switch (s_) {
      case st::begin_value_or_empty:
        if (is_space(c)) return op::skip;
        if (c == ']') return end_value(c);
        return begin_value(c);
      case st::begin_value:
        return begin_value(c);
      case st::begin_string_or_empty:
        if (is_space(c)) return op::skip;
        if (c == '}') {
          stack_.back() = ps::object_value;
          return end_value(c);
        }
        return begin_string(c);
      case st::begin_string:
        return begin_string(c);
      case st::end_value:
        return end_value(c);
      case st::end_top:
        return end_top(c);
      case st::in_string:
        if (c == '"') return to(st::end_value);
        if (c == '\\') return to(st::in_string_esc);
        if (c < 0x20) return fail(c, "in string literal");
        return op::cont;
      case st::in_string_esc:
        switch (c) {
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
          case '\\':
          case '/':
          case '"':
            return to(st::in_string);
          case 'u':
            return to(st::esc_u);
          default:
            return fail(c, "in string escape code");
        }
      case st::esc_u:
        return hex(c, st::esc_u1);
      case st::esc_u1:
        return hex(c, st::esc_u12);
      case st::esc_u12:
        return hex(c, st::esc_u123);
      case st::esc_u123:
        return hex(c, st::in_string);
      case st::neg:
        if (c == '0') return to(st::zero);
        if (c >= '1' && c <= '9') return to(st::one);
        return fail(c, "in numeric literal");
      case st::one:
        if (is_digit(c)) return op::cont;
        return zero(c);
      case st::zero:
        return zero(c);
      case st::dot:
        if (is_digit(c)) return to(st::dot0);
        return fail(c, "after decimal point in numeric literal");
      case st::dot0:
        if (is_digit(c)) return op::cont;
        if (c == 'e' || c == 'E') return to(st::e);
        return end_value(c);
      case st::e:
        if (c == '+' || c == '-') return to(st::e_sign);
        return e_sign(c);
      case st::e_sign:
        return e_sign(c);
      case st::e0:
        if (is_digit(c)) return op::cont;
        return end_value(c);
      case st::t:
        return expect(c, 'r', st::tr, "in literal true (expecting 'r')");
      case st::tr:
        return expect(c, 'u', st::tru, "in literal true (expecting 'u')");
      case st::tru:
        return expect(c, 'e', st::end_value, "in literal true (expecting 'e')");
      case st::f:
        return expect(c, 'a', st::fa, "in literal false (expecting 'a')");
      case st::fa:
        return expect(c, 'l', st::fal, "in literal false (expecting 'l')");
      case st::fal:
        return expect(c, 's', st::fals, "in literal false (expecting 's')");
      case st::fals:
        return expect(c, 'e', st::end_value, "in literal false (expecting 'e')");
      case st::n:
        return expect(c, 'u', st::nu, "in literal null (expecting 'u')");
      case st::nu:
        return expect(c, 'l', st::nul, "in literal null (expecting 'l')");
      case st::nul:
        return expect(c, 'l', st::end_value, "in literal null (expecting 'l')");
      case st::error:
        return op::error;
    }
    return op::error;
  }
  // What json.Decoder does at the end of its input: a space completes a pending number.
  op finish() { return step(' '); }
  const std::string& message() const { return message_; }

 private:
  op to(st next) {
    s_ = next;
    return op::cont;
  }
  op fail(unsigned char c, const char* context) {
    s_ = st::error;
    message_ = "invalid character " + quote_char(c) + " " + context;
    return op::error;
  }
  op expect(unsigned char c, char want, st next, const char* context) {
    if (c == static_cast<unsigned char>(want)) return to(next);
    return fail(c, context);
  }
  op hex(unsigned char c, st next) {
    if (strings::is_hex(static_cast<char>(c))) return to(next);
    return fail(c, "in \\u hexadecimal character escape");
  }
  op push(unsigned char c, ps p, st next) {
    if (stack_.size() >= max_depth_) {
      s_ = st::error;
      message_ = json_nesting_text(max_depth_);
      return op::error;
    }
    stack_.push_back(p);
    return to(next);
  }
  op begin_value(unsigned char c) {
    if (is_space(c)) return op::skip;
    switch (c) {
      case '{':
        return push(c, ps::object_key, st::begin_string_or_empty);
      case '[':
        return push(c, ps::array_value, st::begin_value_or_empty);
      case '"':
        return to(st::in_string);
      case '-':
        return to(st::neg);
      case '0':
        return to(st::zero);
      case 't':
        return to(st::t);
      case 'f':
        return to(st::f);
      case 'n':
        return to(st::n);
      default:
        if (c >= '1' && c <= '9') return to(st::one);
        return fail(c, "looking for beginning of value");
    }
  }
  op begin_string(unsigned char c) {
    if (is_space(c)) return op::skip;
    if (c == '"') return to(st::in_string);
    return fail(c, "looking for beginning of object key string");
  }
  op zero(unsigned char c) {
    if (c == '.') return to(st::dot);
    if (c == 'e' || c == 'E') return to(st::e);
    return end_value(c);
  }
  op e_sign(unsigned char c) {
    if (is_digit(c)) return to(st::e0);
    return fail(c, "in exponent of numeric literal");
  }
  op end_top(unsigned char c) {
    // Go records "after top-level value" here but still reports the value as complete, and
    // json.Decoder never looks further: the bytes after the first value are simply ignored.
    s_ = st::end_top;
    return op::end;
  }
  op end_value(unsigned char c) {
    if (stack_.empty()) return end_top(c);
    if (is_space(c)) {
      s_ = st::end_value;
      return op::skip;
    }
    switch (stack_.back()) {
      case ps::object_key:
        if (c == ':') {
          stack_.back() = ps::object_value;
          return to(st::begin_value);
        }
        return fail(c, "after object key");
      case ps::object_value:
        if (c == ',') {
          stack_.back() = ps::object_key;
          return to(st::begin_string);
        }
        if (c == '}') return pop(op::end_object);
        return fail(c, "after object key:value pair");
      case ps::array_value:
        if (c == ',') return to(st::begin_value);
        if (c == ']') return pop(op::end_array);
        return fail(c, "after array element");
    }
    return op::error;
  }
  op pop(op result) {
    stack_.pop_back();
    s_ = stack_.empty() ? st::end_top : st::end_value;
    return result;
  }

  size_t max_depth_;
  st s_ = st::begin_value;
  std::vector<ps> stack_;
  std::string message_;
};

std::string echo_error(const std::string& message, const std::string& internal) {
  return "code=400, message=" + message + ", internal=" + internal;
}

// -- building values from text the scanner accepted -------------------------------------------

// Go's unquote: escapes resolved, a surrogate pair joined, anything else broken becomes U+FFFD.
std::string unquote(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto u4 = [&](size_t at) -> int32_t {
    if (at + 6 > s.size() || s[at] != '\\' || s[at + 1] != 'u') return -1;
    int32_t v = 0;
    for (size_t k = at + 2; k < at + 6; ++k) {
      char c = s[k];
      int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
      v = v * 16 + d;
    }
    return v;
  };
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c != '\\') {
      auto [r, w] = decode_rune(s, i);
      append_utf8(out, r);
      i += w;
      continue;
    }
    char e = s[i + 1];
    switch (e) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        char32_t r = static_cast<char32_t>(u4(i));
        if (r >= 0xD800 && r <= 0xDFFF) {
          int32_t lo = u4(i + 6);
          if (r < 0xDC00 && lo >= 0xDC00 && lo <= 0xDFFF) {
            append_utf8(out, 0x10000 + ((r - 0xD800) << 10) + (static_cast<char32_t>(lo) - 0xDC00));
            i += 12;
            continue;
          }
          r = replacement;
        }
        append_utf8(out, r);
        i += 6;
        continue;
      }
      default:
        out += e;
        break;  // \" \\ \/
    }
    i += 2;
  }
  return out;
}

json number_value(std::string_view lit) {
  std::string text(lit);
  bool integral = text.find_first_of(".eE") == std::string::npos;
  if (integral) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0) return static_cast<int64_t>(v);
  }
  double d = std::strtod(text.c_str(), nullptr);
  // Go keeps every number of a map as a float64 and prints the integral ones without a
  // fraction; an integer keeps that look here.
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e18) {
    return static_cast<int64_t>(d);
  }
  return d;
}

// Reads JSON the scanner accepted, without recursion (Go allows 10000 levels).
class builder {
 public:
  explicit builder(std::string_view s) : s_(s) {}

  size_t skip(size_t p) const {
    while (p < s_.size() && is_space(s_[p])) ++p;
    return p;
  }

  // The string starting at p (a quote); p ends after the closing quote.
  std::string string_at(size_t& p) const {
    size_t start = ++p;
    while (s_[p] != '"') p += s_[p] == '\\' ? 2 : 1;
    return unquote(s_.substr(start, p++ - start));
  }

  // A scalar starting at p; p ends after it.
  json scalar_at(size_t& p, kind& k, std::string& literal) const {
    char c = s_[p];
    if (c == '"') {
      k = kind::string;
      return string_at(p);
    }
    if (c == 't' || c == 'f') {
      k = kind::boolean;
      p += c == 't' ? 4 : 5;
      return c == 't';
    }
    if (c == 'n') {
      k = kind::null;
      p += 4;
      return nullptr;
    }
    size_t start = p;
    while (p < s_.size() && (is_digit(s_[p]) || s_[p] == '-' || s_[p] == '+' || s_[p] == '.' ||
                             s_[p] == 'e' || s_[p] == 'E'))
      ++p;
    k = kind::number;
    literal = std::string(s_.substr(start, p - start));
    return number_value(literal);
  }

  // Any value starting at p; p ends after it.
  json value_at(size_t& p, kind& k, std::string& literal) {
    char c = s_[p];
    if (c != '{' && c != '[') return scalar_at(p, k, literal);
    k = c == '{' ? kind::object : kind::array;
    struct frame {
      json v;
      std::string key;
    };
    std::vector<frame> stack;
    json done;
    bool open = true;  // the next token opens or is a value (else: after a value)
    while (true) {
      p = skip(p);
      if (open) {
        char o = s_[p];
        if (o == '{' || o == '[') {
          stack.push_back({o == '{' ? json::object() : json::array(), {}});
          p = skip(p + 1);
          char first = s_[p];
          if (first == '}' || first == ']') {
            open = false;
            continue;
          }
          if (o == '{') {
            stack.back().key = string_at(p);
            p = skip(p) + 1;  // the ':'
          }
          continue;
        }
        kind ignored;
        std::string lit;
        done = scalar_at(p, ignored, lit);
        attach(stack, std::move(done));
        open = false;
        continue;
      }
      char c = s_[p];
      if (c == ',') {
        p = skip(p + 1);
        if (stack.back().v.is_object()) {
          stack.back().key = string_at(p);
          p = skip(p) + 1;
        }
        open = true;
        continue;
      }
      // '}' or ']' closes the innermost container.
      ++p;
      json closed = std::move(stack.back().v);
      stack.pop_back();
      if (stack.empty()) return closed;
      attach(stack, std::move(closed));
    }
  }

 private:
  template <class Stack>
  static void attach(Stack& stack, json v) {
    auto& top = stack.back();
    if (top.v.is_object()) {
      top.v[top.key] = std::move(v);
    } else {
      top.v.push_back(std::move(v));
    }
  }

  std::string_view s_;
};

const char* type_name(go_type t) {
  switch (t) {
    case go_type::string:
    case go_type::string_ptr:
      return "string";
    case go_type::int_:
    case go_type::int_ptr:
      return "int";
    case go_type::int64:
    case go_type::int64_ptr:
      return "int64";
    case go_type::map:
      return "map[string]interface {}";
  }
  return "";
}

bool is_pointer(go_type t) {
  return t == go_type::string_ptr || t == go_type::int_ptr || t == go_type::int64_ptr ||
         t == go_type::map;
}

// strconv.ParseInt(s, 10, 64) on a JSON number literal.
std::optional<int64_t> parse_int64(const std::string& lit) {
  if (lit.empty() || lit.find_first_of(".eE") != std::string::npos) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(lit.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

}  // namespace


std::string quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    auto [r, w] = decode_rune(s, i);
    bool invalid = r == replacement && w == 1 && static_cast<unsigned char>(s[i]) >= 0x80;
    append_quoted_rune(out, r, invalid, static_cast<unsigned char>(s[i]));
    i += w;
  }
  return out + "\"";
}

std::string quote_char(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  // Go converts the byte to the rune of the same number, so 0xC3 reads as 'Ã'.
  std::string inner;
  append_quoted_rune(inner, c, false, c);
  return "'" + inner + "'";
}

std::string group_digits(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

const char* kind_name(kind k) {
  switch (k) {
    case kind::null:
      return "null";
    case kind::boolean:
      return "bool";
    case kind::number:
      return "number";
    case kind::string:
      return "string";
    case kind::array:
      return "array";
    case kind::object:
      return "object";
  }
  return "";
}

std::variant<document, std::string> decode(std::string_view body) {
  return decode(body, max_json_depth());
}

std::variant<document, std::string> decode(std::string_view body, size_t max_depth) {
  document doc;
  if (body.empty()) {
    doc.empty = true;
    return doc;
  }
  // json.Decoder.readValue: find where the first value ends, or why it cannot.
  scanner sc(max_depth);
  size_t end = body.size();
  bool complete = false;
  for (size_t i = 0; i < body.size() && !complete; ++i) {
    switch (sc.step(static_cast<unsigned char>(body[i]))) {
      case op::end:
        end = i;
        complete = true;
        break;
      case op::end_object:
      case op::end_array:
        if (sc.finish() == op::end) {
          end = i + 1;
          complete = true;
        }
        break;
      case op::error: {
        const std::string& m = sc.message();
        return echo_error("Syntax error: offset=" + std::to_string(i + 1) + ", error=" + m, m);
      }
      default:
        break;
    }
  }
  if (!complete) {
    if (sc.finish() != op::end) {
      bool blank = std::all_of(body.begin(), body.end(),
                               [](char c) { return is_space(static_cast<unsigned char>(c)); });
      if (blank) return echo_error("EOF", "EOF");
      // HRI's binder rewords exactly this one.
      return std::string("unable to parse request body due to unexpected EOF");
    }
  }
  std::string_view text = body.substr(0, end);
  builder b(text);
  size_t p = b.skip(0);
  char c = text[p];
  if (c != '{') {
    std::string lit;
    json ignored = b.value_at(p, doc.top, lit);
    // Go reports an array just after its '[' and a literal at its end.
    doc.top_offset = doc.top == kind::array ? b.skip(0) + 1 : p;
    return doc;
  }
  doc.top = kind::object;
  p = b.skip(p + 1);
  if (text[p] == '}') return doc;
  while (true) {
    member m;
    m.key = b.string_at(p);
    p = b.skip(b.skip(p) + 1);  // past the ':'
    m.value = b.value_at(p, m.k, m.literal);
    doc.members.push_back(std::move(m));
    p = b.skip(p);
    if (text[p] == '}') break;
    p = b.skip(p + 1);  // past the ','
  }
  return doc;
}

std::optional<std::string> bind(const document& doc, const char* go_struct,
                                const std::vector<field>& fields, std::vector<bound>& out) {
  out.assign(fields.size(), bound{});
  if (doc.empty || doc.top == kind::null) return std::nullopt;
  if (doc.top != kind::object) {
    std::string type = std::string("model.") + go_struct;
    std::string got = kind_name(doc.top);
    return echo_error("Unmarshal type error: expected=" + type + ", got=" + got +
                          ", field=, offset=" + std::to_string(doc.top_offset),
                      "json: cannot unmarshal " + got + " into Go value of type " + type);
  }
  std::optional<std::string> first_error;
  auto mismatch = [&](const field& f, const std::string& got) {
    if (!first_error) {
      first_error = std::string("invalid request param \"") + f.name + "\": expected type " +
                    type_name(f.type) + ", but received type " + got;
    }
  };
  for (const member& m : doc.members) {
    size_t idx = fields.size();
    for (size_t i = 0; i < fields.size() && idx == fields.size(); ++i)
      if (m.key == fields[i].name) idx = i;
    for (size_t i = 0; i < fields.size() && idx == fields.size(); ++i)
      if (strings::iequals(m.key, fields[i].name)) idx = i;
    if (idx == fields.size()) continue;  // unknown fields are ignored
    const field& f = fields[idx];
    bound& b = out[idx];
    if (m.k == kind::null) {
      // null resets pointers and maps, and leaves plain values alone.
      if (is_pointer(f.type)) b = bound{};
      continue;
    }
    switch (f.type) {
      case go_type::string:
      case go_type::string_ptr:
        if (m.k != kind::string) {
          mismatch(f, kind_name(m.k));
          continue;
        }
        b = {true, m.value};
        break;
      case go_type::int_:
      case go_type::int_ptr:
      case go_type::int64:
      case go_type::int64_ptr: {
        if (m.k != kind::number) {
          mismatch(f, kind_name(m.k));
          continue;
        }
        auto v = parse_int64(m.literal);
        if (!v) {
          mismatch(f, "number " + m.literal);
          continue;
        }
        b = {true, *v};
        break;
      }
      case go_type::map:
        if (m.k != kind::object) {
          mismatch(f, kind_name(m.k));
          continue;
        }
        if (b.present && b.value.is_object()) {
          for (auto it = m.value.begin(); it != m.value.end(); ++it) b.value[it.key()] = *it;
        } else {
          b = {true, m.value};
        }
        break;
    }
  }
  return first_error;
}

void violations::body(const char* field, const std::string& message) {
  list_.push_back(std::string(field) + " (json field in request body) " + message);
}
void violations::query(const char* field, const std::string& message) {
  list_.push_back(std::string(field) + " (request query parameter) " + message);
}
void violations::path(const char* field, const std::string& message) {
  list_.push_back(std::string(field) + " (url path parameter) " + message);
}

std::optional<error> violations::to_error() const {
  if (list_.empty()) return std::nullopt;
  std::vector<std::string> sorted = list_;
  std::sort(sorted.begin(), sorted.end());
  std::string text = "invalid request arguments:";
  for (const auto& m : sorted) text += "\n- " + m;
  return error::bad_request(text);
}

const char* const injection_message = "must not contain the following characters: \"=<>[]{}";

bool has_injection_chars(std::string_view s) {
  return s.find_first_of("\"=<>[]{}") != std::string_view::npos;
}

}  // namespace medflow::flows::hri::go
