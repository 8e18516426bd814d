// Selector compiler and evaluator. Compiling is a recursive descent over the grammar below
// that emits a postfix program as it goes (each parse function returns the static shape of
// what it parsed, so shape errors are reported where they are written); evaluating runs the
// program on a fixed array of slots.
//
//   selector   := ws* | or_expr end
//   or_expr    := and_expr (OR and_expr)*
//   and_expr   := not_expr (AND not_expr)*
//   not_expr   := NOT* comparison
//   comparison := additive [ ('=' | '<>' | '<' | '>' | '<=' | '>=') additive
//                          | [NOT] BETWEEN additive AND additive
//                          | [NOT] IN '(' string (',' string)* ')'
//                          | [NOT] LIKE string [ESCAPE string]
//                          | IS [NOT] NULL ]
//   additive   := multiplicative (('+' | '-') multiplicative)*
//   multiplicative := unary (('*' | '/') unary)*
//   unary      := ('+' | '-')* primary
//   primary    := identifier | string | exact | approximate | TRUE | FALSE | '(' or_expr ')'
#include "flows/resource_events/selector.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <vector>

namespace medflow::flows::resource_events {

namespace {

struct code_range {
  char32_t first;
  char32_t last;
};
#include "java_identifier_chars.inc"

// Above this the offsets inside a program (32 bits) could overflow; a larger configured limit
// is taken as this one.
constexpr std::size_t hard_max_text_bytes = std::size_t{1} << 30;

// Bound of the evaluation stack of a valid selector: every level (the top and each
// parenthesis) holds at most two pending left operands (of OR and AND, or of '+' and '*'),
// and at most one comparison is open at a time (its operands are numeric, so no comparison
// nests inside them) with up to four more (BETWEEN's value and low bound, '+', '*'), plus the
// operand being pushed.
constexpr std::size_t max_eval_slots = 2 * (max_nesting + 1) + 4 + 1;
// Selectors needing at most this many slots run on a small stack frame.
constexpr std::size_t small_eval_slots = 48;

// ---- UTF-8 ------------------------------------------------------------------------------------

struct decoded {
  char32_t cp;
  std::size_t length;  // 0: not a well-formed sequence
};

decoded decode_utf8(std::string_view s, std::size_t i) {
  auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 < 0x80) return {c0, 1};
  std::size_t more;
  char32_t cp;
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    more = 1;
    cp = c0 & 0x1F;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    more = 2;
    cp = c0 & 0x0F;
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    more = 3;
    cp = c0 & 0x07;
  } else {
    return {0, 0};
  }
  if (s.size() - i <= more) return {0, 0};
  for (std::size_t k = 1; k <= more; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return {0, 0};
    cp = (cp << 6) | (c & 0x3F);
  }
  if (more == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return {0, 0};
  if (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return {0, 0};
  return {cp, more + 1};
}

// Bytes of the character at s[i] of a property value; a byte that starts no well-formed
// sequence is a character of its own. A lead byte is never a continuation byte, so a match of
// valid UTF-8 found anywhere in a value starts on a character boundary of this decoding.
std::size_t char_length(std::string_view s, std::size_t i) {
  std::size_t n = decode_utf8(s, i).length;
  return n == 0 ? 1 : n;
}

bool in_ranges(const code_range* first, const code_range* last, char32_t cp) {
  auto it = std::upper_bound(first, last, cp,
                             [](char32_t c, const code_range& r) { return c < r.first; });
  return it != first && cp <= (it - 1)->last;
}

bool ascii_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
bool ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}

bool java_identifier_start_char(char32_t cp) {
  if (cp < 0x80) return ascii_letter(cp);
  return in_ranges(std::begin(java_identifier_start), std::end(java_identifier_start), cp);
}
bool java_identifier_part_char(char32_t cp) {
  if (cp < 0x80) return ascii_letter(cp) || ascii_digit(cp);
  return in_ranges(std::begin(java_identifier_part), std::end(java_identifier_part), cp);
}

bool java_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// ---- tokens -----------------------------------------------------------------------------------

enum class tok : std::uint8_t {
  end,
  identifier,
  keyword,
  string,
  exact,
  approximate,
  lparen,
  rparen,
  comma,
  eq,
  ne,
  lt,
  gt,
  le,
  ge,
  plus,
  minus,
  star,
  slash
};

enum class kw : std::uint8_t {
  and_,
  or_,
  not_,
  between,
  like,
  in,
  is,
  null,
  true_,
  false_,
  escape,
  none
};

struct keyword_spelling {
  const char* text;
  kw word;
};
constexpr keyword_spelling keywords[] = {
    {"AND", kw::and_},   {"OR", kw::or_},       {"NOT", kw::not_},      {"BETWEEN", kw::between},
    {"LIKE", kw::like},  {"IN", kw::in},        {"IS", kw::is},         {"NULL", kw::null},
    {"TRUE", kw::true_}, {"FALSE", kw::false_}, {"ESCAPE", kw::escape},
};

struct token {
  tok kind = tok::end;
  kw word = kw::none;
  std::size_t offset = 0;
  std::size_t length = 0;
  std::uint64_t exact = 0;     // exact: the value's two's complement bits
  bool min_magnitude = false;  // exact: 9223372036854775808, valid only after a minus
  double approximate = 0;
  std::string text;  // string: the value without quotes, '' made '
};

// A compile error on its way out of the compiler: message = before + " at <position>" + after.
struct failure {
  std::size_t offset;
  std::string before;
  std::string after;
};

[[noreturn]] void fail(std::size_t offset, std::string before, std::string after = {}) {
  throw failure{offset, std::move(before), std::move(after)};
}

// At most 40 bytes of `s` (cut on a character boundary), for messages.
std::string excerpt(std::string_view s) {
  if (s.size() <= 40) return std::string(s);
  std::size_t n = 37;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

// ---- the lexer --------------------------------------------------------------------------------

class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}

