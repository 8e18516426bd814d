// JMS message selectors (Jakarta Messaging 3.1, jakarta.jms.Message javadoc; the reference is
// /work/shared/reference/zmed_and_ehealth_events.md Part C): every grammar rule, the three-valued
// logic, types, numeric edge cases, errors with their positions, the limits, eHealth-shaped
// selectors, and that evaluation allocates nothing.
#include "flows/resource_events/selector.hpp"

#include <doctest/doctest.h>
#include <pthread.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

// ---- allocation counting --------------------------------------------------------------------
// The global operator new of this test binary counts the allocations of the thread that set
// `counting`; everywhere else it is plain malloc. Every unaligned form is replaced, so that what
// one form allocates another may free (a library allocating with new(nothrow) and deleting with
// sized delete, e.g. simdjson's parser, would otherwise mix the sanitizer's allocator with free).
namespace {
thread_local bool counting = false;
std::atomic<long> counted_allocations{0};
void* allocate(std::size_t n) noexcept {
  if (counting) counted_allocations.fetch_add(1);
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

namespace re = medflow::flows::resource_events;
using re::compile;
using re::property_value;
using re::tri;

constexpr tri T = tri::true_;
constexpr tri F = tri::false_;
constexpr tri U = tri::unknown;

// An owned property value (property_value is a view).
struct value {
  property_value::kind type = property_value::kind::null;
  std::string text;
  std::int64_t exact = 0;
  double approximate = 0;
  bool boolean = false;

  property_value view() const {
    switch (type) {
      case property_value::kind::string:
        return property_value::string(text);
      case property_value::kind::exact:
        return property_value::exact(exact);
      case property_value::kind::approximate:
        return property_value::approximate(approximate);
      case property_value::kind::boolean:
        return property_value::boolean(boolean);
      default:
        return property_value::null();
    }
  }
};
value str(std::string s) {
  value v;
  v.type = property_value::kind::string;
  v.text = std::move(s);
  return v;
}
value lng(std::int64_t i) {
  value v;
  v.type = property_value::kind::exact;
  v.exact = i;
  return v;
}
value dbl(double d) {
  value v;
  v.type = property_value::kind::approximate;
  v.approximate = d;
  return v;
}
value boo(bool b) {
  value v;
  v.type = property_value::kind::boolean;
  v.boolean = b;
  return v;
}

using message = std::map<std::string, value, std::less<>>;

tri run(const re::selector& s, const message& m) {
  return s.evaluate([&](std::string_view name) {
    auto it = m.find(name);
    return it == m.end() ? property_value::null() : it->second.view();
  });
}

// Compiles (it must compile) and evaluates against m.
tri eval(std::string_view text, const message& m = {}) {
  auto r = compile(text);
  INFO("selector: ", std::string(text));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.err().message));
  return run(*r, m);
}

// The compile error of text (it must not compile).
re::compile_error error_of(std::string_view text) {
  auto r = compile(text);
  INFO("selector: ", std::string(text));
  REQUIRE_FALSE(r.ok());
  return r.err();
}

bool compiles(std::string_view text) {
  return compile(text).ok();
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

constexpr std::int64_t long_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t long_min = std::numeric_limits<std::int64_t>::min();

}  // namespace

