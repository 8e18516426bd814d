// How HRI's Go server (Echo's binder over encoding/json, go-playground/validator) turns a
// request into either a struct or a 400 text, reproduced so medflow's clients read the same
// texts: syntax errors with Go's scanner messages and offsets, "unexpected EOF", type mismatches
// named with Go's type names, case-insensitive field matching, null leaving a field alone, and
// the validator's "invalid request arguments" list. Internal to the batches flow.
#pragma once

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace medflow::flows::hri::go {

using json = nlohmann::json;

// strconv.Quote (with the quotes).
std::string quote(std::string_view s);
// encoding/json's quoteChar: how a syntax error names the offending byte ('x', '\n', '\'').
std::string quote_char(unsigned char c);
// go-playground's en locale number format: 3600000 -> "3,600,000".
std::string group_digits(int64_t n);

// A JSON value's kind as encoding/json names it in an UnmarshalTypeError.
enum class kind { null, boolean, number, string, array, object };
const char* kind_name(kind k);

struct member {
  std::string key;  // unquoted
  kind k = kind::null;
  json value;           // decoded; invalid UTF-8 and lone surrogates become U+FFFD, as in Go
  std::string literal;  // a number's text as written ("number 1.5" in type errors)
};

// The first JSON value of a request body, decoded as json.Decoder does (whatever follows it is
// never read, so it is ignored).
struct document {
  bool empty = false;  // no body: Echo binds nothing and leaves every field zero
  kind top = kind::null;
  size_t top_offset = 0;        // the offset Go reports for a value that is not an object
  std::vector<member> members;  // of a top-level object, in document order
};

// The document, or Echo's error text for a body that is not JSON: "unable to parse request body
// due to unexpected EOF" (HRI's own rewording), "code=400, message=Syntax error: offset=2,
// error=invalid character 'x' looking for beginning of object key string, internal=...", or
// "code=400, message=EOF, internal=EOF" for a body of blanks. Containers nested deeper than
// max_depth (json.max_depth by default; Go's own limit is 10000) are a syntax error at the
// opening bracket: "... error=nesting deeper than 256 levels (json.max_depth), ...".
std::variant<document, std::string> decode(std::string_view body);
std::variant<document, std::string> decode(std::string_view body, size_t max_depth);

// A field of a Go request struct: its json name and Go type.
enum class go_type { string, int_, int64, string_ptr, int_ptr, int64_ptr, map };
struct field {
  const char* name;
  go_type type;
};
// A bound field: `present` is Go's "non-nil" for pointers and maps, "assigned" otherwise.
struct bound {
  bool present = false;
  json value;  // a string, an integer or an object
};

// Binds the document's members to the fields like encoding/json: exact name first, else a
// case-insensitive match; later duplicates win (objects merge into the map, as Go reuses it);
// the first type mismatch in document order is the error, reworded by HRI's binder to
// "invalid request param \"<field>\": expected type <go type>, but received type <kind>". A top
// value that is not an object gives Echo's raw text (HRI's rewording does not match it).
std::optional<std::string> bind(const document& doc, const char* go_struct,
                                const std::vector<field>& fields, std::vector<bound>& out);

// The validator's messages for one request: each "<field> (<where>) <message>", sorted and
// joined under "invalid request arguments:".
class violations {
 public:
  void body(const char* field, const std::string& message);
  void query(const char* field, const std::string& message);
  void path(const char* field, const std::string& message);
  bool empty() const { return list_.empty(); }
  std::optional<error> to_error() const;

 private:
  std::vector<std::string> list_;
};

// HRI's injection check: "=<>[]{} are refused in names, topics, data types and search terms.
bool has_injection_chars(std::string_view s);
extern const char* const injection_message;

}  // namespace medflow::flows::hri::go