  // The next token into t (a reference, so callers' frames hold no token of their own).
  void next(token& t) {
    while (pos_ < text_.size() && java_whitespace(text_[pos_])) ++pos_;
    t.kind = tok::end;
    t.word = kw::none;
    t.offset = pos_;
    t.length = 0;
    t.min_magnitude = false;
    t.text.clear();
    if (pos_ == text_.size()) return;
    char c = text_[pos_];
    switch (c) {
      case '(':
        return punct(t, tok::lparen, 1);
      case ')':
        return punct(t, tok::rparen, 1);
      case ',':
        return punct(t, tok::comma, 1);
      case '=':
        return punct(t, tok::eq, 1);
      case '+':
        return punct(t, tok::plus, 1);
      case '-':
        return punct(t, tok::minus, 1);
      case '*':
        return punct(t, tok::star, 1);
      case '/':
        return punct(t, tok::slash, 1);
      case '<':
        if (peek(1) == '>') return punct(t, tok::ne, 2);
        if (peek(1) == '=') return punct(t, tok::le, 2);
        return punct(t, tok::lt, 1);
      case '>':
        if (peek(1) == '=') return punct(t, tok::ge, 2);
        return punct(t, tok::gt, 1);
      case '\'':
        return string_literal(t);
      default:
        break;
    }
    if (ascii_digit(static_cast<unsigned char>(c)) || (c == '.' && ascii_digit(peek(1)))) {
      return numeric_literal(t);
    }
    decoded d = decode_utf8(text_, pos_);  // the text is valid UTF-8 (checked before lexing)
    if (java_identifier_start_char(d.cp)) return word(t);
    fail(pos_, "unexpected character " + describe_char(d.cp));
  }

 private:
  char peek(std::size_t ahead) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void punct(token& t, tok kind, std::size_t length) {
    t.kind = kind;
    t.length = length;
    pos_ += length;
  }

  static std::string describe_char(char32_t cp) {
    if (cp >= 0x21 && cp < 0x7F) return std::string("'") + static_cast<char>(cp) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
  }

  void string_literal(token& t) {
    std::size_t i = pos_ + 1;
    for (;;) {
      std::size_t q = text_.find('\'', i);
      if (q == std::string_view::npos) fail(t.offset, "unterminated string literal starting");
      t.text.append(text_.substr(i, q - i));
      if (q + 1 < text_.size() && text_[q + 1] == '\'') {
        t.text.push_back('\'');
        i = q + 2;
        continue;
      }
      i = q + 1;
      break;
    }
    t.kind = tok::string;
    t.length = i - pos_;
    pos_ = i;
  }

  void word(token& t) {
    std::size_t i = pos_;
    while (i < text_.size()) {
      decoded d = decode_utf8(text_, i);
      if (!java_identifier_part_char(d.cp)) break;
      i += d.length;
    }
    t.length = i - pos_;
    std::string_view w = text_.substr(pos_, t.length);
    pos_ = i;
    t.kind = tok::identifier;
    for (const auto& k : keywords) {
      if (iequals(w, k.text)) {
        t.kind = tok::keyword;
        t.word = k.word;
      }
    }
  }

  // Java's integer (JLS 3.10.1) and floating-point (JLS 3.10.2) literals. The token is the
  // longest run of letters, digits, '_', '.' and an exponent's sign; the run is then checked
  // against the grammar, so "12abc" is one invalid literal rather than 12 and abc.
  void numeric_literal(token& t) {
    std::size_t i = pos_;
    bool hex = text_[i] == '0' && (peek(1) == 'x' || peek(1) == 'X');
    while (i < text_.size()) {
      char c = text_[i];
      bool exponent_sign = (c == '+' || c == '-') && i > pos_ &&
                           (hex ? (text_[i - 1] == 'p' || text_[i - 1] == 'P')
                                : (text_[i - 1] == 'e' || text_[i - 1] == 'E'));
      if (ascii_letter(static_cast<unsigned char>(c)) ||
          ascii_digit(static_cast<unsigned char>(c)) || c == '.' || exponent_sign) {
        ++i;
        continue;
      }
      if (static_cast<unsigned char>(c) >= 0x80 &&
          java_identifier_part_char(decode_utf8(text_, i).cp)) {
        i += decode_utf8(text_, i).length;
        continue;
      }
      break;
    }
    t.length = i - pos_;
    std::string_view lit = text_.substr(pos_, t.length);
    pos_ = i;
    classify_number(t, lit);
  }

  [[noreturn]] static void invalid(const token& t, std::string_view lit, std::string why = {}) {
    fail(t.offset, "invalid numeric literal '" + excerpt(lit) + "'", why);
  }

  static bool digit_of(char c, int base) {
    if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
    return c >= '0' && c < static_cast<char>('0' + base);
  }

  // JLS "Digits": digits of `base` with '_' only between digits.
  static bool digit_group(std::string_view g, int base) {
    if (g.empty() || !digit_of(g.front(), base) || !digit_of(g.back(), base)) return false;
    for (char c : g) {
      if (c != '_' && !digit_of(c, base)) return false;
    }
    return true;
  }

