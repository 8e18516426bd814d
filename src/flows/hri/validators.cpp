// Record validators. The FHIR one checks the structure of an R4 Bundle in one SAX pass, without
// building a document: a record can be large and most of it (the resources' content) is never
// looked at. A record of at most fast_path_max_bytes is first read by simdjson (core/json_fast);
// when simdjson takes it, the same checks run on its read-only document, and only a record it
// refuses takes the SAX pass, so what is refused and why is nlohmann's in every case.
#include "flows/hri/domain.hpp"

#include "core/json.hpp"
#include "core/json_fast.hpp"

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

// Records up to this size take the fast path (a batch's records are typically a few kB); the
// parser of each consumer thread keeps buffers for the largest, so it bounds that memory.
constexpr size_t fast_path_max_bytes = 64 * 1024;

class json_validator : public validator {
 public:
  std::optional<std::string> check(std::string_view value) const override {
    if (json_fast::parse(value, fast_path_max_bytes)) return std::nullopt;
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

// What the FHIR check looks at, however the record was read: the fields of an object in the
// order of the text, a repeated key's last value winning.
struct bundle_facts {
  bool root_is_object = false;
  text_field resource_type, type;
  bool entry_present = false, entry_is_array = false;
  std::optional<std::string> entry_failure;  // the first entry with a problem
};

// Follows the path root -> entry[] -> entry -> resource -> resourceType and ignores the rest.
class bundle_sax : public nlohmann::json_sax<json> {
 public:
  std::string syntax_failure;
  bundle_facts found;

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
      found.root_is_object = is_object;
      return;
    }
    frame& p = stack_.back();
    auto set_text = [&](text_field& f) {
      f.s = is_string ? text_field::state::value : text_field::state::not_string;
      f.value = is_string ? *s : std::string();
    };
    switch (p.r) {
      case role::root:
        if (p.key == "resourceType") set_text(found.resource_type);
        if (p.key == "type") set_text(found.type);
        if (p.key == "entry") {
          found.entry_present = true;
          found.entry_is_array = is_array;
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
    if (!found.entry_failure)
      found.entry_failure = "entry[" + std::to_string(index) + "]" + what;
  }

  std::vector<frame> stack_;
  size_t max_depth_ = max_json_depth();
};

// bundle_sax's facts from simdjson's document of a record that parsed.
void read_text(text_field& f, simdjson::dom::element v) {
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    f.s = text_field::state::value;
    f.value.assign(s);
  } else {
    f.s = text_field::state::not_string;
    f.value.clear();
  }
}

bundle_facts read_bundle(simdjson::dom::element root) {
  bundle_facts b;
  simdjson::dom::object fields;
  if (root.get_object().get(fields) != simdjson::SUCCESS) return b;
  b.root_is_object = true;
  auto fail_entry = [&](size_t index, const char* what) {
    if (!b.entry_failure) b.entry_failure = "entry[" + std::to_string(index) + "]" + what;
  };
  for (auto field : fields) {
    if (field.key == "resourceType") read_text(b.resource_type, field.value);
    if (field.key == "type") read_text(b.type, field.value);
    if (field.key != "entry") continue;
    b.entry_present = true;
    simdjson::dom::array entries;
    b.entry_is_array = field.value.get_array().get(entries) == simdjson::SUCCESS;
    if (!b.entry_is_array) continue;
    size_t index = 0;
    for (auto entry : entries) {
      simdjson::dom::object entry_fields;
      if (entry.get_object().get(entry_fields) != simdjson::SUCCESS) {
        fail_entry(index++, " is not an object");
        continue;
      }
      bool resource_present = false, resource_is_object = false;
      text_field resource_type;
      for (auto ef : entry_fields) {
        if (ef.key != "resource") continue;
        resource_present = true;
        resource_type = {};
        simdjson::dom::object resource;
        resource_is_object = ef.value.get_object().get(resource) == simdjson::SUCCESS;
        if (!resource_is_object) continue;
        for (auto rf : resource)
          if (rf.key == "resourceType") read_text(resource_type, rf.value);
      }
      if (resource_present) {
        if (!resource_is_object) fail_entry(index, ".resource is not an object");
        else if (resource_type.s == text_field::state::missing)
          fail_entry(index, ".resource.resourceType is missing");
        else if (resource_type.s == text_field::state::not_string)
          fail_entry(index, ".resource.resourceType is not a string");
        else if (resource_type.value.empty())
          fail_entry(index, ".resource.resourceType is empty");
      }
      ++index;
    }
  }
  return b;
}

class fhir_validator : public validator {
 public:
  std::optional<std::string> check(std::string_view value) const override {
    if (auto doc = json_fast::parse(value, fast_path_max_bytes)) return judge(read_bundle(*doc));
    bundle_sax sax;
    if (!json::sax_parse(value.begin(), value.end(), &sax)) return sax.syntax_failure;
    return judge(sax.found);
  }

 private:
  static std::optional<std::string> judge(const bundle_facts& b) {
    if (!b.root_is_object) return std::string("the record is not a JSON object");
    switch (b.resource_type.s) {
      case text_field::state::missing:
        return std::string("resourceType is missing");
      case text_field::state::not_string:
        return std::string("resourceType is not a string");
      case text_field::state::value:
        if (b.resource_type.value != "Bundle") {
          return "resourceType is '" + b.resource_type.value + "', expected 'Bundle'";
        }
        break;
    }
    switch (b.type.s) {
      case text_field::state::missing:
        return std::string("type is missing");
      case text_field::state::not_string:
        return std::string("type is not a string");
      case text_field::state::value: {
        bool known = false;
        for (const char* t : bundle_types) known = known || b.type.value == t;
        if (!known) {
          return "type '" + b.type.value +
                 "' is not a Bundle type (document, message, transaction, transaction-response, "
                 "batch, batch-response, history, searchset, collection)";
        }
        break;
      }
    }
    if (b.entry_present && !b.entry_is_array) return std::string("entry is not an array");
    if (b.entry_failure) return b.entry_failure;
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
