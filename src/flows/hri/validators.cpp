// Record validators. The FHIR one checks the structure of an R4 Bundle in one SAX pass, without
// building a document: a record can be large and most of it (the resources' content) is never
// looked at.
#include "flows/hri/domain.hpp"

#include "core/json.hpp"

#include <array>

namespace medflow::flows::hri {

namespace {

// Accepts every event up to json.max_depth levels; remembers why parsing stopped.
struct syntax_only : nlohmann::json_sax<json> {
  std::string failure;
  size_t max_depth = max_json_depth();
  size_t depth = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& ex) override {
    failure = json_error_text(ex);
    return false;
  }

 private:
  bool open() {
    if (depth >= max_depth) {
      failure = json_nesting_text(max_depth);
      return false;
    }
    ++depth;
    return true;
  }
  bool close() {
    --depth;
    return true;
  }
};

class passthrough_validator : public validator {
 public:
  std::optional<std::string> check(std::string_view) const override { return std::nullopt; }
};

class json_validator : public validator {
 public:
  std::optional<std::string> check(std::string_view value) const override {
    syntax_only sax;
    if (json::sax_parse(value.begin(), value.end(), &sax)) return std::nullopt;
    return sax.failure;
  }
};

const std::array<const char*, 9> bundle_types = {
    "document", "message",   "transaction", "transaction-response", "batch", "batch-response",
    "history",  "searchset", "collection"};

// What a string-valued field holds, as far as the check cares.
struct text_field {
  enum class state { missing, not_string, value } s = state::missing;
  std::string value;
};

// Follows the path root -> entry[] -> entry -> resource -> resourceType and ignores the rest.
class bundle_sax : public nlohmann::json_sax<json> {
 public:
  std::string syntax_failure;
  bool root_is_object = false;
  bool seen_root = false;
  text_field resource_type, type;
  bool entry_present = false, entry_is_array = false;
  std::optional<std::string> entry_failure;  // the first entry with a problem

  bool null() override { return scalar(false, nullptr); }
  bool boolean(bool) override { return scalar(false, nullptr); }
  bool number_integer(number_integer_t) override { return scalar(false, nullptr); }
  bool number_unsigned(number_unsigned_t) override { return scalar(false, nullptr); }
  bool number_float(number_float_t, const string_t&) override { return scalar(false, nullptr); }
  bool string(string_t& s) override { return scalar(true, &s); }
  bool binary(binary_t&) override { return scalar(false, nullptr); }

  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }
  bool key(string_t& k) override {
    stack_.back().key = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& ex) override {
    syntax_failure = json_error_text(ex);
    return false;
  }

 private:
  enum class role { root, entries, entry, resource, other };
  struct frame {
    role r;
    bool object;
    std::string key;
    // For an entry: index, and what its "resource" and resource's "resourceType" held.
    size_t index = 0;
    bool resource_present = false;
    bool resource_is_object = false;
    text_field resource_type;
  };

  // The role a value takes in its parent, given the parent's current key or index.
  role child_role(bool object) const {
    if (stack_.empty()) return role::root;
    const frame& p = stack_.back();
    if (p.r == role::root && p.key == "entry" && !object) return role::entries;
    if (p.r == role::entries && object) return role::entry;
    if (p.r == role::entry && p.key == "resource" && object) return role::resource;
    return role::other;
  }

  // A value (scalar or container) appears in the current parent.
  void note_value(bool is_object, bool is_array, bool is_string, const std::string* s) {
    if (stack_.empty()) {
      seen_root = true;
      root_is_object = is_object;
      return;
    }
    frame& p = stack_.back();
    auto set_text = [&](text_field& f) {
      f.s = is_string ? text_field::state::value : text_field::state::not_string;
      f.value = is_string ? *s : std::string();
    };
    switch (p.r) {
      case role::root:
        if (p.key == "resourceType") set_text(resource_type);
        if (p.key == "type") set_text(type);
        if (p.key == "entry") {
          entry_present = true;
          entry_is_array = is_array;
        }
        break;
      case role::entries:
        if (!is_object) fail_entry(p.index, " is not an object");
        ++p.index;
        break;
      case role::entry:
        if (p.key == "resource") {
          p.resource_present = true;
          p.resource_is_object = is_object;
          p.resource_type = {};
        }
        break;
      case role::resource:
        if (p.key == "resourceType") set_text(stack_[stack_.size() - 2].resource_type);
        break;
      case role::other:
        break;
    }
  }

  bool scalar(bool is_string, const std::string* s) {
    note_value(false, false, is_string, s);
    return true;
  }

  // False (parsing stops) past json.max_depth: the frames would grow with the nesting.
  bool open(bool object) {
    if (stack_.size() >= max_depth_) {
      syntax_failure = json_nesting_text(max_depth_);
      return false;
    }
    role r = child_role(object);
    note_value(object, !object, false, nullptr);
    frame f{r, object, {}};
    if (r == role::entry) f.index = stack_.back().index - 1;
    stack_.push_back(std::move(f));
    return true;
  }

  bool close() {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.r == role::entry && f.resource_present) {
      if (!f.resource_is_object) {
        fail_entry(f.index, ".resource is not an object");
      } else if (f.resource_type.s == text_field::state::missing) {
        fail_entry(f.index, ".resource.resourceType is missing");
      } else if (f.resource_type.s == text_field::state::not_string) {
        fail_entry(f.index, ".resource.resourceType is not a string");
      } else if (f.resource_type.value.empty()) {
        fail_entry(f.index, ".resource.resourceType is empty");
      }
    }
    return true;
  }

  void fail_entry(size_t index, const char* what) {
    if (!entry_failure) entry_failure = "entry[" + std::to_string(index) + "]" + what;
  }

  std::vector<frame> stack_;
  size_t max_depth_ = max_json_depth();
};

class fhir_validator : public validator {
 public:
  std::optional<std::string> check(std::string_view value) const override {
    bundle_sax sax;
    if (!json::sax_parse(value.begin(), value.end(), &sax)) return sax.syntax_failure;
    if (!sax.root_is_object) return std::string("the record is not a JSON object");
    switch (sax.resource_type.s) {
      case text_field::state::missing:
        return std::string("resourceType is missing");
      case text_field::state::not_string:
        return std::string("resourceType is not a string");
      case text_field::state::value:
        if (sax.resource_type.value != "Bundle") {
          return "resourceType is '" + sax.resource_type.value + "', expected 'Bundle'";
        }
        break;
    }
    switch (sax.type.s) {
      case text_field::state::missing:
        return std::string("type is missing");
      case text_field::state::not_string:
        return std::string("type is not a string");
      case text_field::state::value: {
        bool known = false;
        for (const char* t : bundle_types) known = known || sax.type.value == t;
        if (!known) {
          return "type '" + sax.type.value +
                 "' is not a Bundle type (document, message, transaction, transaction-response, "
                 "batch, batch-response, history, searchset, collection)";
        }
        break;
      }
    }
    if (sax.entry_present && !sax.entry_is_array) return std::string("entry is not an array");
    if (sax.entry_failure) return sax.entry_failure;
    return std::nullopt;
  }
};

}  // namespace

bool known_validator(const std::string& kind) {
  return kind == "passthrough" || kind == "json" || kind == "fhir";
}

std::unique_ptr<validator> make_validator(const std::string& kind) {
  if (kind == "passthrough") return std::make_unique<passthrough_validator>();
  if (kind == "json") return std::make_unique<json_validator>();
  if (kind == "fhir") return std::make_unique<fhir_validator>();
  return nullptr;
}

}  // namespace medflow::flows::hri