  static std::string without_underscores(std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c != '_') out.push_back(c);
    }
    return out;
  }

  static void classify_number(token& t, std::string_view lit) {
    bool hex = lit.size() >= 2 && lit[0] == '0' && (lit[1] == 'x' || lit[1] == 'X');
    bool binary = lit.size() >= 2 && lit[0] == '0' && (lit[1] == 'b' || lit[1] == 'B');
    bool floating;
    if (hex) {
      floating = lit.find_first_of(".pP") != std::string_view::npos;
    } else {
      floating = lit.find_first_of(".eE") != std::string_view::npos ||
                 (!binary && std::strchr("fFdD", lit.back()) != nullptr);
    }
    if (floating) return floating_literal(t, lit, hex);

    std::string_view digits = lit;
    if (digits.back() == 'l' || digits.back() == 'L') digits.remove_suffix(1);
    int base = 10;
    if (hex || binary) {
      base = hex ? 16 : 2;
      digits.remove_prefix(2);
    } else if (digits.size() > 1 && digits[0] == '0') {
      base = 8;  // JLS OctalNumeral: 0 then octal digits, '_' allowed right after the 0
      digits.remove_prefix(1);
      while (!digits.empty() && digits.front() == '_') digits.remove_prefix(1);
      for (char c : digits) {
        if (c == '8' || c == '9') {
          invalid(t, lit, std::string(": '") + c + "' is not an octal digit");
        }
      }
    }
    if (!digit_group(digits, base)) invalid(t, lit);

    std::uint64_t value = 0;
    bool too_big = false;
    for (char c : digits) {
      if (c == '_') continue;
      unsigned d =
          std::isdigit(static_cast<unsigned char>(c))
              ? static_cast<unsigned>(c - '0')
              : static_cast<unsigned>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
      if (value > (std::numeric_limits<std::uint64_t>::max() - d) / static_cast<unsigned>(base)) {
        too_big = true;
        break;
      }
      value = value * static_cast<unsigned>(base) + d;
    }
    // Decimal literals are the magnitude of a long (2^63 only after a minus); hex, octal and
    // binary ones are its 64 bits (0xFFFFFFFFFFFFFFFF is -1), as in Java.
    constexpr std::uint64_t min_magnitude = std::uint64_t{1} << 63;
    if (too_big || (base == 10 && value > min_magnitude)) {
      fail(t.offset, "numeric literal '" + excerpt(lit) + "' is out of the range of long");
    }
    t.kind = tok::exact;
    t.exact = value;
    t.min_magnitude = base == 10 && value == min_magnitude;
  }

  static void floating_literal(token& t, std::string_view lit, bool hex) {
    std::string_view body = lit;
    bool single = false;
    if (std::strchr("fFdD", body.back()) != nullptr &&
        !(hex && body.find_first_of("pP") == std::string_view::npos)) {
      single = body.back() == 'f' || body.back() == 'F';
      body.remove_suffix(1);
    }
    if (hex) body.remove_prefix(2);
    std::size_t exp_at = body.find_first_of(hex ? "pP" : "eE");
    std::string_view mantissa = body.substr(0, exp_at);
    if (exp_at != std::string_view::npos) {
      std::string_view exponent = body.substr(exp_at + 1);
      if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) {
        exponent.remove_prefix(1);
      }
      if (!digit_group(exponent, 10)) invalid(t, lit);
    } else if (hex) {
      invalid(t, lit, ": a hexadecimal floating-point literal needs a 'p' exponent");
    }
    int base = hex ? 16 : 10;
    std::size_t dot = mantissa.find('.');
    if (dot == std::string_view::npos) {
      if (!digit_group(mantissa, base)) invalid(t, lit);
    } else {
      std::string_view whole = mantissa.substr(0, dot), fraction = mantissa.substr(dot + 1);
      if (whole.empty() && fraction.empty()) invalid(t, lit);
      if (!whole.empty() && !digit_group(whole, base)) invalid(t, lit);
      if (!fraction.empty() && !digit_group(fraction, base)) invalid(t, lit);
    }

    std::string clean = without_underscores(body);
    auto format = hex ? std::chars_format::hex : std::chars_format::general;
    const char* first = clean.data();
    const char* last = clean.data() + clean.size();
    std::from_chars_result r;
    double value = 0;
    if (single) {
      float f = 0;
      r = std::from_chars(first, last, f, format);
      value = f;
    } else {
      r = std::from_chars(first, last, value, format);
    }
    // Java refuses a literal that rounds to infinity or a non-zero one that rounds to zero;
    // from_chars reports both as out of range.
    if (r.ec == std::errc::result_out_of_range) {
      fail(t.offset, "numeric literal '" + excerpt(lit) + "' is out of the range of " +
                         (single ? "float" : "double"));
    }
    if (r.ec != std::errc() || r.ptr != last) invalid(t, lit);
    t.kind = tok::approximate;
    t.approximate = value;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// ---- the program ------------------------------------------------------------------------------

enum class op : std::uint8_t {
  push_const,    // arg: constant
  load,          // arg: identifier; asks the lookup
  as_condition,  // a bare identifier as a condition: boolean stays, NULL stays, else FALSE
  not_,
  and_skip,  // arg: target; top FALSE: jump there (it is the AND's result)
  or_skip,   // arg: target; top TRUE: jump there
  and_,
  or_,
  eq,
  ne,
  lt,
  gt,
  le,
  ge,
  neg,
  pos,  // unary minus / plus (plus only checks the type)
  add,
  sub,
  mul,
  div,
  between,
  not_between,
  in,
  not_in,  // arg: IN list
  like,
  not_like,  // arg: LIKE pattern
  is_null,
  is_not_null,
};

struct instr {
  op code;
  std::uint32_t arg;
};

enum class vk : std::uint8_t { null, string, exact, approximate, boolean, invalid };

// One evaluation stack slot (trivial, so an array of them costs nothing to set up). `invalid`
// is the result of arithmetic on a string or boolean: any comparison with it is FALSE.
struct slot {
  union {
    std::int64_t i;
    double d;
    bool b;
    const char* p;
  } u;
  std::size_t n;  // string length
  vk kind;
};

struct str_ref {
  std::uint32_t offset;
  std::uint32_t length;
};

struct like_item {
  enum kind_t : std::uint8_t { run, any_one, any_sequence } kind;
  str_ref text;           // compile time: in the arena
  std::string_view view;  // after finalize
};

struct range {
  std::uint32_t first;
  std::uint32_t count;
};

}  // namespace

struct program {
  std::string text;
  std::string arena;  // identifier names and string literal contents
  std::vector<instr> code;
  std::size_t max_stack = 0;

  // Compile time, offsets into the arena.
  std::vector<str_ref> constant_text;  // per constant; a string constant's content
  std::vector<str_ref> name_refs;
  std::vector<str_ref> in_item_refs;

  // After finalize: views into the arena (which no longer changes).
  std::vector<slot> constants;
  std::vector<std::string_view> names;
  std::vector<std::string_view> in_items;  // each list sorted, duplicates removed
  std::vector<range> in_lists;
  std::vector<like_item> like_items;
  std::vector<range> likes;

  std::string_view view(str_ref r) const {
    return std::string_view(arena).substr(r.offset, r.length);
  }
};

