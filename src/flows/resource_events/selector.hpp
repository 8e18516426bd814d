// Jakarta Messaging 3.1 message selectors (the SQL-92 subset of jakarta.jms.Message's javadoc)
// for the resource events flow: a subscriber chooses events by their properties (the record
// headers: eventType, resourceProfile, patientReference, ...).
//
//   auto compiled = compile("eventType = 'created' AND patientReference IS NOT NULL");
//   if (!compiled) reject(compiled.err().message);          // "expected ')' at column 14, ..."
//   bool deliver = compiled->matches([&](std::string_view name) {
//     return header_of(record, name);                        // property_value, no allocation
//   });
//
// Compiling checks the syntax (and what can be checked without knowing property types) and
// turns the text into a flat postfix program; evaluating runs that program on a fixed stack,
// reads properties through the caller's lookup and allocates nothing. A compiled selector is
// immutable and cheap to copy (it shares its program), and may be evaluated from any number
// of threads at once. Pure C++17: no I/O, no locale, nothing but the standard library.
//
// The language, and what this implementation decided where the javadoc is silent:
// - Empty or all-whitespace text is "no selector": it matches every message.
// - Whitespace is Java's: space, tab, form feed, LF, CR. SQL comments are not supported.
// - Keywords (AND OR NOT BETWEEN LIKE IN IS NULL TRUE FALSE ESCAPE) are case-insensitive and
//   cannot be identifiers, in any case. Identifiers are case-sensitive; a Java letter ('_', '$',
//   letters, currency symbols, ...) then Java letters or digits. Java's "identifier-ignorable"
//   characters (controls, U+200B, bidi controls) are refused so look-alike names cannot differ.
//   Names starting with "JMS" must be one of the six headers a selector may use
//   (JMSDeliveryMode, JMSPriority, JMSMessageID, JMSTimestamp, JMSCorrelationID, JMSType) or
//   start with "JMSX" or "JMS_"; any other "JMS..." name is refused.
// - Exact numerics use Java's integer literal syntax (JLS 3.10.1), as the javadoc says: decimal,
//   hex 0x1F, octal 017 (a leading 0 means octal, as in Java), binary 0b101, '_' between
//   digits, optional L suffix; all of them are longs. 9223372036854775808 is accepted only
//   right after a unary minus. A literal that does not fit a long is a compile error.
// - Approximate numerics use Java's floating-point literal syntax (JLS 3.10.2): 7E3, -57.9E2,
//   7., .5, 4E-10, hex 0x1.8p1, optional d/D or f/F suffix (f rounds to float precision, as
//   Java does). A literal that overflows to infinity or a non-zero one that rounds to zero is a
//   compile error.
// - A numeric literal may not run into a letter: "1AND" is an error, not "1 AND".
// - Strings are single-quoted, '' is a quote, every other character (backslash, newline)
//   stands for itself. Text and values are UTF-8; a "character" (LIKE's '_', ESCAPE's single
//   character, error columns) is a Unicode code point. Invalid UTF-8 in the text is refused;
//   in a property value each invalid byte counts as one character.
// - Types at run time: NULL, string, exact (long), approximate (double), boolean. Arithmetic
//   and comparison follow Java's numeric promotion (a long meets a double as a double).
//   + - * on longs wrap around as in Java; long / long truncates toward zero and
//   Long.MIN_VALUE / -1 is Long.MIN_VALUE. Division of a long by zero, which throws in Java,
//   yields NULL (so the comparison around it is UNKNOWN and NOT cannot turn it into a match).
//   Double division follows IEEE 754 (x / 0.0 is infinite, 0.0 / 0.0 is NaN; NaN compares
//   false except with <>).
// - NULL in any comparison or arithmetic gives UNKNOWN; AND/OR/NOT use SQL three-valued logic.
// - Comparing values of different types is FALSE (a string "2" is not > 1), never an error.
//   Arithmetic on a string or boolean value makes the comparison around it FALSE.
// - Strings and booleans compare only with = and <>. A string or boolean *literal* beside
//   < > <= >= (or in BETWEEN, or in arithmetic) is a compile error ("'<' cannot compare a
//   string literal"); when only run-time values are strings or booleans (two identifiers),
//   the comparison is FALSE.
// - a BETWEEN b AND c is exactly (a >= b AND a <= c); NOT BETWEEN is (a < b OR a > c).
//   x IN ('A', 'B') is exactly (x = 'A' OR x = 'B'), NOT IN is NOT of that; LIKE on a value
//   that is not a string is FALSE and NOT LIKE is NOT of LIKE. All of them are UNKNOWN on
//   NULL. IN, LIKE and IS [NOT] NULL take an identifier on the left; IN lists hold string
//   literals only.
// - LIKE matches the whole value: '_' one character, '%' any sequence. ESCAPE takes a string
//   literal of exactly one character; in the pattern it must be followed by '_', '%' or itself
//   (SQL-92 8.5: anything else is an invalid escape sequence, a compile error).
// - A bare identifier or TRUE/FALSE is a condition: a boolean property is its value, a missing
//   one UNKNOWN, any other type FALSE (as "flag = TRUE" would be).
// - Comparisons do not chain ("a = b = c" is an error) and a condition cannot be compared.
// - Limits: the text is at most compile_limits::max_text_bytes (64 KiB by default); nesting of
//   parentheses, NOT and unary signs at most max_nesting (256). Both give a clear error;
//   nothing the input controls recurses deeper than that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace medflow::flows::resource_events {

// SQL's three truth values; a message is selected only when its selector is true_.
enum class tri : std::uint8_t { false_, true_, unknown };

