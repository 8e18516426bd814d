#include "flows/resource_events/selector_cli.hpp"

#include "core/error.hpp"
#include "flows/resource_events/selector.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <map>
#include <ostream>
#include <string>

namespace medflow::flows::resource_events {

namespace {

using json = nlohmann::json;

struct stored_value {
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
      case property_value::kind::null:
        break;
    }
    return property_value::null();
  }
};

using property_map = std::map<std::string, stored_value, std::less<>>;

// Reads one flat JSON object into properties. Nothing nests below the object's values, so the
// depth is bounded by refusing any array or object inside it.
class property_reader final : public nlohmann::json_sax<json> {
 public:
  explicit property_reader(property_map& out) : out_(out) {}
  const std::string& problem() const { return problem_; }

  bool null() override { return put({}); }
  bool boolean(bool b) override {
    stored_value v;
    v.type = property_value::kind::boolean;
    v.boolean = b;
    return put(std::move(v));
  }
  bool number_integer(number_integer_t i) override {
    stored_value v;
    v.type = property_value::kind::exact;
    v.exact = i;
    return put(std::move(v));
  }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > static_cast<number_unsigned_t>(std::numeric_limits<std::int64_t>::max())) {
      return refuse(std::to_string(u) + " is out of the range of long");
    }
    return number_integer(static_cast<std::int64_t>(u));
  }
  bool number_float(number_float_t d, const string_t& raw) override {
    // nlohmann reads an integer too big for 64 bits as a double; it is still an integer.
    if (raw.find_first_of(".eE") == string_t::npos) {
      return refuse(raw + " is out of the range of long");
    }
    stored_value v;
    v.type = property_value::kind::approximate;
    v.approximate = d;
    return put(std::move(v));
  }
  bool string(string_t& s) override {
    stored_value v;
    v.type = property_value::kind::string;
    v.text = std::move(s);
    return put(std::move(v));
  }
  bool binary(binary_t&) override { return refuse("binary values are not properties"); }
  bool start_object(std::size_t) override {
    if (!started_) {
      started_ = true;
      return true;
    }
    return nested("an object");
  }
  bool key(string_t& k) override {
    if (out_.count(k) != 0) {
      problem_ = "property '" + k + "' appears twice";
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override {
    if (!started_) {
      problem_ = "the properties must be a JSON object";
      return false;
    }
    return nested("an array");
  }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) override {
    problem_ = json_error_text(e);
    return false;
  }

 private:
  bool put(stored_value v) {
    if (!started_) {
      problem_ = "the properties must be a JSON object";
      return false;
    }
    out_.emplace(key_, std::move(v));
    return true;
  }
  bool refuse(const std::string& why) {
    problem_ = started_ ? "property '" + key_ + "': " + why : why;
    return false;
  }
  bool nested(const char* what) {
    problem_ = "property '" + key_ + "' is " + what +
               "; a property is a string, a number, a boolean or null";
    return false;
  }

  property_map& out_;
  std::string key_;
  std::string problem_;
  bool started_ = false;
};

}  // namespace

int selector_command(std::string_view selector_text, std::string_view properties_json,
                     std::ostream& out, std::ostream& err) {
  auto compiled = compile(selector_text);
  if (!compiled) {
    err << "medflowd selector: invalid selector: " << compiled.err().message << "\n";
    return 2;
  }
  if (properties_json.size() > max_properties_json_bytes) {
    err << "medflowd selector: invalid properties: " << properties_json.size()
        << " bytes of JSON, more than the limit of " << max_properties_json_bytes << "\n";
    return 2;
  }
  property_map properties;
  property_reader reader(properties);
  bool parsed = json::sax_parse(properties_json.begin(), properties_json.end(), &reader);
  if (!parsed) {
    err << "medflowd selector: invalid properties: " << reader.problem() << "\n";
    return 2;
  }
  tri t = compiled->evaluate([&](std::string_view name) {
    auto it = properties.find(name);
    return it == properties.end() ? property_value::null() : it->second.view();
  });
  out << to_string(t) << "\n";
  return 0;
}

}  // namespace medflow::flows::resource_events