namespace {

// ---- LIKE -------------------------------------------------------------------------------------

// The items [first, last) (runs and '_', no '%') match v at `at`; `end` is where they stop.
bool match_segment(const like_item* first, const like_item* last, std::string_view v,
                   std::size_t at, std::size_t& end) {
  for (const like_item* it = first; it != last; ++it) {
    if (it->kind == like_item::run) {
      if (v.size() - at < it->view.size() ||
          std::memcmp(v.data() + at, it->view.data(), it->view.size()) != 0) {
        return false;
      }
      at += it->view.size();
    } else {
      if (at >= v.size()) return false;
      at += char_length(v, at);
    }
  }
  end = at;
  return true;
}

// The leftmost match of a segment at or after `from`; `end` is where it stops. Leftmost is
// optimal: a segment has a fixed length in characters, so any later match ends later.
bool find_segment(const like_item* first, const like_item* last, std::string_view v,
                  std::size_t from, std::size_t& end) {
  std::size_t at = from;
  while (at <= v.size()) {
    if (first->kind == like_item::run) {
      at = v.find(first->view, at);
      if (at == std::string_view::npos) return false;
    }
    if (match_segment(first, last, v, at, end)) return true;
    if (at == v.size()) return false;
    at += char_length(v, at);
  }
  return false;
}

// Whole-value match of a pattern whose runs of '%' are collapsed into one item.
bool like_match(const like_item* first, const like_item* last, std::string_view v) {
  auto is_any_sequence = [](const like_item& i) { return i.kind == like_item::any_sequence; };
  const like_item* star = std::find_if(first, last, is_any_sequence);
  std::size_t at = 0;
  if (!match_segment(first, star, v, 0, at)) return false;
  if (star == last) return at == v.size();
  // Middle segments, each leftmost.
  const like_item* seg = star + 1;
  for (;;) {
    const like_item* next = std::find_if(seg, last, is_any_sequence);
    if (next == last) break;
    if (!find_segment(seg, next, v, at, at)) return false;
    seg = next + 1;
  }
  if (seg == last) return true;  // the pattern ends with '%'
  // The last segment ends at the value's end: it starts its length in characters before it.
  std::size_t need = 0;
  for (const like_item* it = seg; it != last; ++it) {
    if (it->kind == like_item::any_one) {
      ++need;
    } else {
      for (std::size_t k = 0; k < it->view.size(); k += char_length(it->view, k)) ++need;
    }
  }
  std::size_t have = 0;
  for (std::size_t k = at; k < v.size(); k += char_length(v, k)) ++have;
  if (have < need) return false;
  for (std::size_t skip = have - need; skip > 0; --skip) at += char_length(v, at);
  std::size_t end = 0;
  return match_segment(seg, last, v, at, end) && end == v.size();
}

// ---- evaluation -------------------------------------------------------------------------------

enum class cmp { eq, ne, lt, gt, le, ge };

bool numeric(const slot& s) {
  return s.kind == vk::exact || s.kind == vk::approximate;
}

template <class T>
bool ordered(T a, T b, cmp c) {
  switch (c) {
    case cmp::eq:
      return a == b;
    case cmp::ne:
      return a != b;
    case cmp::lt:
      return a < b;
    case cmp::gt:
      return a > b;
    case cmp::le:
      return a <= b;
    case cmp::ge:
      return a >= b;
  }
  return false;
}

tri as_tri(bool b) {
  return b ? tri::true_ : tri::false_;
}

tri compare(const slot& a, const slot& b, cmp c) {
  if (a.kind == vk::null || b.kind == vk::null) return tri::unknown;
  if (numeric(a) && numeric(b)) {
    if (a.kind == vk::exact && b.kind == vk::exact) return as_tri(ordered(a.u.i, b.u.i, c));
    double x = a.kind == vk::exact ? static_cast<double>(a.u.i) : a.u.d;
    double y = b.kind == vk::exact ? static_cast<double>(b.u.i) : b.u.d;
    return as_tri(ordered(x, y, c));
  }
  if (c != cmp::eq && c != cmp::ne) return tri::false_;  // strings and booleans: = and <> only
  bool equal;
  if (a.kind == vk::string && b.kind == vk::string) {
    equal = a.n == b.n && std::memcmp(a.u.p, b.u.p, a.n) == 0;
  } else if (a.kind == vk::boolean && b.kind == vk::boolean) {
    equal = a.u.b == b.u.b;
  } else {
    return tri::false_;  // different types (or arithmetic on a non-number)
  }
  return as_tri(c == cmp::eq ? equal : !equal);
}

// The evaluation writes results into the stack's slots field by field: building a slot aside
// and copying it makes the CPU reload bytes it has just stored in pieces (a store-forwarding
// stall that cost half of an evaluation).
void set_tri(slot& s, tri t) {
  if (t == tri::unknown) {
    s.kind = vk::null;
  } else {
    s.kind = vk::boolean;
    s.u.b = t == tri::true_;
  }
}

tri to_tri(const slot& s) {
  if (s.kind == vk::boolean) return s.u.b ? tri::true_ : tri::false_;
  return tri::unknown;  // a condition's slot is a boolean or NULL
}

void set_property(slot& s, const property_value& v) {
  switch (v.type()) {
    case property_value::kind::null:
      s.kind = vk::null;
      break;
    case property_value::kind::string:
      s.kind = vk::string;
      s.u.p = v.as_string().data();
      s.n = v.as_string().size();
      break;
    case property_value::kind::exact:
      s.kind = vk::exact;
      s.u.i = v.as_exact();
      break;
    case property_value::kind::approximate:
      s.kind = vk::approximate;
      s.u.d = v.as_approximate();
      break;
    case property_value::kind::boolean:
      s.kind = vk::boolean;
      s.u.b = v.as_boolean();
      break;
  }
}

std::int64_t wrap(std::uint64_t u) {
  return static_cast<std::int64_t>(u);
}

// a = a <o> b
void arithmetic(slot& a, const slot& b, op o) {
  if (a.kind == vk::null || b.kind == vk::null) {
    a.kind = vk::null;
    return;
  }
  if (!numeric(a) || !numeric(b)) {
    a.kind = vk::invalid;
    return;
  }
  if (a.kind == vk::exact && b.kind == vk::exact) {
    // Java's long arithmetic: two's complement wrap-around.
    auto x = static_cast<std::uint64_t>(a.u.i), y = static_cast<std::uint64_t>(b.u.i);
    switch (o) {
      case op::add:
        a.u.i = wrap(x + y);
        break;
      case op::sub:
        a.u.i = wrap(x - y);
        break;
      case op::mul:
        a.u.i = wrap(x * y);
        break;
      default:
        if (b.u.i == 0) {
          a.kind = vk::null;  // Java throws ArithmeticException; a selector gets NULL
        } else if (b.u.i == -1) {
          a.u.i = wrap(0 - x);  // Long.MIN_VALUE / -1 is Long.MIN_VALUE
        } else {
          a.u.i = a.u.i / b.u.i;
        }
        break;
    }
    return;
  }
  double x = a.kind == vk::exact ? static_cast<double>(a.u.i) : a.u.d;
  double y = b.kind == vk::exact ? static_cast<double>(b.u.i) : b.u.d;
  a.kind = vk::approximate;
  switch (o) {
    case op::add:
      a.u.d = x + y;
      break;
    case op::sub:
      a.u.d = x - y;
      break;
    case op::mul:
      a.u.d = x * y;
      break;
    default:
      a.u.d = x / y;
      break;
  }
}

template <std::size_t slots>
tri run(const program& p, property_lookup lookup) {
  slot stack[slots];
  std::size_t sp = 0;
  const instr* code = p.code.data();
  const std::size_t size = p.code.size();
  for (std::size_t pc = 0; pc < size; ++pc) {
    const instr& in = code[pc];
    switch (in.code) {
      case op::push_const:
        stack[sp++] = p.constants[in.arg];
        break;
      case op::load:
        set_property(stack[sp++], lookup(p.names[in.arg]));
        break;
      case op::as_condition: {
        slot& s = stack[sp - 1];
        if (s.kind != vk::boolean && s.kind != vk::null) set_tri(s, tri::false_);
        break;
      }
      case op::not_:
        set_tri(stack[sp - 1], tri_not(to_tri(stack[sp - 1])));
        break;
      case op::and_skip:
        if (stack[sp - 1].kind == vk::boolean && !stack[sp - 1].u.b) pc = in.arg - 1;
        break;
      case op::or_skip:
        if (stack[sp - 1].kind == vk::boolean && stack[sp - 1].u.b) pc = in.arg - 1;
        break;
      case op::and_:
        --sp;
        set_tri(stack[sp - 1], tri_and(to_tri(stack[sp - 1]), to_tri(stack[sp])));
        break;
      case op::or_:
        --sp;
        set_tri(stack[sp - 1], tri_or(to_tri(stack[sp - 1]), to_tri(stack[sp])));
        break;
      case op::eq:
      case op::ne:
      case op::lt:
      case op::gt:
      case op::le:
      case op::ge: {
        --sp;
        auto c = static_cast<cmp>(static_cast<int>(in.code) - static_cast<int>(op::eq));
        set_tri(stack[sp - 1], compare(stack[sp - 1], stack[sp], c));
        break;
      }
      case op::neg:
      case op::pos: {
        slot& s = stack[sp - 1];
        if (s.kind == vk::null) break;
        if (!numeric(s)) {
          s.kind = vk::invalid;
        } else if (in.code == op::neg) {
          if (s.kind == vk::exact) {
            s.u.i = wrap(0 - static_cast<std::uint64_t>(s.u.i));
          } else {
            s.u.d = -s.u.d;
          }
        }
        break;
      }
      case op::add:
      case op::sub:
      case op::mul:
      case op::div:
        --sp;
        arithmetic(stack[sp - 1], stack[sp], in.code);
        break;
      case op::between:
      case op::not_between: {
        sp -= 2;
        const slot &a = stack[sp - 1], &low = stack[sp], &high = stack[sp + 1];
        tri t = in.code == op::between
                    ? tri_and(compare(a, low, cmp::ge), compare(a, high, cmp::le))
                    : tri_or(compare(a, low, cmp::lt), compare(a, high, cmp::gt));
        set_tri(stack[sp - 1], t);
        break;
      }
      case op::in:
      case op::not_in: {
        slot& s = stack[sp - 1];
        if (s.kind == vk::null) break;
        bool found = false;
        if (s.kind == vk::string) {
          range l = p.in_lists[in.arg];
          auto first = p.in_items.begin() + l.first, last = first + l.count;
          std::string_view v(s.u.p, s.n);
          auto it = std::lower_bound(first, last, v);
          found = it != last && *it == v;
        }
        set_tri(s, as_tri(in.code == op::in ? found : !found));
        break;
      }
      case op::like:
      case op::not_like: {
        slot& s = stack[sp - 1];
        if (s.kind == vk::null) break;
        bool matched = false;
        if (s.kind == vk::string) {
          range l = p.likes[in.arg];
          const like_item* first = p.like_items.data() + l.first;
          matched = like_match(first, first + l.count, std::string_view(s.u.p, s.n));
        }
        set_tri(s, as_tri(in.code == op::like ? matched : !matched));
        break;
      }
      case op::is_null:
      case op::is_not_null: {
        slot& s = stack[sp - 1];
        bool null = s.kind == vk::null;
        set_tri(s, as_tri(in.code == op::is_null ? null : !null));
        break;
      }
    }
  }
  return to_tri(stack[0]);
}

}  // namespace