TEST_SUITE("selector") {
  // ---- three-valued logic
  // -------------------------------------------------------------------------

  TEST_CASE("AND, OR and NOT follow the javadoc's truth tables") {
    // "The boolean operators use three-valued logic as defined by the following tables" (Null
    // Values). Operands: t is a boolean TRUE property, f FALSE, u a missing one (NULL: unknown).
    message m{{"t", boo(true)}, {"f", boo(false)}};
    const char* names[] = {"t", "f", "u"};
    // Rows and columns T, F, U, as printed in the javadoc.
    const tri and_table[3][3] = {{T, F, U}, {F, F, F}, {U, F, U}};
    const tri or_table[3][3] = {{T, T, T}, {T, F, U}, {T, U, U}};
    const tri not_table[3] = {F, T, U};
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) {
        std::string x = names[a], y = names[b];
        CHECK_MESSAGE(eval(x + " AND " + y, m) == and_table[a][b], x, " AND ", y);
        CHECK_MESSAGE(eval(x + " OR " + y, m) == or_table[a][b], x, " OR ", y);
        // The same through comparisons (a missing property compared is unknown).
        std::string cx = x == "u" ? "u = 1" : x + " = TRUE",
                    cy = y == "u" ? "u = 1" : y + " = TRUE";
        CHECK(eval(cx + " AND " + cy, m) == and_table[a][b]);
        CHECK(eval(cx + " OR " + cy, m) == or_table[a][b]);
        CHECK(re::tri_and(eval(x, m), eval(y, m)) == and_table[a][b]);
        CHECK(re::tri_or(eval(x, m), eval(y, m)) == or_table[a][b]);
      }
      CHECK(eval(std::string("NOT ") + names[a], m) == not_table[a]);
      CHECK(re::tri_not(eval(names[a], m)) == not_table[a]);
    }
    CHECK(std::string(re::to_string(T)) == "true");
    CHECK(std::string(re::to_string(F)) == "false");
    CHECK(std::string(re::to_string(U)) == "unknown");
  }

  TEST_CASE("NULL: comparisons and arithmetic are unknown, IS [NOT] NULL is not") {
    message m{{"p", str("x")}, {"n", lng(3)}};
    // "SQL treats a NULL value as unknown. Comparison or arithmetic with an unknown value always
    // yields an unknown value."
    for (const char* s : {"missing = 'x'", "missing <> 'x'", "missing = 1", "missing > 1",
                          "missing < 1", "missing <= 1", "missing >= 1", "1 = missing",
                          "missing + 1 = 2", "n + missing > 0", "-missing = 1", "missing * 0 = 0",
                          "missing / 1 = 1", "missing = TRUE", "missing = missing"}) {
      CHECK_MESSAGE(eval(s, m) == U, s);
    }
    // "If either of the type values evaluates to NULL, the value of the expression is unknown."
    // That holds even when the other side has another type.
    CHECK(eval("missing = 'x' ", m) == U);
    CHECK(eval("p = missing", m) == U);
    // "The IS NULL and IS NOT NULL operators convert an unknown value into the respective TRUE
    // and FALSE values."
    CHECK(eval("missing IS NULL", m) == T);
    CHECK(eval("missing IS NOT NULL", m) == F);
    CHECK(eval("p IS NULL", m) == F);
    CHECK(eval("p IS NOT NULL", m) == T);
    CHECK(eval("n IS NOT NULL", m) == T);
    // "If identifier of an IN or NOT IN operation is NULL, the value of the operation is
    // unknown." and the same for LIKE and NOT LIKE.
    CHECK(eval("missing IN ('x')", m) == U);
    CHECK(eval("missing NOT IN ('x')", m) == U);
    CHECK(eval("missing LIKE 'x%'", m) == U);
    CHECK(eval("missing NOT LIKE 'x%'", m) == U);
    // BETWEEN is its expansion: (a >= b AND a <= c); with a NULL bound one half may decide.
    CHECK(eval("missing BETWEEN 1 AND 5", m) == U);
    CHECK(eval("missing NOT BETWEEN 1 AND 5", m) == U);
    CHECK(eval("n BETWEEN missing AND 5", m) == U);      // U AND T
    CHECK(eval("n BETWEEN missing AND 2", m) == F);      // U AND F
    CHECK(eval("n NOT BETWEEN missing AND 2", m) == T);  // U OR T
    CHECK(eval("n NOT BETWEEN missing AND 5", m) == U);  // U OR F
  }

  TEST_CASE("the consequences of three-valued logic (C.3)") {
    message without_p{{"q", str("y")}};
    message with_x{{"p", str("x")}, {"q", str("z")}};
    message with_y{{"p", str("y")}};
    // "A message is selected only if the selector evaluates to TRUE; FALSE and UNKNOWN both mean
    // no match."
    auto matches = [](std::string_view text, const message& m) {
      auto r = compile(text);
      REQUIRE(r.ok());
      return r->matches([&](std::string_view name) {
        auto it = m.find(name);
        return it == m.end() ? property_value::null() : it->second.view();
      });
    };
    // "p <> 'x' and NOT (p = 'x') do not match a message that lacks p."
    CHECK(eval("p <> 'x'", without_p) == U);
    CHECK_FALSE(matches("p <> 'x'", without_p));
    CHECK(eval("NOT (p = 'x')", without_p) == U);
    CHECK_FALSE(matches("NOT (p = 'x')", without_p));
    CHECK(matches("p <> 'x'", with_y));
    // "Use p IS NULL OR p <> 'x' instead."
    CHECK(matches("p IS NULL OR p <> 'x'", without_p));
    CHECK(matches("p IS NULL OR p <> 'x'", with_y));
    CHECK_FALSE(matches("p IS NULL OR p <> 'x'", with_x));
    // Red Hat's AMQ guide warns about "JMSType <> 'fred'" for the same reason.
    CHECK_FALSE(matches("JMSType <> 'fred'", {}));
    CHECK(matches("JMSType <> 'fred'", {{"JMSType", str("car")}}));
    // "p = 'x' OR q = 'y' matches when p is missing and q is 'y'."
    CHECK(matches("p = 'x' OR q = 'y'", without_p));
    CHECK(eval("p = 'x' OR q = 'y'", {}) == U);
    CHECK(eval("p = 'x' AND q = 'y'", without_p) == U);
    CHECK(eval("p = 'x' AND q = 'y'", with_y) == F);
  }

  // ---- literals
  // -----------------------------------------------------------------------------------

  TEST_CASE("string literals: single quotes, '' is a quote, everything else itself") {
    // "A string literal is enclosed in single quotes, with a single quote represented by doubled
    // single quote; for example, 'literal' and 'literal''s'."
    CHECK(eval("s = 'literal''s'", {{"s", str("literal's")}}) == T);
    CHECK(eval("s = 'literal'", {{"s", str("literal")}}) == T);
    CHECK(eval("s = ''", {{"s", str("")}}) == T);
    CHECK(eval("s = ''''", {{"s", str("'")}}) == T);
    CHECK(eval("s = 'a''''b'", {{"s", str("a''b")}}) == T);
    // No backslash escapes (SQL), no trimming; newlines and UTF-8 are characters like others.
    CHECK(eval(R"(s = 'a\nb')", {{"s", str("a\\nb")}}) == T);
    CHECK(eval("s = ' x '", {{"s", str("x")}}) == F);
    CHECK(eval("s = 'line\nbreak'", {{"s", str("line\nbreak")}}) == T);
    CHECK(eval("s = 'Ærø ✓ 😀'", {{"s", str("Ærø ✓ 😀")}}) == T);
    // "Two strings are equal if and only if they contain the same sequence of characters": no
    // case folding.
    CHECK(eval("s = 'Created'", {{"s", str("created")}}) == F);
    CHECK(eval("'abc' = 'abc'") == T);
    CHECK(eval("'abc' <> 'abd'") == T);
  }

  TEST_CASE("exact numeric literals: Java integer literal syntax, range of long") {
    // "An exact numeric literal is a numeric value without a decimal point, such as 57, -957, and
    // +62; numbers in the range of long are supported."
    CHECK(eval("n = 57", {{"n", lng(57)}}) == T);
    CHECK(eval("n = -957", {{"n", lng(-957)}}) == T);
    CHECK(eval("n = +62", {{"n", lng(62)}}) == T);
    CHECK(eval("n = 0", {{"n", lng(0)}}) == T);
    CHECK(eval("n = 9223372036854775807", {{"n", lng(long_max)}}) == T);
    CHECK(eval("n = -9223372036854775808", {{"n", lng(long_min)}}) == T);
    // "Exact numeric literals use the integer literal syntax of the Java programming language":
    // JLS 3.10.1 has hex, octal (a leading 0), binary, '_' between digits and an L suffix.
    CHECK(eval("0x1F = 31") == T);
    CHECK(eval("0X1f = 31") == T);
    CHECK(eval("017 = 15") == T);
    CHECK(eval("0_17 = 15") == T);
    CHECK(eval("00 = 0") == T);
    CHECK(eval("0b101 = 5") == T);
    CHECK(eval("0B1_0_1 = 5") == T);
    CHECK(eval("1_000_000 = 1000000") == T);
    CHECK(eval("1__0 = 10") == T);
    CHECK(eval("42L = 42") == T);
    CHECK(eval("42l = 42") == T);
    CHECK(eval("0x7fffffffffffffff = 9223372036854775807") == T);
    // As in Java, hex, octal and binary literals are the 64 bits of a long.
    CHECK(eval("0xFFFFFFFFFFFFFFFF = -1") == T);
    CHECK(eval("0x8000000000000000 = -9223372036854775808") == T);
    CHECK(eval("01777777777777777777777 = -1") == T);
    CHECK(eval("0b1111111111111111111111111111111111111111111111111111111111111111 = -1") == T);
    // An exact literal is a long, so long arithmetic applies to it: integer division.
    CHECK(eval("7 / 2 = 3") == T);
    // Out of range, or not Java syntax: compile errors, at the literal.
    CHECK(error_of("n = 9223372036854775808").message ==
          "numeric literal '9223372036854775808' is out of the range of long at column 5 (it is "
          "allowed only after a unary minus)");
    CHECK(error_of("n = -9223372036854775809").message ==
          "numeric literal '9223372036854775809' is out of the range of long at column 6");
    CHECK(error_of("n = -(9223372036854775808)").offset == 6);
    CHECK(error_of("n = 0x10000000000000000").message ==
          "numeric literal '0x10000000000000000' is out of the range of long at column 5");
    CHECK(error_of("n = 99999999999999999999999").offset == 4);
    CHECK(error_of("n = 08").message ==
          "invalid numeric literal '08' at column 5: '8' is not an octal digit");
    CHECK(error_of("n = 0_9").offset == 4);
    for (const char* bad : {"n = 1_", "n = 0x", "n = 0x_1", "n = 0b", "n = 0b2", "n = 0xG",
                            "n = 1LL", "n = 12abc", "n = 1$"}) {
      auto e = error_of(bad);
      CHECK_MESSAGE(e.offset == 4, bad);
      CHECK_MESSAGE(e.message.rfind("invalid numeric literal '", 0) == 0, e.message);
    }
    // A literal may not run into a word: "1AND" is not "1 AND".
    CHECK(error_of("n = 1AND m = 2").message == "invalid numeric literal '1AND' at column 5");
    CHECK(eval("n = 1 AND m = 2", {{"n", lng(1)}, {"m", lng(2)}}) == T);
  }

  TEST_CASE("approximate numeric literals: Java floating-point syntax, range of double") {
    // "An approximate numeric literal is a numeric value in scientific notation, such as 7E3 and
    // -57.9E2, or a numeric value with a decimal, such as 7., -95.7, and +6.2"
    CHECK(eval("d = 7E3", {{"d", dbl(7000)}}) == T);
    CHECK(eval("d = -57.9E2", {{"d", dbl(-5790)}}) == T);
    CHECK(eval("d = 7.", {{"d", dbl(7)}}) == T);
    CHECK(eval("d = -95.7", {{"d", dbl(-95.7)}}) == T);
    CHECK(eval("d = +6.2", {{"d", dbl(6.2)}}) == T);
    CHECK(eval("d = .5", {{"d", dbl(0.5)}}) == T);
    CHECK(eval("d = 4E-10", {{"d", dbl(4e-10)}}) == T);
    CHECK(eval("d = 4e+10", {{"d", dbl(4e10)}}) == T);
    CHECK(eval("d = 1.", {{"d", dbl(1)}}) == T);
    CHECK(eval("d = 1.e2", {{"d", dbl(100)}}) == T);
    CHECK(eval("d = 09.5", {{"d", dbl(9.5)}}) == T);  // a float's digits may start with 0
    CHECK(eval("d = 1_0.2_5", {{"d", dbl(10.25)}}) == T);
    CHECK(eval("d = 2d", {{"d", dbl(2)}}) == T);
    CHECK(eval("d = 2D", {{"d", dbl(2)}}) == T);
    CHECK(eval("d = 0x1.8p1", {{"d", dbl(3)}}) == T);
    CHECK(eval("d = 0x10P-4", {{"d", dbl(1)}}) == T);
    CHECK(eval("d = 4.9e-324", {{"d", dbl(4.9e-324)}}) == T);  // the least subnormal
    CHECK(eval("d = 1.7976931348623157E308", {{"d", dbl(1.7976931348623157E308)}}) == T);
    // An approximate literal is a double: 7 / 2. is 3.5.
    CHECK(eval("7 / 2. = 3.5") == T);
    // f rounds to float, as a Java float literal does (then widens to double).
    CHECK(eval("d = 1.1f", {{"d", dbl(1.1)}}) == F);
    CHECK(eval("d = 1.1f", {{"d", dbl(static_cast<double>(1.1f))}}) == T);
    CHECK(eval("d = 1F", {{"d", dbl(1)}}) == T);
    // Java refuses a literal that rounds to infinity or a non-zero one that rounds to zero.
    CHECK(error_of("d = 1e309").message ==
          "numeric literal '1e309' is out of the range of double at column 5");
    CHECK(error_of("d = 1e-400").message ==
          "numeric literal '1e-400' is out of the range of double at column 5");
    CHECK(error_of("d = 1e39f").message ==
          "numeric literal '1e39f' is out of the range of float at column 5");
    CHECK(eval("d = 0e999", {{"d", dbl(0)}}) == T);
    CHECK(error_of("d = 0x1.8").message ==
          "invalid numeric literal '0x1.8' at column 5: a hexadecimal floating-point literal "
          "needs a 'p' exponent");
    for (const char* bad : {"d = 1e", "d = 1e+", "d = 1.5L", "d = 1._5", "d = 1_.5", "d = 1e_5",
                            "d = 1..2", "d = 1.2.3", "d = 1e5e5", "d = 0x.p1"}) {
      auto e = error_of(bad);
      CHECK_MESSAGE(e.offset == 4, bad);
      CHECK_MESSAGE(e.message.rfind("invalid numeric literal '", 0) == 0, e.message);
    }
    // A lone '.' is not a number.
    CHECK(error_of("d = .").message == "unexpected character '.' at column 5");
  }

  TEST_CASE("boolean literals TRUE and FALSE, in any case") {
    // "The boolean literals TRUE and FALSE." "Predefined selector literals and operator names are
    // shown here in uppercase; however, they are case insensitive."
    CHECK(eval("TRUE") == T);
    CHECK(eval("FALSE") == F);
    CHECK(eval("true") == T);
    CHECK(eval("fAlSe") == F);
    CHECK(eval("b = TRUE", {{"b", boo(true)}}) == T);
    CHECK(eval("b = false", {{"b", boo(false)}}) == T);
    CHECK(eval("b <> TRUE", {{"b", boo(false)}}) == T);
    CHECK(eval("TRUE = TRUE") == T);
    CHECK(eval("TRUE <> FALSE") == T);
  }

  // ---- identifiers ------------------------------------------------------------------------------

  TEST_CASE("identifiers: Java letters and digits, case-sensitive") {
    // "An identifier is an unlimited-length sequence of letters and digits, the first of which
    // must be a letter. [...] This includes '_' and '$'."
    message m{{"_x", lng(1)},        {"$y", lng(2)},        {"a1", lng(3)},  {"a_b$c9", lng(4)},
              {"størrelse", lng(5)}, {"Größe", lng(6)},     {"αβγ", lng(7)}, {"€", lng(8)},
              {"日本", lng(9)},      {"x\xCC\x81", lng(10)}};
    CHECK(eval("_x = 1", m) == T);
    CHECK(eval("$y = 2", m) == T);
    CHECK(eval("a1 = 3", m) == T);
    CHECK(eval("a_b$c9 = 4", m) == T);
    CHECK(eval("størrelse = 5", m) == T);
    CHECK(eval("Größe = 6", m) == T);
    CHECK(eval("αβγ = 7", m) == T);
    CHECK(eval("€ = 8", m) == T);  // a currency symbol is a Java letter
    CHECK(eval("日本 = 9", m) == T);
    CHECK(eval("x\xCC\x81 = 10", m) == T);  // a combining mark is a Java identifier part
    // "Identifiers are case-sensitive."
    CHECK(eval("eventType = 'created'", {{"eventtype", str("created")}}) == U);
    CHECK(eval("eventtype = 'created'", {{"eventtype", str("created")}}) == T);
    // A digit cannot start one; neither can a combining mark.
    CHECK(error_of("1a = 1").message == "invalid numeric literal '1a' at column 1");
    CHECK(error_of("\xCC\x81x = 1").message == "unexpected character U+0301 at column 1");
    // Not letters: punctuation, symbols, Java's identifier-ignorable characters (refused so two
    // names that look the same cannot differ), and whitespace Java does not count as such.
    CHECK(error_of("a\xE2\x80\x8B = 1").message == "unexpected character U+200B at column 2");
    CHECK(error_of("a\xE2\x80\xAE = 1").message == "unexpected character U+202E at column 2");
    CHECK(error_of("a\x01 = 1").message == "unexpected character U+0001 at column 2");
    CHECK(error_of("a\xC2\xA0= 1").message == "unexpected character U+00A0 at column 2");
    CHECK(error_of("a → b").message == "unexpected character U+2192 at column 3");
    CHECK(error_of("a # 1").message == "unexpected character '#' at column 3");
    CHECK(error_of("a = 1;").message == "unexpected character ';' at column 6");
  }

  TEST_CASE("reserved words cannot be identifiers, in any case") {
    // "Identifiers cannot be the names NULL, TRUE, and FALSE." "Identifiers cannot be NOT, AND,
    // OR, BETWEEN, LIKE, IN, IS, or ESCAPE."
    for (const char* word : {"AND", "OR", "BETWEEN", "LIKE", "IN", "IS", "ESCAPE", "And", "oR",
                             "between", "Like", "in", "iS", "escape"}) {
      std::string text = std::string(word) + " = 'x'";
      auto e = error_of(text);
      INFO(text, " -> ", e.message);
      CHECK(e.message.find("reserved word '" + std::string(word) + "'") != std::string::npos);
    }
    // NOT is read as the operator, which then misses its operand.
    CHECK(error_of("NOT = 'x'").message ==
          "expected an identifier, a literal or '(' at column 5, found '='");
    CHECK(error_of("x = 1 OR not > 2").offset == 13);
    CHECK(error_of("in = 'x'").message ==
          "expected an identifier, a literal or '(' at column 1, found reserved word 'in' "
          "(reserved words cannot be identifiers)");
    CHECK(error_of("a = 1 AND escape = 2").message ==
          "expected an identifier, a literal or '(' at column 11, found reserved word 'escape' "
          "(reserved words cannot be identifiers)");
    CHECK(error_of("null = 1").message ==
          "NULL is only allowed in IS NULL and IS NOT NULL at column 1");
    CHECK(error_of("a = NULL").message ==
          "NULL is only allowed in IS NULL and IS NOT NULL at column 5");
    // TRUE and FALSE are literals, so "true = 1" compiles (a boolean is not a number: false).
    CHECK(eval("true = 1") == F);
    // Words that merely contain a keyword are identifiers.
    CHECK(
        eval("android = 1 AND island = 2 AND nullable = 3 AND order = 4",
             {{"android", lng(1)}, {"island", lng(2)}, {"nullable", lng(3)}, {"order", lng(4)}}) ==
        T);
  }

  TEST_CASE("names starting with JMS: six headers, JMSX and JMS_ properties") {
    // "Message header field references are restricted to JMSDeliveryMode, JMSPriority,
    // JMSMessageID, JMSTimestamp, JMSCorrelationID, and JMSType." "Any name beginning with
    // 'JMSX' is a Jakarta Messaging defined property name." "Any name beginning with 'JMS_' is a
    // provider-specific property name."
    for (const char* name : {"JMSDeliveryMode", "JMSPriority", "JMSMessageID", "JMSTimestamp",
                             "JMSCorrelationID", "JMSType", "JMSXGroupID", "JMSX", "JMS_acme"}) {
      CHECK_MESSAGE(compiles(std::string(name) + " IS NULL"), name);
    }
    // "When used in a message selector, the JMSDeliveryMode header field is treated as having the
    // values 'PERSISTENT' and 'NON_PERSISTENT'."
    CHECK(eval("JMSDeliveryMode = 'PERSISTENT'", {{"JMSDeliveryMode", str("PERSISTENT")}}) == T);
    // "JMSX properties [...] If they are not present in a message, they are treated like any
    // other absent property."
    CHECK(eval("JMSXGroupSeq = 1") == U);
    // Other headers (JMSExpiration, JMSDestination, ...) may not be named.
    CHECK(error_of("a = 1 AND JMSExpiration > 0").message ==
          "'JMSExpiration' is not a name a selector may use at column 11 (names starting with JMS "
          "must be JMSDeliveryMode, JMSPriority, JMSMessageID, JMSTimestamp, JMSCorrelationID or "
          "JMSType, or start with JMSX or JMS_)");
    CHECK_FALSE(compiles("JMSDestination = 'x'"));
    CHECK_FALSE(compiles("JMS = 'x'"));
    // "Any name that does not begin with 'JMS' is an application-specific property name": the
    // check is case-sensitive.
    CHECK(compiles("jmsExpiration = 1"));
    CHECK(compiles("Jms = 1"));
  }

  // ---- whitespace, keywords, structure
  // ------------------------------------------------------------

  TEST_CASE("no selector: empty or whitespace-only text matches everything") {
    // "If the value of a message selector is an empty string, the value is treated as a null and
    // indicates that there is no message selector for the message consumer."
    for (std::string_view text :
         {std::string_view(""), std::string_view(" "), std::string_view("\t\f\r\n  ")}) {
      auto r = compile(text);
      REQUIRE(r.ok());
      CHECK(r->empty());
      CHECK(r->evaluate([](std::string_view) { return property_value::null(); }) == T);
      CHECK(r->identifier_count() == 0);
    }
    re::selector none;
    CHECK(none.empty());
    CHECK(none.matches([](std::string_view) { return property_value::null(); }));
  }

  TEST_CASE("whitespace is Java's: space, tab, form feed, line terminators") {
    // "White space is the same as that defined for the Java programming language: space,
    // horizontal tab, form feed, and line terminator."
    message m{{"a", lng(1)}, {"b", str("x")}};
    CHECK(eval("a\t=\f1\r\nAND\rb\n=\n'x'", m) == T);
    CHECK(eval("  a = 1  ", m) == T);
    CHECK(eval("a=1 AND(b='x')", m) == T);  // no whitespace needed around operators
  }

  TEST_CASE("SQL comments are not supported") {
    // "SQL comments are not supported."
    CHECK(error_of("a = 1 /* note */").message ==
          "expected an identifier, a literal or '(' at column 8, found '*'");
    // "--" is two minus signs, as in Java: a = 1 - (-c).
    CHECK(eval("a = 1 -- c", {{"a", lng(3)}, {"c", lng(2)}}) == T);
  }

  TEST_CASE("keywords and operators are case-insensitive, identifiers are not") {
    message m{{"a", lng(3)}, {"s", str("abc")}, {"n", str("x")}};
    CHECK(eval("a bEtWeEn 1 aNd 5 And s lIkE 'a%' eScApE '!' oR nOt a iS nUlL", m) == T);
    CHECK(eval("s In ('abc') AND n NoT iN ('y')", m) == T);
    CHECK(eval("a Is NoT nUlL", m) == T);
  }

  TEST_CASE("precedence: NOT, AND, OR; parentheses change the order") {
    // "Logical operators in precedence order: NOT, AND, OR"
    CHECK(eval("TRUE OR TRUE AND FALSE") == T);  // TRUE OR (TRUE AND FALSE)
    CHECK(eval("(TRUE OR TRUE) AND FALSE") == F);
    CHECK(eval("NOT FALSE AND FALSE") == F);  // (NOT FALSE) AND FALSE
    CHECK(eval("NOT (FALSE AND FALSE)") == T);
    CHECK(eval("NOT TRUE OR TRUE") == T);  // (NOT TRUE) OR TRUE
    CHECK(eval("NOT (TRUE OR TRUE)") == F);
    CHECK(eval("FALSE AND TRUE OR TRUE") == T);  // (FALSE AND TRUE) OR TRUE
    CHECK(eval("FALSE AND (TRUE OR TRUE)") == F);
    // NOT applies to a whole comparison: NOT a = 1 is NOT (a = 1).
    CHECK(eval("NOT a = 1", {{"a", lng(2)}}) == T);
    CHECK(eval("NOT NOT a = 1", {{"a", lng(1)}}) == T);
    CHECK(eval("NOT NOT NOT TRUE") == F);
    // "Standard bracketing () for ordering expression evaluation is supported."
    CHECK(eval("((((a = 1))))", {{"a", lng(1)}}) == T);
    CHECK(eval("(a) = (1)", {{"a", lng(1)}}) == T);
  }

  TEST_CASE("arithmetic precedence and left-to-right order") {
    // "Arithmetic operators in precedence order: +, - (unary); *, / (multiplication and
    // division); +, - (addition and subtraction)" "The order of evaluation of a message selector
    // is from left to right within precedence level."
    CHECK(eval("2 + 3 * 4 = 14") == T);
    CHECK(eval("(2 + 3) * 4 = 20") == T);
    CHECK(eval("10 - 2 - 3 = 5") == T);
    CHECK(eval("10 - (2 - 3) = 11") == T);
    CHECK(eval("100 / 10 / 5 = 2") == T);
    CHECK(eval("100 / (10 / 5) = 50") == T);
    CHECK(eval("-2 * 3 = -6") == T);
    CHECK(eval("- -2 = 2") == T);
    CHECK(eval("-(2 + 3) = -5") == T);
    CHECK(eval("2 * -3 = -6") == T);
    CHECK(eval("2 - -3 = 5") == T);
    CHECK(eval("+a = 4", {{"a", lng(4)}}) == T);
    CHECK(eval("-a = -4", {{"a", lng(4)}}) == T);
    CHECK(eval("- - -a = -4", {{"a", lng(4)}}) == T);
    CHECK(eval("a * 2 + b / 2 = 9", {{"a", lng(4)}, {"b", lng(3)}}) == T);  // 8 + 1
    CHECK(eval("a + 1 > b * 2", {{"a", lng(4)}, {"b", lng(2)}}) == T);
  }

  // ---- comparisons and types
  // ----------------------------------------------------------------------

  TEST_CASE("comparison operators on numbers, with Java's numeric promotion") {
    message m{{"l", lng(5)}, {"d", dbl(5.0)}, {"h", dbl(5.5)}};
    // "Comparison operators: =, >, >=, <, <=, <> (not equal)"
    CHECK(eval("l = 5", m) == T);
    CHECK(eval("l <> 5", m) == F);
    CHECK(eval("l > 4", m) == T);
    CHECK(eval("l > 5", m) == F);
    CHECK(eval("l >= 5", m) == T);
    CHECK(eval("l < 6", m) == T);
    CHECK(eval("l < 5", m) == F);
    CHECK(eval("l <= 5", m) == T);
    CHECK(eval("l <= 4", m) == F);
    // "it is valid to compare exact numeric values and approximate numeric values; the type
    // conversion required is defined by the rules of numeric promotion in the Java programming
    // language."
    CHECK(eval("l = d", m) == T);
    CHECK(eval("l = 5.0", m) == T);
    CHECK(eval("l < h", m) == T);
    CHECK(eval("h > 5", m) == T);
    CHECK(eval("d = 5", m) == T);
    // A long meets a double as a double (Java's promotion, so large longs lose precision).
    CHECK(eval("9007199254740993 = 9007199254740992.0") == T);
    CHECK(eval("9007199254740993 = 9007199254740992") == F);
  }

  TEST_CASE("comparing values of different types is false (C.2)") {
    // "myMessage.setStringProperty("NumberOfOrders", "2"); The following expression in a message
    // selector would evaluate to false, because a string cannot be used in an arithmetic
    // expression: "NumberOfOrders > 1""
    CHECK(eval("NumberOfOrders > 1", {{"NumberOfOrders", str("2")}}) == F);
    CHECK(eval("NumberOfOrders > 1", {{"NumberOfOrders", lng(2)}}) == T);
    // "If the comparison of non-like type values is attempted, the value of the operation is
    // false." So also for <>, which is not the negation of = here.
    message m{{"s", str("2")}, {"n", lng(2)}, {"b", boo(true)}, {"d", dbl(2)}};
    for (const char* s :
         {"s = 2",     "s <> 2",  "s = 2.0",  "s <> 2.0",   "s = n",       "s <> n",
          "n = s",     "b = 1",   "b <> 1",   "b = 'true'", "b <> 'true'", "s = TRUE",
          "s <> TRUE", "d = '2'", "d <> '2'", "'2' = 2",    "'2' <> 2",    "TRUE = 1",
          "TRUE <> 1", "s < n",   "s >= n",   "b > n"}) {
      CHECK_MESSAGE(eval(s, m) == F, s);
    }
    CHECK(eval("NOT (s = 2)", m) == T);
    // Arithmetic on a string or boolean: "a string cannot be used in an arithmetic expression".
    CHECK(eval("s + 1 = 3", m) == F);
    CHECK(eval("s + 1 <> 3", m) == F);
    CHECK(eval("-s = -2", m) == F);
    CHECK(eval("+s = 2", m) == F);
    CHECK(eval("b * 1 = 1", m) == F);
    CHECK(eval("n + s > 0", m) == F);
    CHECK(eval("s BETWEEN 1 AND 3", m) == F);
    CHECK(eval("s NOT BETWEEN 1 AND 3", m) == F);  // 's' < 1 OR 's' > 3: both false
    // ... but NULL still wins: "If either of the type values evaluates to NULL, the value of the
    // expression is unknown."
    CHECK(eval("s + missing = 3", m) == U);
    CHECK(eval("(s + 1) = missing", m) == U);
  }

  TEST_CASE("strings and booleans compare only with = and <>") {
    // "String and boolean comparison is restricted to = and <>."
    // With a literal on either side the restriction is known when the selector is presented:
    // a compile error.
    CHECK(error_of("s < 'b'").message == "'<' cannot compare a string literal at column 5");
    CHECK(error_of("'a' < 'b'").message == "'<' cannot compare a string literal at column 1");
    CHECK(error_of("s >= 'b'").message == "'>=' cannot compare a string literal at column 6");
    CHECK(error_of("b > TRUE").message == "'>' cannot compare a boolean literal at column 5");
    CHECK(error_of("FALSE <= b").message == "'<=' cannot compare a boolean literal at column 1");
    CHECK(error_of("s <> 'a' AND s > 'b'").offset == 17);
    // Only when the types show up at run time (two identifiers): false.
    message m{{"s", str("a")}, {"t", str("b")}, {"x", boo(false)}, {"y", boo(true)}};
    CHECK(eval("s < t", m) == F);
    CHECK(eval("s > t", m) == F);
    CHECK(eval("s <= s", m) == F);
    CHECK(eval("x < y", m) == F);
    CHECK(eval("x >= x", m) == F);
    CHECK(eval("s = s AND s <> t AND x = x AND x <> y", m) == T);
  }

  TEST_CASE("a condition is not a value, and comparisons do not chain") {
    CHECK(error_of("(a = 1) = TRUE").message == "'=' cannot compare a condition at column 1");
    CHECK(error_of("TRUE <> (a = 1)").message == "'<>' cannot compare a condition at column 9");
    CHECK(error_of("(a = 1) + 1 > 0").message == "'+' cannot take a condition at column 1");
    CHECK(error_of("a = 1 = 2").message ==
          "expected AND, OR or end of text at column 7, found '='");
    CHECK(error_of("a < b < c").message ==
          "expected AND, OR or end of text at column 7, found '<'");
    CHECK(error_of("a = 1 IS NULL").message ==
          "expected AND, OR or end of text at column 7, found reserved word 'IS'");
    CHECK(error_of("(a = 1) BETWEEN 1 AND 2").message ==
          "BETWEEN cannot take a condition at column 1");
  }

  TEST_CASE("a bare identifier or boolean literal is a condition") {
    message m{{"t", boo(true)}, {"f", boo(false)}, {"s", str("true")}, {"n", lng(1)}};
    CHECK(eval("t", m) == T);
    CHECK(eval("f", m) == F);
    CHECK(eval("missing", m) == U);
    // Any other type is false, as "s = TRUE" would be.
    CHECK(eval("s", m) == F);
    CHECK(eval("n", m) == F);
    CHECK(eval("NOT s", m) == T);
    CHECK(eval("t AND (n = 1)", m) == T);
    CHECK(eval("(t)", m) == T);
    // Numbers and strings are not conditions.
    CHECK(error_of("5").message ==
          "a selector needs a condition at column 1, found a numeric expression");
    CHECK(error_of("'x'").message ==
          "a selector needs a condition at column 1, found a string literal");
    CHECK(error_of("a + 1").message ==
          "a selector needs a condition at column 1, found a numeric expression");
    CHECK(error_of("NOT 5").message ==
          "NOT needs a condition at column 5, found a numeric expression");
    CHECK(error_of("a = 1 AND 5").message ==
          "AND needs a condition at column 11, found a numeric expression");
    CHECK(error_of("'x' OR a").message ==
          "OR needs a condition at column 1, found a string literal");
    CHECK(error_of("(1 + 2)").message ==
          "a selector needs a condition at column 1, found a numeric expression");
  }

  // ---- arithmetic
  // -----------------------------------------------------------------------------------

  TEST_CASE("arithmetic: Java's long and double semantics, never a crash") {
    // "Arithmetic operations must use numeric promotion in the Java programming language."
    message m{{"max", lng(long_max)}, {"min", lng(long_min)}, {"zero", lng(0)},
              {"dzero", dbl(0)},      {"five", lng(5)},       {"half", dbl(0.5)}};
    // long op long is a long: integer division truncates toward zero.
    CHECK(eval("five / 2 = 2", m) == T);
    CHECK(eval("-five / 2 = -2", m) == T);
    CHECK(eval("five / -2 = -2", m) == T);
    CHECK(eval("-7 / 2 = -3") == T);
    // long op double is a double.
    CHECK(eval("five / 2.0 = 2.5", m) == T);
    CHECK(eval("five * half = 2.5", m) == T);
    CHECK(eval("five + half = 5.5", m) == T);
    CHECK(eval("five - half = 4.5", m) == T);
    // Overflow wraps around, as Java's long arithmetic does.
    CHECK(eval("max + 1 = min", m) == T);
    CHECK(eval("min - 1 = max", m) == T);
    CHECK(eval("max * 2 = -2", m) == T);
    CHECK(eval("-min = min", m) == T);
    CHECK(eval("min * -1 = min", m) == T);
    CHECK(eval("min / -1 = min", m) == T);  // Java: Long.MIN_VALUE / -1 == Long.MIN_VALUE
    CHECK(eval("9223372036854775807 + 1 < 0") == T);
    CHECK(eval("- -9223372036854775808 = -9223372036854775808") == T);
    // Dividing a long by zero throws in Java; in a selector it is NULL, so the comparison is
    // unknown, and NOT cannot turn it into a match.
    CHECK(eval("five / zero = 1", m) == U);
    CHECK(eval("five / 0 > 0") == U);
    CHECK(eval("NOT (five / 0 > 0)", m) == U);
    CHECK(eval("five / zero = 1 OR TRUE", m) == T);  // the OR still decides
    CHECK(eval("min / 0 = 0", m) == U);
    // Double division is IEEE 754: infinity and NaN, no error. NaN compares false except <>.
    CHECK(eval("five / dzero > 1E308", m) == T);
    CHECK(eval("-five / 0.0 < -1E308", m) == T);
    CHECK(eval("five / 0.0 = five / 0.0", m) == T);  // infinity equals itself
    CHECK(eval("dzero / dzero = dzero / dzero", m) == F);
    CHECK(eval("dzero / dzero <> dzero / dzero", m) == T);
    CHECK(eval("dzero / 0.0 < 1", m) == F);
    CHECK(eval("dzero / 0.0 >= 1", m) == F);
    CHECK(eval("zero / 0.0 BETWEEN -1 AND 1", m) == F);
    CHECK(eval("1E308 * 10 > 1E308") == T);
    CHECK(eval("-0.0 = 0.0") == T);
    // NaN and infinity as property values.
    message special{{"nan", dbl(std::nan(""))}, {"inf", dbl(HUGE_VAL)}};
    CHECK(eval("nan = nan", special) == F);
    CHECK(eval("nan <> nan", special) == T);
    CHECK(eval("inf > 1E308", special) == T);
    CHECK(eval("inf - inf <> 0", special) == T);
  }

  // ---- BETWEEN, IN, LIKE, IS NULL
  // -------------------------------------------------------------------

  TEST_CASE("[NOT] BETWEEN") {
    // ""age BETWEEN 15 AND 19" is equivalent to "age >= 15 AND age <= 19""
    // ""age NOT BETWEEN 15 AND 19" is equivalent to "age < 15 OR age > 19""
    for (std::int64_t age : {14, 15, 17, 19, 20}) {
      message m{{"age", lng(age)}};
      bool inside = age >= 15 && age <= 19;
      CHECK(eval("age BETWEEN 15 AND 19", m) == (inside ? T : F));
      CHECK(eval("age NOT BETWEEN 15 AND 19", m) == (inside ? F : T));
      CHECK(eval("age BETWEEN 15 AND 19", m) == eval("age >= 15 AND age <= 19", m));
      CHECK(eval("age NOT BETWEEN 15 AND 19", m) == eval("age < 15 OR age > 19", m));
    }
    message m{{"x", dbl(2.5)}, {"lo", lng(2)}, {"hi", lng(3)}};
    CHECK(eval("x BETWEEN lo AND hi", m) == T);
    CHECK(eval("x BETWEEN 2.6 AND 3", m) == F);
    CHECK(eval("x * 2 BETWEEN lo + 2 AND hi * 2 - 1", m) == T);  // 5 between 4 and 5
    CHECK(eval("x BETWEEN hi AND lo", m) == F);                  // an empty range
    // The AND of BETWEEN belongs to it; a following AND is logical.
    CHECK(eval("x BETWEEN 1 AND 3 AND lo = 2", m) == T);
    CHECK(eval("x BETWEEN 1 AND 3 AND lo = 3", m) == F);
    CHECK(eval("x NOT BETWEEN 1 AND 3 OR hi = 3", m) == T);
    // "arithmetic-expr1 [NOT] BETWEEN arithmetic-expr2 AND arithmetic-expr3": no strings or
    // booleans where the text shows them.
    CHECK(error_of("x BETWEEN 'a' AND 'b'").message ==
          "BETWEEN cannot take a string literal at column 11");
    CHECK(error_of("'a' BETWEEN 1 AND 2").message ==
          "BETWEEN cannot take a string literal at column 1");
    CHECK(error_of("x BETWEEN 1 AND TRUE").message ==
          "BETWEEN cannot take a boolean literal at column 17");
    CHECK(error_of("x BETWEEN 1 OR 2").message ==
          "expected AND of BETWEEN at column 13, found reserved word 'OR'");
    CHECK(error_of("x BETWEEN 1").message ==
          "expected AND of BETWEEN at column 12, found end of text");
    CHECK(error_of("x NOT = 1").message ==
          "expected BETWEEN, IN or LIKE after NOT at column 7, found '='");
  }

  TEST_CASE("[NOT] IN") {
    // ""Country IN ('UK', 'US', 'France')" is true for 'UK' and false for 'Peru'; it is
    // equivalent to the expression "(Country = 'UK') OR (Country = 'US') OR (Country =
    // 'France')"" (the javadoc's ' UK' with a space is an HTML artefact.)
    CHECK(eval("Country IN ('UK', 'US', 'France')", {{"Country", str("UK")}}) == T);
    CHECK(eval("Country IN ('UK', 'US', 'France')", {{"Country", str("Peru")}}) == F);
    // ""Country NOT IN ('UK', 'US', 'France')" is false for 'UK' and true for 'Peru'"
    CHECK(eval("Country NOT IN ('UK', 'US', 'France')", {{"Country", str("UK")}}) == F);
    CHECK(eval("Country NOT IN ('UK', 'US', 'France')", {{"Country", str("Peru")}}) == T);
    for (const char* c : {"UK", "US", "France", "Peru", "uk", ""}) {
      message m{{"Country", str(c)}};
      CHECK(eval("Country IN ('UK', 'US', 'France')", m) ==
            eval("(Country = 'UK') OR (Country = 'US') OR (Country = 'France')", m));
      CHECK(eval("Country NOT IN ('UK', 'US', 'France')", m) ==
            eval("NOT ((Country = 'UK') OR (Country = 'US') OR (Country = 'France'))", m));
    }
    // One item, duplicates, quotes, the empty string, order of the items does not matter.
    CHECK(eval("c IN ('a')", {{"c", str("a")}}) == T);
    CHECK(eval("c IN ('b', 'a', 'b', 'a')", {{"c", str("a")}}) == T);
    CHECK(eval("c IN ('it''s', 'x')", {{"c", str("it's")}}) == T);
    CHECK(eval("c IN ('', 'x')", {{"c", str("")}}) == T);
    CHECK(eval("c IN ('zz', 'a', 'mm', 'b')", {{"c", str("mm")}}) == T);
    CHECK(eval("c IN ('zz', 'a', 'mm', 'b')", {{"c", str("m")}}) == F);
    // A number or boolean is not equal to any string: IN is false, NOT IN true (its NOT).
    CHECK(eval("c IN ('1')", {{"c", lng(1)}}) == F);
    CHECK(eval("c NOT IN ('1')", {{"c", lng(1)}}) == T);
    CHECK(eval("c IN ('true')", {{"c", boo(true)}}) == F);
    // "identifier [NOT] IN (string-literal1, string-literal2,...)"
    CHECK(error_of("c IN (1, 2)").message ==
          "expected a string literal at column 7, found numeric literal '1' (IN lists hold string "
          "literals only)");
    CHECK(error_of("c IN ('a', 2)").offset == 11);
    CHECK(error_of("c IN ()").message ==
          "expected a string literal at column 7, found ')' (IN lists hold string literals only)");
    CHECK(error_of("c IN 'a'").message ==
          "expected '(' after IN at column 6, found string literal 'a'");
    CHECK(error_of("c IN ('a' 'b')").message ==
          "expected ',' or ')' in the IN list at column 11, found string literal 'b'");
    CHECK(error_of("c IN ('a',)").offset == 10);
    CHECK(error_of("c IN ('a'").message ==
          "expected ',' or ')' in the IN list at column 10, found end of text");
    CHECK(error_of("'a' IN ('a')").message ==
          "IN needs an identifier on its left at column 1, found a string literal");
    CHECK(error_of("c + 1 IN ('a')").message ==
          "IN needs an identifier on its left at column 1, found a numeric expression");
    CHECK(eval("(c) IN ('a')", {{"c", str("a")}}) == T);
  }

  TEST_CASE("[NOT] LIKE: whole-value match, '_' one character, '%' any sequence") {
    // ""phone LIKE '12%3'" is true for '123' or '12993' and false for '1234'"
    CHECK(eval("phone LIKE '12%3'", {{"phone", str("123")}}) == T);
    CHECK(eval("phone LIKE '12%3'", {{"phone", str("12993")}}) == T);
    CHECK(eval("phone LIKE '12%3'", {{"phone", str("1234")}}) == F);
    // ""word LIKE 'l_se'" is true for 'lose' and false for 'loose'"
    CHECK(eval("word LIKE 'l_se'", {{"word", str("lose")}}) == T);
    CHECK(eval("word LIKE 'l_se'", {{"word", str("loose")}}) == F);
    // ""underscored LIKE '\_%' ESCAPE '\'" is true for '_foo' and false for 'bar'"
    CHECK(eval(R"(underscored LIKE '\_%' ESCAPE '\')", {{"underscored", str("_foo")}}) == T);
    CHECK(eval(R"(underscored LIKE '\_%' ESCAPE '\')", {{"underscored", str("bar")}}) == F);
    CHECK(eval(R"(underscored LIKE '\_%' ESCAPE '\')", {{"underscored", str("x_foo")}}) == F);
    // ""phone NOT LIKE '12%3'" is false for '123' or '12993' and true for '1234'"
    CHECK(eval("phone NOT LIKE '12%3'", {{"phone", str("123")}}) == F);
    CHECK(eval("phone NOT LIKE '12%3'", {{"phone", str("12993")}}) == F);
    CHECK(eval("phone NOT LIKE '12%3'", {{"phone", str("1234")}}) == T);

    struct sample {
      const char* pattern;
      const char* value;
      bool match;
    };
    const sample samples[] = {
        {"abc", "abc", true},
        {"abc", "abcd", false},
        {"abc", "ab", false},
        {"", "", true},
        {"", "a", false},
        {"%", "", true},
        {"%", "anything", true},
        {"%%", "", true},
        {"_", "", false},
        {"_", "a", true},
        {"_", "ab", false},
        {"__", "ab", true},
        {"a%", "a", true},
        {"a%", "ba", false},
        {"%a", "ba", true},
        {"%a", "ab", false},
        {"%a%", "bab", true},
        {"%a%", "bbb", false},
        {"a%b%c", "abc", true},
        {"a%b%c", "aXbYc", true},
        {"a%b%c", "acb", false},
        {"a%ab", "aab", true},
        {"a%ab", "ab", false},
        {"%aa", "aaa", true},
        {"%ab%ab", "abab", true},
        {"%ab%ab", "aabab", true},
        {"%ab%ab", "abba", false},
        {"a_%_b", "axyb", true},
        {"a_%_b", "axb", false},
        {"%_%", "", false},
        {"%_%", "x", true},
        {"_%_", "x", false},
        {"_%_", "xy", true},
        {"a%%b", "ab", true},
        {"a%%b", "axxb", true},
        {"%b_", "abcbd", true},
        {"%b_", "abcb", false},
        {".*", "abc", false},
        {".*", ".*", true},
        {"[a]", "a", false},
        {"A%", "abc", false},
        {"%ø_", "æøå", true},
        {"_", "ø", true},
        {"__", "ø", false},
        {"_", "😀", true},
        {"%😀", "x😀", true},
        {"%x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
        // A match starts on a character: '€' (3 bytes) is one character, not two.
        {"%__%", "€", false},
        {"%__%", "€€", true},
        {"%_€%", "a€", true},
    };
    for (const auto& s : samples) {
      std::string text = std::string("v LIKE '") + s.pattern + "'";
      INFO(text, " on '", s.value, "'");
      CHECK(eval(text, {{"v", str(s.value)}}) == (s.match ? T : F));
      CHECK(eval("v NOT LIKE '" + std::string(s.pattern) + "'", {{"v", str(s.value)}}) ==
            (s.match ? F : T));
    }
    // A property value that is not UTF-8: each invalid byte is one character.
    CHECK(eval("v LIKE 'a_b'", {{"v", str("a\xFF"
                                          "b")}}) == T);
    CHECK(eval("v LIKE 'a__b'", {{"v", str("a\xE2\x82"
                                           "b")}}) == T);  // a cut-off sequence
    CHECK(eval("v LIKE '%b'", {{"v", str("\xE2\x82"
                                         "b")}}) == T);
    // LIKE on a value that is not a string is false; NOT LIKE is its NOT.
    CHECK(eval("v LIKE '1%'", {{"v", lng(12)}}) == F);
    CHECK(eval("v NOT LIKE '1%'", {{"v", lng(12)}}) == T);
    CHECK(eval("v LIKE 'true'", {{"v", boo(true)}}) == F);
  }

  TEST_CASE("LIKE ... ESCAPE") {
    // "The optional escape-character is a single-character string literal whose character is
    // used to escape the special meaning of the '_' and '%' in pattern-value."
    CHECK(eval("v LIKE '100!%' ESCAPE '!'", {{"v", str("100%")}}) == T);
    CHECK(eval("v LIKE '100!%' ESCAPE '!'", {{"v", str("1000")}}) == F);
    CHECK(eval("v LIKE '%!_%' ESCAPE '!'", {{"v", str("a_b")}}) == T);
    CHECK(eval("v LIKE '%!_%' ESCAPE '!'", {{"v", str("ab")}}) == F);
    CHECK(eval("v LIKE 'a!!b' ESCAPE '!'", {{"v", str("a!b")}}) == T);  // the escape itself
    CHECK(eval("v LIKE 'x%%' ESCAPE '%'", {{"v", str("x%")}}) == T);    // '%' as the escape
    CHECK(eval("v LIKE 'x%%' ESCAPE '%'", {{"v", str("xy")}}) == F);
    CHECK(eval("v LIKE 'aøøb' ESCAPE 'ø'", {{"v", str("aøb")}}) == T);  // one character, 2 bytes
    CHECK(eval("v LIKE '''%' ESCAPE ''''", {{"v", str("%")}}) == T);    // the quote as escape
    CHECK(eval(R"(v LIKE '\%' ESCAPE '\' OR v LIKE 'x\')", {{"v", str("x\\")}}) == T);
    // Without ESCAPE a backslash is an ordinary character.
    CHECK(eval(R"(v LIKE 'a\_')", {{"v", str("a\\x")}}) == T);
    // SQL-92 (8.5): an escape not followed by '_', '%' or itself is an invalid escape sequence.
    CHECK(
        error_of(R"(v LIKE 'a\b' ESCAPE '\')").message ==
        R"(invalid escape in the LIKE pattern: '\' must be followed by '_', '%' or '\' at column 8)");
    CHECK(error_of(R"(v LIKE 'ab\' ESCAPE '\')").offset == 7);
    CHECK(
        error_of("v LIKE 'x' ESCAPE 'ab'").message ==
        "the ESCAPE string must be exactly one character at column 19, found string literal 'ab'");
    CHECK(error_of("v LIKE 'x' ESCAPE ''").message ==
          "the ESCAPE string must be exactly one character at column 19, found string literal ''");
    CHECK(error_of("v LIKE 'x' ESCAPE 1").message ==
          "expected a string literal after ESCAPE at column 19, found numeric literal '1'");
    CHECK(error_of("v LIKE 5").message ==
          "expected a string literal as the LIKE pattern at column 8, found numeric literal '5'");
    CHECK(error_of("v LIKE w").offset == 7);
    CHECK(error_of("'v' LIKE 'x'").message ==
          "LIKE needs an identifier on its left at column 1, found a string literal");
    CHECK(error_of("v ESCAPE '!'").offset == 2);
  }

  TEST_CASE("IS [NOT] NULL takes an identifier") {
    CHECK(error_of("5 IS NULL").message ==
          "IS NULL needs an identifier on its left at column 1, found a numeric expression");
    CHECK(error_of("a + 1 IS NULL").offset == 0);
    CHECK(error_of("a IS 5").message ==
          "expected NULL or NOT NULL after IS at column 6, found numeric literal '5'");
    CHECK(error_of("a IS NOT TRUE").message ==
          "expected NULL after IS NOT at column 10, found reserved word 'TRUE'");
    CHECK(error_of("a IS").offset == 4);
    CHECK(eval("(a) IS NULL") == T);
  }

  // ---- errors and their positions
  // -----------------------------------------------------------------

  TEST_CASE("errors name what was expected, and where (offset, line, column)") {
    struct expected_error {
      std::string text;
      std::size_t offset, line, column;
      std::string message;
    };
    const expected_error cases[] = {
        {"(a = 1", 6, 1, 7, "expected AND, OR or ')' at column 7, found end of text"},
        {"(a + 1", 6, 1, 7, "expected an operator or ')' at column 7, found end of text"},
        {"a = 'abc", 4, 1, 5, "unterminated string literal starting at column 5"},
        {"a = 'it''s", 4, 1, 5, "unterminated string literal starting at column 5"},
        {"a < 'b'", 4, 1, 5, "'<' cannot compare a string literal at column 5"},
        {"a = 1 b", 6, 1, 7, "expected AND, OR or end of text at column 7, found identifier 'b'"},
        {"a + 1 b", 6, 1, 7,
         "expected an operator or end of text at column 7, found identifier 'b'"},
        {"a = 1)", 5, 1, 6, "expected AND, OR or end of text at column 6, found ')'"},
        {"a = = 1", 4, 1, 5, "expected an identifier, a literal or '(' at column 5, found '='"},
        {"a = 1 OR", 8, 1, 9,
         "expected an identifier, a literal or '(' at column 9, found end of text"},
        {"a + 'x' = 1", 4, 1, 5, "'+' cannot take a string literal at column 5"},
        {"a * TRUE = 1", 4, 1, 5, "'*' cannot take a boolean literal at column 5"},
        {"- 'x' = 1", 2, 1, 3, "unary '-' cannot take a string literal at column 3"},
        {"+TRUE", 1, 1, 2, "unary '+' cannot take a boolean literal at column 2"},
        {"a = 1 AND\n  b = 'x", 16, 2, 7,
         "unterminated string literal starting at line 2, column 7"},
        {"a = 1\r\nOR\r\n#", 11, 3, 1, "unexpected character '#' at line 3, column 1"},
        {"a = 1\rOR #", 9, 2, 4, "unexpected character '#' at line 2, column 4"},
        // Columns count characters; the offset counts bytes.
        {"navn = 'æøå' AND #", 20, 1, 18, "unexpected character '#' at column 18"},
        {"a = '\xFF'", 5, 1, 6, "invalid UTF-8 at column 6"},
        {"a = '\xC0\x80'", 5, 1, 6, "invalid UTF-8 at column 6"},      // overlong
        {"a = '\xED\xA0\x80'", 5, 1, 6, "invalid UTF-8 at column 6"},  // a surrogate
        {"a = 'ø\xE2\x82'", 7, 1, 7, "invalid UTF-8 at column 7"},     // cut off
        {std::string("a = 1\0", 6), 5, 1, 6, "unexpected character U+0000 at column 6"},
    };
    for (const auto& c : cases) {
      auto e = error_of(c.text);
      INFO(c.text);
      CHECK(e.message == c.message);
      CHECK(e.offset == c.offset);
      CHECK(e.line == c.line);
      CHECK(e.column == c.column);
    }
  }

  TEST_CASE("every prefix of a selector compiles or fails with a position inside it") {
    const char* selectors[] = {
        "eventType = 'created' AND resourceProfile IN ('ehealth-careplan','ehealth-episodeofcare')",
        "a NOT BETWEEN -1 AND 0x1F OR b LIKE 'x!_%' ESCAPE '!' OR NOT (c IS NOT NULL)",
        "(x + 2.5e3) * -y / 7. >= .5 AND s <> 'it''s'",
    };
    for (const char* full : selectors) {
      std::string s = full;
      for (std::size_t n = 0; n <= s.size(); ++n) {
        auto r = compile(std::string_view(s).substr(0, n));
        if (!r.ok()) {
          CHECK(r.err().offset <= n);
          CHECK(r.err().column >= 1);
          CHECK_FALSE(r.err().message.empty());
        }
      }
      CHECK(compiles(s));
    }
  }

  // ---- limits
  // ---------------------------------------------------------------------------------------

  TEST_CASE("the text is at most 64 KiB by default, configurable") {
    auto literal_selector = [](std::size_t total) {
      std::string s = "a = '";  // 5 bytes, then the content, then the closing quote
      s.append(total - 6, 'x');
      s += "'";
      return s;
    };
    CHECK(compiles(literal_selector(64 * 1024)));
    auto e = error_of(literal_selector(64 * 1024 + 1));
    CHECK(e.message ==
          "selector text exceeds the limit of 65536 bytes at column 65537 (it has 65537)");
    CHECK(e.offset == 65536);
    re::compile_limits small;
    small.max_text_bytes = 16;
    CHECK(compile("a = 'xxxxxxxxxx'", small).ok());  // 16 bytes
    auto r = compile("a = 'xxxxxxxxxxx'", small);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().message ==
          "selector text exceeds the limit of 16 bytes at column 17 (it has 17)");
    re::compile_limits large;
    large.max_text_bytes = 1 << 20;
    CHECK(compile(literal_selector(200000), large).ok());
  }

  TEST_CASE("nesting is at most 256 deep: parentheses, NOT chains, unary signs") {
    const std::string limit_message =
        "nesting deeper than 256 levels (parentheses, NOT and unary signs)";
    // Parentheses.
    CHECK(eval(repeat("(", 256) + "a = 1" + repeat(")", 256), {{"a", lng(1)}}) == T);
    auto e = error_of(repeat("(", 257) + "a = 1" + repeat(")", 257));
    CHECK(e.message == limit_message + " at column 257");
    CHECK(e.offset == 256);
    // NOT chains.
    CHECK(eval(repeat("NOT ", 256) + "a", {{"a", boo(true)}}) == T);  // an even count
    CHECK(eval(repeat("NOT ", 255) + "a", {{"a", boo(true)}}) == F);
    CHECK(error_of(repeat("NOT ", 257) + "a").message == limit_message + " at column 1025");
    // Unary signs.
    CHECK(eval("a = " + repeat("-", 256) + "1", {{"a", lng(1)}}) == T);
    CHECK(eval("a = " + repeat("- ", 255) + "1", {{"a", lng(-1)}}) == T);
    CHECK(error_of("a = " + repeat("-", 257) + "1").message == limit_message + " at column 261");
    CHECK(error_of("a = " + repeat("+", 257) + "b").offset == 260);
    // Mixed: the levels add up, and are given back when a level closes.
    CHECK(compiles(repeat("NOT (", 128) + "a" + repeat(")", 128)));
    CHECK_FALSE(compiles(repeat("NOT (", 128) + "-a = 1" + repeat(")", 128)));
    CHECK(compiles(repeat("(a = 1) AND ", 1000) + "(a = 1)"));
    CHECK(compiles(repeat("(" + repeat("(", 255) + "a" + repeat(")", 255) + ") OR ", 20) + "b"));
  }

  TEST_CASE("the deepest selectors compile on a small stack and evaluate on the largest stack") {
    // Every level holding as many pending operands as a level can: the evaluation stack's bound.
    std::string deepest_stack =
        "a OR b AND c BETWEEN d AND e + f * " + repeat("(g + h * ", 256) + "i" + repeat(")", 256);
    std::string deepest_parens = repeat("(", 256) + "a = 1" + repeat(")", 256);
    std::string deepest_nots = repeat("NOT ", 256) + "a";
    std::string deepest_mixed = repeat("NOT (", 85) + repeat("-", 86) + "a = 1" + repeat(")", 85);
    struct job {
      const std::string* text;
      bool ok = false;
      std::size_t depth = 0;
    } jobs[] = {{&deepest_stack}, {&deepest_parens}, {&deepest_nots}, {&deepest_mixed}};
    // Compiling recurses once per level: a 2 MiB thread stack is plenty (a quarter of what a
    // thread gets by default), even in a sanitizer build.
    for (auto& j : jobs) {
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, 2 * 1024 * 1024);
      pthread_t thread;
      auto body = [](void* arg) -> void* {
        auto* jb = static_cast<job*>(arg);
        auto r = compile(*jb->text);
        jb->ok = r.ok();
        if (r.ok()) jb->depth = r->max_stack_depth();
        return nullptr;
      };
      REQUIRE(pthread_create(&thread, &attr, body, &j) == 0);
      pthread_join(thread, nullptr);
      pthread_attr_destroy(&attr);
    }
    CHECK(jobs[0].ok);
    // Two pending operands per level (257 levels), four more at the one open comparison, and
    // the operand being pushed: 2 * 257 + 4 + 1.
    CHECK(jobs[0].depth == 519);
    CHECK(jobs[1].ok);
    CHECK(jobs[2].ok);
    CHECK(jobs[3].ok);
    CHECK_FALSE(compiles(repeat("NOT (", 85) + repeat("-", 87) + "a = 1" + repeat(")", 85)));
    // Evaluating the deepest one: a OR (b AND (c BETWEEN d AND e + f * (...))).
    message m{{"a", boo(false)}, {"b", boo(true)}, {"c", lng(10)}, {"d", lng(0)}, {"e", lng(0)},
              {"f", lng(1)},     {"g", lng(0)},    {"h", lng(1)},  {"i", lng(10)}};
    CHECK(eval(deepest_stack, m) == T);  // e + f * (g + h * (... i)) = 10
    m["c"] = lng(11);
    CHECK(eval(deepest_stack, m) == F);
    m.erase("i");
    CHECK(eval(deepest_stack, m) == U);
  }

  TEST_CASE("an IN list is bounded only by the text") {
    std::string text = "c IN (";
    std::size_t items = 0;
    while (text.size() < 64 * 1024 - 20) {
      text += "'v" + std::to_string(items++) + "',";
    }
    text += "'last')";
    auto r = compile(text);
    REQUIRE(r.ok());
    CHECK(items > 7000);
    CHECK(run(*r, {{"c", str("v0")}}) == T);
    CHECK(run(*r, {{"c", str("v" + std::to_string(items - 1))}}) == T);
    CHECK(run(*r, {{"c", str("last")}}) == T);
    CHECK(run(*r, {{"c", str("v" + std::to_string(items))}}) == F);
  }

  // ---- eHealth
  // ---------------------------------------------------------------------------------------

  TEST_CASE("eHealth-shaped selectors on eHealth-shaped properties (B.3, B.5)") {
    // "ServiceRequest created": the properties of the IG's worked example; every value a string.
    message service_request{
        {"messageType", str("EHealthSimpleEvent")},
        {"messageVersion", str("1.0")},
        {"eventType", str("created")},
        {"destination", str("topic://ehealth-procedurerequest")},
        {"patientReference", str("https://patient.local.ehealth.sundhed.dk/fhir/Patient/5508")},
        {"resourceReference",
         str("https://careplan.local.ehealth.sundhed.dk/fhir/ServiceRequest/526")},
        {"resourceProfile", str("ehealth-procedurerequest")},
        {"messageClass", str("com.systematic.ehealth.event.event.EHealthSimpleEvent")}};
    // A Trifork-service event: no patientReference, no messageClass.
    message appointment{
        {"messageVersion", str("1.0")},
        {"messageType", str("EHealthSimpleEvent")},
        {"destination", str("topic://ehealth-appointment")},
        {"resourceReference", str("https://x.ehealth.sundhed.dk/fhir/Appointment/9")},
        {"resourceProfile", str("ehealth-appointment")},
        {"eventType", str("updated")}};
    message careplan{{"eventType", str("created")},
                     {"resourceProfile", str("ehealth-careplan")},
                     {"patientReference", str("https://patient.local/fhir/Patient/1")}};

    const char* by_profile =
        "eventType = 'created' AND resourceProfile IN ('ehealth-careplan','ehealth-episodeofcare')";
    CHECK(eval(by_profile, careplan) == T);
    CHECK(eval(by_profile, service_request) == F);
    CHECK(eval(by_profile, appointment) == F);

    CHECK(eval("patientReference IS NOT NULL", service_request) == T);
    CHECK(eval("patientReference IS NOT NULL", appointment) == F);
    CHECK(eval("patientReference = 'https://patient.local.ehealth.sundhed.dk/fhir/Patient/5508'",
               service_request) == T);
    // A missing patientReference makes the comparison unknown: not delivered either way.
    CHECK(eval("patientReference <> 'https://patient.local/fhir/Patient/1'", appointment) == U);
    CHECK(eval("patientReference IS NULL OR patientReference <> 'x'", appointment) == T);

    CHECK(eval("resourceReference LIKE '%/ServiceRequest/%'", service_request) == T);
    CHECK(eval("resourceReference LIKE '%/ServiceRequest/%'", appointment) == F);
    CHECK(eval("patientReference LIKE 'https://patient.%/fhir/Patient/5508'", service_request) ==
          T);
    CHECK(eval("eventType IN ('created', 'updated') AND messageType = 'EHealthSimpleEvent'",
               appointment) == T);
    CHECK(eval("eventType = 'deleted' OR resourceProfile LIKE 'ehealth-%request'",
               service_request) == T);
    // Every eHealth property value is a string: "1.0" is not the number 1.0.
    CHECK(eval("messageVersion = '1.0'", service_request) == T);
    CHECK(eval("messageVersion = 1.0", service_request) == F);
    CHECK(eval("messageVersion > 0", service_request) == F);
    CHECK(eval("messageVersion <> 1.0", service_request) == F);
    // Properties are case-sensitive: the 2019 wiki's lowercase spellings are other names.
    CHECK(eval("eventtype = 'created'", service_request) == U);
  }

  // ---- the API
  // ---------------------------------------------------------------------------------------

  TEST_CASE("the compiled selector: text, identifiers, copies, the lookup") {
    auto r = compile("b = 1 OR a = 2 OR b = 3 OR c IS NULL OR a LIKE 'x'");
    REQUIRE(r.ok());
    CHECK(r->text() == "b = 1 OR a = 2 OR b = 3 OR c IS NULL OR a LIKE 'x'");
    REQUIRE(r->identifier_count() == 3);
    CHECK(r->identifier(0) == "b");
    CHECK(r->identifier(1) == "a");
    CHECK(r->identifier(2) == "c");
    CHECK(r->identifier(3).empty());
    CHECK_FALSE(r->empty());
    // The lookup is asked for each reference, left to right, and no further than needed (OR
    // stops at the first TRUE).
    std::vector<std::string> asked;
    auto lookup = [&](std::string_view name) {
      asked.emplace_back(name);
      return name == "a" ? property_value::exact(2) : property_value::null();
    };
    CHECK(r->evaluate(lookup) == T);
    CHECK(asked == std::vector<std::string>{"b", "a"});
    // Copies share the compiled program and outlive the result they came from.
    re::selector copy;
    {
      auto moved = compile("s = 'abc' AND s LIKE 'a%' AND s IN ('abc')");
      REQUIRE(moved.ok());
      copy = std::move(moved).value();
    }
    re::selector second = copy;
    CHECK(run(copy, {{"s", str("abc")}}) == T);
    CHECK(run(second, {{"s", str("abd")}}) == F);
    // A lookup returning another type than property_value is converted.
    CHECK(copy.matches([](std::string_view) { return property_value::string("abc"); }));
  }

  TEST_CASE("one compiled selector evaluated from several threads at once") {
    auto r = compile("a BETWEEN 1 AND 100 AND s LIKE 'x%' AND t IN ('p', 'q')");
    REQUIRE(r.ok());
    const re::selector& s = *r;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20000; ++i) {
          std::int64_t a = (i + t) % 120;
          bool expect = a >= 1 && a <= 100 && (i % 3 != 0);
          std::string sv = i % 3 == 0 ? "yes" : "xyz";
          tri got = s.evaluate([&](std::string_view name) {
            if (name == "a") return property_value::exact(a);
            if (name == "s") return property_value::string(sv);
            return property_value::string("q");
          });
          if (got != (expect ? T : F)) wrong.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong.load() == 0);
  }

  TEST_CASE("evaluating allocates nothing") {
    // The counter works: an allocation inside the scope is seen.
    counted_allocations = 0;
    counting = true;
    auto* probe = new std::string(100, 'x');
    counting = false;
    delete probe;
    REQUIRE(counted_allocations.load() >= 1);

    std::vector<re::selector> selectors;
    for (const std::string& text : {
             std::string("eventType = 'created' AND resourceProfile IN "
                         "('ehealth-careplan','ehealth-episodeofcare')"),
             std::string(
                 "patientReference IS NOT NULL AND resourceReference LIKE '%/ServiceRequest/%'"),
             std::string("n BETWEEN -5 AND 5.5 OR (n * 3 + 1) / 2 <> 7 OR -n < 0"),
             std::string("NOT (s NOT LIKE 'a!_%b_' ESCAPE '!') OR s IN ('x', 'y', 'z') OR b"),
             std::string("d / 0.0 > 1 OR n / 0 = 1 OR s > n OR missing IS NULL"),
             "a OR b AND c BETWEEN d AND e + f * " + repeat("(g + h * ", 25) + "i" +
                 repeat(")", 25),
         }) {
      auto r = compile(text);
      REQUIRE_MESSAGE(r.ok(), text);
      selectors.push_back(*r);
    }
    REQUIRE(selectors.back().max_stack_depth() > 48);  // the large evaluation stack too
    const std::string long_value(300, 'a');
    message messages[] = {
        {{"eventType", str("created")}, {"resourceProfile", str("ehealth-careplan")}},
        {{"patientReference", str("p")}, {"resourceReference", str("x/ServiceRequest/1")}},
        {{"n", lng(3)}, {"s", str("a_xbc")}, {"d", dbl(1.5)}, {"b", boo(true)}},
        {{"n", dbl(-2.5)}, {"s", str(long_value)}, {"c", lng(1)}, {"e", lng(1)}},
        {},
    };
    const message* first = std::begin(messages);
    long evaluations = 0, matched = 0;
    counted_allocations = 0;
    counting = true;
    for (int round = 0; round < 2000; ++round) {
      for (const auto& s : selectors) {
        for (const message* m = first; m != std::end(messages); ++m) {
          tri t = s.evaluate([m](std::string_view name) {
            auto it = m->find(name);
            return it == m->end() ? property_value::null() : it->second.view();
          });
          matched += t == T;
          ++evaluations;
        }
      }
    }
    counting = false;
    CHECK(counted_allocations.load() == 0);
    CHECK(evaluations == 2000L * 6 * 5);
    CHECK(matched > 0);
  }

}  // TEST_SUITE