// The truth tables of the javadoc ("Null Values").
constexpr tri tri_not(tri a) noexcept {
  return a == tri::unknown ? tri::unknown : a == tri::true_ ? tri::false_ : tri::true_;
}
constexpr tri tri_and(tri a, tri b) noexcept {
  if (a == tri::false_ || b == tri::false_) return tri::false_;
  if (a == tri::unknown || b == tri::unknown) return tri::unknown;
  return tri::true_;
}
constexpr tri tri_or(tri a, tri b) noexcept {
  if (a == tri::true_ || b == tri::true_) return tri::true_;
  if (a == tri::unknown || b == tri::unknown) return tri::unknown;
  return tri::false_;
}
// "true", "false" or "unknown".
const char* to_string(tri t) noexcept;

// A property's value as the selector sees it: a view, valid for the lookup call's evaluation.
// Java's byte/short/int/long are exact, float/double approximate. JMSDeliveryMode should be
// given as the string "PERSISTENT" or "NON_PERSISTENT", dates as millisecond longs.
class property_value {
 public:
  enum class kind : std::uint8_t { null, string, exact, approximate, boolean };

  property_value() noexcept = default;  // NULL: a missing property
  static property_value null() noexcept { return {}; }
  static property_value string(std::string_view s) noexcept {
    property_value v;
    v.kind_ = kind::string;
    v.str_ = s;
    return v;
  }
  static property_value exact(std::int64_t i) noexcept {
    property_value v;
    v.kind_ = kind::exact;
    v.exact_ = i;
    return v;
  }
  static property_value approximate(double d) noexcept {
    property_value v;
    v.kind_ = kind::approximate;
    v.approximate_ = d;
    return v;
  }
  static property_value boolean(bool b) noexcept {
    property_value v;
    v.kind_ = kind::boolean;
    v.exact_ = b ? 1 : 0;
    return v;
  }

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  // Each accessor is meaningful only for its kind.
  std::string_view as_string() const noexcept { return str_; }
  std::int64_t as_exact() const noexcept { return exact_; }
  double as_approximate() const noexcept { return approximate_; }
  bool as_boolean() const noexcept { return exact_ != 0; }

 private:
  kind kind_ = kind::null;
  std::int64_t exact_ = 0;  // also the boolean
  double approximate_ = 0;
  std::string_view str_;
};

// A non-owning reference to the caller's lookup: property_value(std::string_view name). It is
// asked once per reference to a name in the selector and must answer the same for the same
// name within one evaluation. Built from any callable without allocating; the callable must
// outlive the evaluation (pass a lambda straight to evaluate()/matches()).
class property_lookup {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, property_lookup>>>
  property_lookup(const F& f) noexcept  // NOLINT: implicit by design
      : object_(static_cast<const void*>(&f)), call_([](const void* o, std::string_view name) {
          return property_value((*static_cast<const F*>(o))(name));
        }) {}
  property_value operator()(std::string_view name) const { return call_(object_, name); }

 private:
  const void* object_;
  property_value (*call_)(const void*, std::string_view);
};

// Nesting of parentheses, NOT and unary signs a selector may have.
inline constexpr std::size_t max_nesting = 256;

struct compile_limits {
  // Longest selector text accepted; a value above 1 GiB is taken as 1 GiB.
  std::size_t max_text_bytes = 64 * 1024;
};

// Why a text is not a selector, and where: offset is 0-based in bytes, line and column are
// 1-based (column in characters). message is complete and stable, e.g.
// "expected ')' at column 14, found end of text" or "'<' cannot compare a string literal at
// column 5"; it names "line L, column C" when the text has several lines.
struct compile_error {
  std::size_t offset = 0;
  std::size_t line = 1;
  std::size_t column = 1;
  std::string message;
};

struct program;  // the compiled form, defined in selector.cpp

// A compiled selector. Default-constructed (or compiled from empty text) it is "no selector"
// and matches everything.
class selector {
 public:
  selector() = default;

  // TRUE, FALSE or UNKNOWN for the message whose properties `lookup` gives. Allocates nothing.
  tri evaluate(property_lookup lookup) const;
  // The message is selected: evaluate() is TRUE.
  bool matches(property_lookup lookup) const { return evaluate(lookup) == tri::true_; }

  // "No selector" (matches everything).
  bool empty() const noexcept { return program_ == nullptr; }
  // The text it was compiled from.
  std::string_view text() const noexcept;
  // The distinct property names it refers to, in order of first appearance (e.g. to check a
  // subscription against the properties a topic carries).
  std::size_t identifier_count() const noexcept;
  std::string_view identifier(std::size_t i) const noexcept;
  // Slots of the evaluation stack it needs (known at compile time).
  std::size_t max_stack_depth() const noexcept;

 private:
  friend class compiler;
  std::shared_ptr<const program> program_;
};

// Either a selector or the compile error.
class compile_result {
 public:
  compile_result(selector s) : v_(std::move(s)) {}       // NOLINT: implicit by design
  compile_result(compile_error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const selector& value() const& { return std::get<0>(v_); }
  selector&& value() && { return std::get<0>(std::move(v_)); }
  const selector* operator->() const { return &value(); }
  const selector& operator*() const { return value(); }
  const compile_error& err() const { return std::get<1>(v_); }

 private:
  std::variant<selector, compile_error> v_;
};

// Parses and checks a selector; never throws for any input (only std::bad_alloc).
compile_result compile(std::string_view text, const compile_limits& limits = {});

}  // namespace medflow::flows::resource_events