// ---- the compiler -----------------------------------------------------------------------------

namespace {

// Static shape of a parsed operand: what it may be used for.
enum class shape : std::uint8_t { condition, boolean, identifier, number, string };

std::string describe(shape s) {
  switch (s) {
    case shape::condition:
      return "a condition";
    case shape::boolean:
      return "a boolean literal";
    case shape::identifier:
      return "an identifier";
    case shape::number:
      return "a numeric expression";
    case shape::string:
      return "a string literal";
  }
  return "";
}

struct operand {
  shape kind;
  std::size_t offset;
};

}  // namespace

// The parse functions that recurse (one round per parenthesis) keep small frames: whatever
// builds a message or a list is in a function of its own, so a selector nested max_nesting
// deep needs well under 1 MiB of stack.
class compiler {
 public:
  compiler(std::string_view text, program& p) : text_(text), lexer_(text), p_(p) {}

  void compile() {
    advance();
    operand r = parse_or();
    if (cur_.kind != tok::end) {
      fail_expected(r.kind == shape::condition ? "expected AND, OR or end of text"
                                               : "expected an operator or end of text");
    }
    need_condition(r, "a selector");
    if (p_.max_stack > max_eval_slots) {
      fail(0,
           "the selector needs more than " + std::to_string(max_eval_slots) + " evaluation slots");
    }
    finalize();
  }

  static selector make(std::shared_ptr<const program> p) {
    selector s;
    s.program_ = std::move(p);
    return s;
  }

 private:
  // ---- tokens ----
  [[gnu::noinline]] void advance() { lexer_.next(cur_); }
  bool at_keyword(kw w) const { return cur_.kind == tok::keyword && cur_.word == w; }

  std::string found() const {
    std::string_view raw = text_.substr(cur_.offset, cur_.length);
    switch (cur_.kind) {
      case tok::end:
        return "end of text";
      case tok::identifier:
        return "identifier '" + excerpt(raw) + "'";
      case tok::keyword:
        return "reserved word '" + std::string(raw) + "'";
      case tok::string:
        return "string literal " + excerpt(raw);
      case tok::exact:
      case tok::approximate:
        return "numeric literal '" + excerpt(raw) + "'";
      default:
        return "'" + std::string(raw) + "'";
    }
  }

  // "<what> at <position>, found <the current token><note>"
  [[noreturn, gnu::noinline, gnu::cold]] void fail_expected(const char* what,
                                                            const char* note = "") const {
    fail(cur_.offset, what, ", found " + found() + note);
  }

  void expect(tok kind, const char* what) {
    if (cur_.kind != kind) fail_expected(what);
    advance();
  }

  void enter(std::size_t offset) {
    if (++depth_ > max_nesting) fail_nesting(offset);
  }

  [[noreturn, gnu::noinline, gnu::cold]] static void fail_nesting(std::size_t offset) {
    fail(offset, "nesting deeper than " + std::to_string(max_nesting) +
                     " levels (parentheses, NOT and unary signs)");
  }

  // ---- code ----
  std::size_t emit(op code, std::uint32_t arg = 0) {
    p_.code.push_back({code, arg});
    switch (code) {
      case op::push_const:
      case op::load:
        ++stack_;
        break;
      case op::and_:
      case op::or_:
      case op::eq:
      case op::ne:
      case op::lt:
      case op::gt:
      case op::le:
      case op::ge:
      case op::add:
      case op::sub:
      case op::mul:
      case op::div:
        --stack_;
        break;
      case op::between:
      case op::not_between:
        stack_ -= 2;
        break;
      default:
        break;
    }
    p_.max_stack = std::max(p_.max_stack, stack_);
    return p_.code.size() - 1;
  }

  void patch(std::size_t at) { p_.code[at].arg = static_cast<std::uint32_t>(p_.code.size()); }

  str_ref intern(std::string_view s) {
    str_ref r{static_cast<std::uint32_t>(p_.arena.size()), static_cast<std::uint32_t>(s.size())};
    p_.arena.append(s);
    return r;
  }

  void push_constant(slot s) {
    p_.constants.push_back(s);
    p_.constant_text.push_back({0, 0});
    emit(op::push_const, static_cast<std::uint32_t>(p_.constants.size() - 1));
  }

  [[gnu::noinline]] void push_string(std::string_view s) {
    slot c{};
    c.kind = vk::string;
    p_.constants.push_back(c);
    p_.constant_text.push_back(intern(s));
    emit(op::push_const, static_cast<std::uint32_t>(p_.constants.size() - 1));
  }

  // ---- shape checks ----
  void need_condition(const operand& o, const char* what) {
    if (o.kind == shape::identifier) {
      emit(op::as_condition);
    } else if (o.kind != shape::condition && o.kind != shape::boolean) {
      fail_shape(o, what, " needs a condition", true);
    }
  }

  static void need_number(const operand& o, const char* what) {
    if (o.kind != shape::number && o.kind != shape::identifier) {
      fail_shape(o, what, " cannot take ", false);
    }
  }

  static void need_identifier(const operand& o, const char* what) {
    if (o.kind != shape::identifier) fail_shape(o, what, " needs an identifier on its left", true);
  }

  static void check_comparable(const operand& o, op code) {
    bool equality = code == op::eq || code == op::ne;
    bool ok = o.kind == shape::number || o.kind == shape::identifier ||
              (equality && (o.kind == shape::string || o.kind == shape::boolean));
    if (ok) return;
    static constexpr const char* names[] = {"'='", "'<>'", "'<'", "'>'", "'<='", "'>='"};
    fail_shape(o, names[static_cast<int>(code) - static_cast<int>(op::eq)], " cannot compare ",
               false);
  }

  // "<what><verb> at <position>, found <shape>" or "<what><verb><shape> at <position>"
  [[noreturn, gnu::noinline, gnu::cold]] static void fail_shape(const operand& o, const char* what,
                                                                const char* verb,
                                                                bool shape_after) {
    if (shape_after) fail(o.offset, std::string(what) + verb, ", found " + describe(o.kind));
    fail(o.offset, std::string(what) + verb + describe(o.kind));
  }

  // ---- grammar ----
  operand parse_or() { return parse_logical(kw::or_, op::or_skip, op::or_, "OR", &compiler::parse_and); }
  operand parse_and() { return parse_logical(kw::and_, op::and_skip, op::and_, "AND", &compiler::parse_not); }

  // One level of OR or AND: operands from `next`, joined left to right, each right operand
  // skipped at run time when the left one already decides (the `skip` jump).
  operand parse_logical(kw word, op skip_op, op join_op, const char* name, operand (compiler::*next)()) {
    operand left = (this->*next)();
    while (at_keyword(word)) {
      need_condition(left, name);
      std::size_t skip = emit(skip_op);
      advance();
      operand right = (this->*next)();
      need_condition(right, name);
      emit(join_op);
      patch(skip);
      left.kind = shape::condition;
    }
    return left;
  }

  operand parse_not() {
    std::size_t nots = 0, offset = cur_.offset;
    while (at_keyword(kw::not_)) {
      enter(cur_.offset);
      ++nots;
      advance();
    }
    operand o = parse_comparison();
    if (nots == 0) return o;
    need_condition(o, "NOT");
    for (std::size_t i = 0; i < nots; ++i) emit(op::not_);
    depth_ -= nots;
    return {shape::condition, offset};
  }

  operand parse_comparison() {
    operand left = parse_additive();
    op code;
    switch (cur_.kind) {
      case tok::eq:
        code = op::eq;
        break;
      case tok::ne:
        code = op::ne;
        break;
      case tok::lt:
        code = op::lt;
        break;
      case tok::gt:
        code = op::gt;
        break;
      case tok::le:
        code = op::le;
        break;
      case tok::ge:
        code = op::ge;
        break;
      case tok::keyword:
        return parse_keyword_comparison(left);
      default:
        return left;
    }
    check_comparable(left, code);
    advance();
    operand right = parse_additive();
    check_comparable(right, code);
    emit(code);
    return {shape::condition, left.offset};
  }

  operand parse_keyword_comparison(const operand& left) {
    bool negated = false;
    if (at_keyword(kw::not_)) {
      advance();
      negated = true;
      if (!at_keyword(kw::between) && !at_keyword(kw::in) && !at_keyword(kw::like)) {
        fail_expected("expected BETWEEN, IN or LIKE after NOT");
      }
    }
    switch (cur_.word) {
      case kw::between: {
        need_number(left, "BETWEEN");
        advance();
        operand low = parse_additive();
        need_number(low, "BETWEEN");
        if (!at_keyword(kw::and_)) fail_expected("expected AND of BETWEEN");
        advance();
        operand high = parse_additive();
        need_number(high, "BETWEEN");
        emit(negated ? op::not_between : op::between);
        return {shape::condition, left.offset};
      }
      case kw::in:
        need_identifier(left, "IN");
        parse_in_list(negated);
        return {shape::condition, left.offset};
      case kw::like:
        need_identifier(left, "LIKE");
        parse_like(negated);
        return {shape::condition, left.offset};
      case kw::is:
        need_identifier(left, "IS NULL");
        parse_is_null();
        return {shape::condition, left.offset};
      default:
        return left;
    }
  }

  // IN ( 'a', 'b', ... ): kept sorted, without duplicates, for a binary search.
  [[gnu::noinline]] void parse_in_list(bool negated) {
    advance();
    expect(tok::lparen, "expected '(' after IN");
    std::vector<std::string> items;
    for (;;) {
      if (cur_.kind != tok::string) {
        fail_expected("expected a string literal", " (IN lists hold string literals only)");
      }
      items.push_back(std::move(cur_.text));
      advance();
      if (cur_.kind == tok::rparen) break;
      expect(tok::comma, "expected ',' or ')' in the IN list");
    }
    advance();
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    range l{static_cast<std::uint32_t>(p_.in_item_refs.size()),
            static_cast<std::uint32_t>(items.size())};
    for (const auto& item : items) p_.in_item_refs.push_back(intern(item));
    p_.in_lists.push_back(l);
    emit(negated ? op::not_in : op::in, static_cast<std::uint32_t>(p_.in_lists.size() - 1));
  }

  [[gnu::noinline]] void parse_like(bool negated) {
    advance();
    if (cur_.kind != tok::string) fail_expected("expected a string literal as the LIKE pattern");
    token pattern = std::move(cur_);
    advance();
    bool escaped = false;
    char32_t escape = 0;
    if (at_keyword(kw::escape)) {
      advance();
      if (cur_.kind != tok::string) fail_expected("expected a string literal after ESCAPE");
      decoded d{0, 0};
      if (!cur_.text.empty()) d = decode_utf8(cur_.text, 0);
      if (cur_.text.empty() || d.length != cur_.text.size()) {
        fail_expected("the ESCAPE string must be exactly one character");
      }
      escaped = true;
      escape = d.cp;
      advance();
    }
    compile_like(pattern, escaped, escape);
    emit(negated ? op::not_like : op::like, static_cast<std::uint32_t>(p_.likes.size() - 1));
  }

  [[gnu::noinline]] void parse_is_null() {
    advance();
    bool is_not = false;
    if (at_keyword(kw::not_)) {
      is_not = true;
      advance();
    }
    if (!at_keyword(kw::null)) {
      fail_expected(is_not ? "expected NULL after IS NOT" : "expected NULL or NOT NULL after IS");
    }
    advance();
    emit(is_not ? op::is_not_null : op::is_null);
  }

  // A pattern as items: runs of literal characters, '_' and '%' (consecutive '%' are one).
  void compile_like(const token& pattern, bool escaped, char32_t escape) {
    const std::string& s = pattern.text;
    range l{static_cast<std::uint32_t>(p_.like_items.size()), 0};
    std::string run;
    auto flush = [&] {
      if (!run.empty()) {
        p_.like_items.push_back({like_item::run, intern(run), {}});
        run.clear();
      }
    };
    for (std::size_t i = 0; i < s.size();) {
      decoded d = decode_utf8(s, i);
      if (escaped && d.cp == escape) {
        std::size_t next = i + d.length;
        decoded e = next < s.size() ? decode_utf8(s, next) : decoded{0, 0};
        if (next >= s.size() || (e.cp != '_' && e.cp != '%' && e.cp != escape)) {
          std::string esc(s.substr(i, d.length));
          fail(pattern.offset, "invalid escape in the LIKE pattern: '" + esc +
                                   "' must be followed by '_', '%' or '" + esc + "'");
        }
        run.append(s, next, e.length);
        i = next + e.length;
        continue;
      }
      if (d.cp == '_' || d.cp == '%') {
        flush();
        auto kind = d.cp == '_' ? like_item::any_one : like_item::any_sequence;
        if (kind == like_item::any_one || p_.like_items.size() == l.first ||
            p_.like_items.back().kind != like_item::any_sequence) {
          p_.like_items.push_back({kind, {0, 0}, {}});
        }
      } else {
        run.append(s, i, d.length);
      }
      i += d.length;
    }
    flush();
    l.count = static_cast<std::uint32_t>(p_.like_items.size() - l.first);
    p_.likes.push_back(l);
  }

  operand parse_additive() {
    return parse_arithmetic(tok::plus, op::add, "'+'", tok::minus, op::sub, "'-'",
                            &compiler::parse_multiplicative);
  }
  operand parse_multiplicative() {
    return parse_arithmetic(tok::star, op::mul, "'*'", tok::slash, op::div, "'/'",
                            &compiler::parse_unary);
  }

  // One level of binary arithmetic with two operators of the same precedence (+ -, or * /):
  // number operands from `next`, left-associative.
  operand parse_arithmetic(tok t1, op op1, const char* name1, tok t2, op op2, const char* name2,
                           operand (compiler::*next)()) {
    operand left = (this->*next)();
    while (cur_.kind == t1 || cur_.kind == t2) {
      bool first = cur_.kind == t1;
      const char* name = first ? name1 : name2;
      need_number(left, name);
      advance();
      operand right = (this->*next)();
      need_number(right, name);
      emit(first ? op1 : op2);
      left.kind = shape::number;
    }
    return left;
  }

  operand parse_unary() {
    std::size_t signs = 0, minuses = 0, offset = cur_.offset;
    bool innermost_minus = false;
    while (cur_.kind == tok::plus || cur_.kind == tok::minus) {
      enter(cur_.offset);
      ++signs;
      innermost_minus = cur_.kind == tok::minus;
      if (innermost_minus) ++minuses;
      advance();
    }
    if (signs == 0) return parse_primary();
    bool negate = minuses % 2 == 1;
    if (cur_.kind == tok::exact || cur_.kind == tok::approximate) {
      // A signed literal is one constant; -9223372036854775808 needs its minus right here.
      push_number(negate, innermost_minus);
    } else {
      operand inner = parse_primary();
      need_number(inner, innermost_minus ? "unary '-'" : "unary '+'");
      emit(negate ? op::neg : op::pos);
    }
    depth_ -= signs;
    return {shape::number, offset};
  }

  void push_number(bool negate, bool after_minus) {
    slot c{};
    if (cur_.kind == tok::exact) {
      if (cur_.min_magnitude && !after_minus) fail_out_of_range_long();
      c.kind = vk::exact;
      c.u.i = wrap(negate ? 0 - cur_.exact : cur_.exact);
    } else {
      c.kind = vk::approximate;
      c.u.d = negate ? -cur_.approximate : cur_.approximate;
    }
    push_constant(c);
    advance();
  }

  [[noreturn, gnu::noinline, gnu::cold]] void fail_out_of_range_long() const {
    fail(cur_.offset,
         "numeric literal '" + std::string(text_.substr(cur_.offset, cur_.length)) +
             "' is out of the range of long",
         " (it is allowed only after a unary minus)");
  }

  operand parse_primary() {
    operand o{shape::number, cur_.offset};
    switch (cur_.kind) {
      case tok::lparen: {
        enter(cur_.offset);
        advance();
        operand inner = parse_or();
        if (cur_.kind != tok::rparen) {
          fail_expected(inner.kind == shape::condition ? "expected AND, OR or ')'"
                                                       : "expected an operator or ')'");
        }
        advance();
        --depth_;
        return {inner.kind, o.offset};
      }
      case tok::identifier:
        load_identifier();
        o.kind = shape::identifier;
        return o;
      case tok::string:
        push_string(cur_.text);
        advance();
        o.kind = shape::string;
        return o;
      case tok::exact:
      case tok::approximate:
        push_number(false, false);
        return o;
      case tok::keyword:
        if (cur_.word == kw::true_ || cur_.word == kw::false_) {
          slot c{};
          c.kind = vk::boolean;
          c.u.b = cur_.word == kw::true_;
          push_constant(c);
          advance();
          o.kind = shape::boolean;
          return o;
        }
        if (cur_.word == kw::null) {
          fail(cur_.offset, "NULL is only allowed in IS NULL and IS NOT NULL");
        }
        fail_expected("expected an identifier, a literal or '('",
                      " (reserved words cannot be identifiers)");
      default:
        fail_expected("expected an identifier, a literal or '('");
    }
  }

  [[gnu::noinline]] void load_identifier() {
    std::string_view name = text_.substr(cur_.offset, cur_.length);
    check_name(name);
    std::uint32_t index;
    auto it = name_indexes_.find(name);
    if (it != name_indexes_.end()) {
      index = it->second;
    } else {
      index = static_cast<std::uint32_t>(p_.name_refs.size());
      p_.name_refs.push_back(intern(name));
      name_indexes_.emplace(name, index);
    }
    emit(op::load, index);
    advance();
  }

  // Names starting with JMS belong to JMS: six headers, JMSX properties, JMS_ provider ones.
  void check_name(std::string_view name) const {
    if (name.substr(0, 3) != "JMS") return;
    static constexpr std::string_view headers[] = {"JMSDeliveryMode",  "JMSPriority",
                                                   "JMSMessageID",     "JMSTimestamp",
                                                   "JMSCorrelationID", "JMSType"};
    if (name.substr(0, 4) == "JMSX" || name.substr(0, 4) == "JMS_") return;
    for (auto h : headers) {
      if (name == h) return;
    }
    fail(cur_.offset, "'" + excerpt(name) + "' is not a name a selector may use",
         " (names starting with JMS must be JMSDeliveryMode, JMSPriority, JMSMessageID, "
         "JMSTimestamp, JMSCorrelationID or JMSType, or start with JMSX or JMS_)");
  }

  // The arena is complete: turn offsets into views.
  void finalize() {
    for (std::size_t i = 0; i < p_.constants.size(); ++i) {
      if (p_.constants[i].kind == vk::string) {
        std::string_view v = p_.view(p_.constant_text[i]);
        p_.constants[i].u.p = v.data();
        p_.constants[i].n = v.size();
      }
    }
    for (auto r : p_.name_refs) p_.names.push_back(p_.view(r));
    for (auto r : p_.in_item_refs) p_.in_items.push_back(p_.view(r));
    for (auto& item : p_.like_items) {
      if (item.kind == like_item::run) item.view = p_.view(item.text);
    }
  }

  std::string_view text_;
  lexer lexer_;
  program& p_;
  token cur_;
  std::size_t depth_ = 0;
  std::size_t stack_ = 0;
  // Names seen so far, as views into the text (which outlives the compiler).
  std::unordered_map<std::string_view, std::uint32_t> name_indexes_;
};

namespace {

// "column C" or "line L, column C" of a byte offset (columns in characters; CR LF, LF and CR
// end a line).
void locate(std::string_view text, std::size_t offset, compile_error& e) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < offset && text[i + 1] == '\n') ++i;
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column;
    }
  }
  e.offset = offset;
  e.line = line;
  e.column = column;
}

compile_error make_error(std::string_view text, const failure& f) {
  compile_error e;
  locate(text, f.offset, e);
  std::string where =
      e.line > 1 ? "line " + std::to_string(e.line) + ", column " + std::to_string(e.column)
                 : "column " + std::to_string(e.column);
  e.message = f.before + " at " + where + f.after;
  return e;
}

}  // namespace

const char* to_string(tri t) noexcept {
  switch (t) {
    case tri::true_:
      return "true";
    case tri::false_:
      return "false";
    case tri::unknown:
      return "unknown";
  }
  return "unknown";
}

compile_result compile(std::string_view text, const compile_limits& limits) {
  std::size_t limit = std::min(limits.max_text_bytes, hard_max_text_bytes);
  try {
    if (text.size() > limit) {
      fail(limit, "selector text exceeds the limit of " + std::to_string(limit) + " bytes",
           " (it has " + std::to_string(text.size()) + ")");
    }
    for (std::size_t i = 0; i < text.size();) {
      std::size_t n = decode_utf8(text, i).length;
      if (n == 0) fail(i, "invalid UTF-8");
      i += n;
    }
    if (std::all_of(text.begin(), text.end(), java_whitespace)) return selector{};
    auto p = std::make_shared<program>();
    p->text = std::string(text);
    compiler c(p->text, *p);
    c.compile();
    return compiler::make(std::move(p));
  } catch (const failure& f) {
    return make_error(text, f);
  }
}

tri selector::evaluate(property_lookup lookup) const {
  if (!program_) return tri::true_;
  if (program_->max_stack <= small_eval_slots) return run<small_eval_slots>(*program_, lookup);
  return run<max_eval_slots>(*program_, lookup);
}

std::string_view selector::text() const noexcept {
  return program_ ? std::string_view(program_->text) : std::string_view();
}

std::size_t selector::identifier_count() const noexcept {
  return program_ ? program_->names.size() : 0;
}

std::string_view selector::identifier(std::size_t i) const noexcept {
  return program_ && i < program_->names.size() ? program_->names[i] : std::string_view();
}

std::size_t selector::max_stack_depth() const noexcept {
  return program_ ? program_->max_stack : 0;
}

}  // namespace medflow::flows::resource_events
