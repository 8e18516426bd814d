#include "core/config.hpp"

#include "core/json.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

namespace medflow {

namespace {

const config_key* find_key(const std::string& name) {
  for (auto& k : config_keys())
    if (k.name == name) return &k;
  return nullptr;
}

const char* kind_name(config_key::kind k) {
  switch (k) {
    case config_key::kind::integer: return "an integer";
    case config_key::kind::number: return "a number";
    case config_key::kind::boolean: return "a boolean";
    case config_key::kind::string: return "a string";
    case config_key::kind::object: return "a JSON object";
  }
  return "?";
}

std::string fmt_bound(double v) {
  std::ostringstream os;
  os << std::llround(v) ;
  if (v != std::floor(v)) {
    os.str("");
    os << v;
  }
  return os.str();
}

constexpr size_t max_entries = 1000;        // of an object key
constexpr size_t max_entry_name = 256;
constexpr size_t max_secret_file_bytes = 1 << 20;
const std::string redacted = "<redacted>";

// A value as an error message may show it: never a secret's.
std::string shown(const config_key& k, const nlohmann::json& v) {
  return k.secret ? "a value (not shown: secret)" : v.dump();
}

// Checks type and limits; returns the normalised value or throws naming the key and `source`.
nlohmann::json check(const config_key& k, const nlohmann::json& v, const std::string& source) {
  auto fail = [&](const std::string& why) -> nlohmann::json {
    throw config_error("invalid value for " + k.name + " (from " + source + "): " + why);
  };
  nlohmann::json out;
  switch (k.type) {
    case config_key::kind::object:
      if (!v.is_object()) return fail("expected an object of name: value, got " + v.dump());
      if (v.size() > max_entries)
        return fail("more than " + std::to_string(max_entries) + " entries");
      out = nlohmann::json::object();
      for (auto& [name, e] : v.items()) {
        if (name.empty() || name.size() > max_entry_name)
          return fail("an entry name must have 1 to " + std::to_string(max_entry_name) +
                      " characters");
        if (e.is_string())
          out[name] = e;
        else if (e.is_boolean())
          out[name] = e.get<bool>() ? "true" : "false";
        else if (e.is_number())
          out[name] = e.dump();
        else
          return fail("entry " + name + ": expected a string, number or boolean, got " +
                      e.type_name());
      }
      break;
    case config_key::kind::integer:
      if (v.is_number_unsigned() &&
          v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return fail("expected an integer, got " + v.dump() + " (out of range)");
      } else if (v.is_number_integer()) {
        out = v.get<int64_t>();
      } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                 std::fabs(v.get<double>()) < 9.2e18) {  // beyond, the cast is undefined
        out = static_cast<int64_t>(v.get<double>());
      } else {
        return fail("expected an integer, got " + v.dump());
      }
      break;
    case config_key::kind::number:
      if (!v.is_number()) return fail("expected a number, got " + v.dump());
      out = v.get<double>();
      break;
    case config_key::kind::boolean:
      if (!v.is_boolean()) return fail("expected true or false, got " + v.dump());
      out = v;
      break;
    case config_key::kind::string:
      if (!v.is_string()) return fail("expected a string, got " + shown(k, v));
      out = v;
      if (!k.one_of.empty()) {
        bool found = false;
        std::string list;
        for (auto& o : k.one_of) {
          found = found || o == v.get<std::string>();
          list += (list.empty() ? "" : ", ") + o;
        }
        if (!found) return fail("must be one of " + list + ", got " + v.dump());
      }
      break;
  }
  if (out.is_number()) {
    double d = out.get<double>();
    if (k.min && d < *k.min) return fail("must be at least " + fmt_bound(*k.min) + ", got " + out.dump());
    if (k.max && d > *k.max) return fail("must be at most " + fmt_bound(*k.max) + ", got " + out.dump());
  }
  return out;
}

// Converts a text setting (environment or flag) to the key's JSON type.
nlohmann::json from_text(const config_key& k, const std::string& text, const std::string& source) {
  auto fail = [&]() -> nlohmann::json {
    throw config_error("invalid value for " + k.name + " (from " + source + "): expected " +
                       kind_name(k.type) + ", got \"" + text + "\"");
  };
  switch (k.type) {
    case config_key::kind::integer: {
      if (text.empty()) return fail();
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno != 0 || *end != '\0') return fail();
      return static_cast<int64_t>(v);
    }
    case config_key::kind::number: {
      if (text.empty()) return fail();
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (*end != '\0' || !std::isfinite(v)) return fail();
      return v;
    }
    case config_key::kind::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      return fail();
    case config_key::kind::string:
      return text;
    case config_key::kind::object: {
      auto parsed = parse_json_limited(text, default_max_json_depth);
      if (!parsed || !parsed->is_object()) return fail();
      return std::move(*parsed);
    }
  }
  return fail();
}

// A value from a file (a secret): the whole file, its trailing newline (and carriage return)
// trimmed.
std::string read_secret_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("cannot read " + what + " " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_secret_file_bytes)
      throw config_error(what + " " + path + " is larger than " +
                         std::to_string(max_secret_file_bytes) + " bytes");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "<key>_file" of a secret key: that key.
const config_key* secret_of_file_key(const std::string& name) {
  if (!ends_with(name, "_file")) return nullptr;
  const config_key* k = find_key(name.substr(0, name.size() - 5));
  return k && k->secret ? k : nullptr;
}

// "<object key>.<entry>": that key, and the entry's name in `entry`.
const config_key* object_of_entry(const std::string& name, std::string& entry) {
  for (auto& k : config_keys())
    if (k.type == config_key::kind::object && name.size() > k.name.size() + 1 &&
        name.compare(0, k.name.size() + 1, k.name + ".") == 0) {
      entry = name.substr(k.name.size() + 1);
      return &k;
    }
  return nullptr;
}

void flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, nlohmann::json>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string name = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && !find_key(name))
      flatten(*it, name, out);
    else
      out[name] = *it;
  }
}

}  // namespace

std::string config::env_name(const std::string& key) {
  std::string s = "MEDFLOW_";
  for (char c : key) s += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

config config::defaults(const std::map<std::string, nlohmann::json>& overrides) {
  config c;
  for (auto& k : config_keys()) c.values_[k.name] = k.def;
  for (auto& [name, v] : overrides) c.set(name, v);
  c.validate_all();
  return c;
}

void config::set(const std::string& key, const nlohmann::json& v) {
  auto* k = find_key(key);
  if (!k) throw config_error("unknown configuration key " + key);
  values_[key] = check(*k, v, "override");
}

config config::load(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env, cli* out_cli) {
  config c;
  for (auto& k : config_keys()) c.values_[k.name] = k.def;

  // Pass 1: flags. Settings are collected first so the file can be read before them.
  std::optional<std::string> file;
  std::vector<std::pair<std::string, std::string>> flag_settings;  // key, text
  cli flags;
  auto need_value = [&](size_t& i, const std::string& flag) -> std::string {
    if (i + 1 >= args.size()) throw config_error("flag " + flag + " needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos && a.rfind("--set", 0) != 0) {
        inline_value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
    }
    auto value = [&]() { return has_inline ? inline_value : need_value(i, a); };
    if (a == "--help" || a == "-h") {
      flags.help = true;
    } else if (a == "--version") {
      flags.version = true;
    } else if (a == "--print-config") {
      flags.print_config = true;
    } else if (a == "--print-default-config") {
      flags.print_default_config = true;
    } else if (a == "--config" || a == "-c") {
      file = value();
    } else if (a == "--port" || a == "-p") {
      flag_settings.emplace_back("http.port", value());
    } else if (a == "--data-dir") {
      flag_settings.emplace_back("store.data_dir", value());
    } else if (a == "--kafka-brokers") {
      flag_settings.emplace_back("bus.backend", "kafka");
      flag_settings.emplace_back("bus.kafka.brokers", value());
    } else if (a == "--set" || a.rfind("--set=", 0) == 0) {
      std::string kv = a == "--set" ? need_value(i, a) : a.substr(6);
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw config_error("--set expects key=value, got \"" + kv + "\"");
      flag_settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      throw config_error("unknown argument \"" + args[i] + "\" (see --help)");
    }
  }
  if (out_cli) *out_cli = flags;

  // A value for `name` from `source`: a key, an object key's entry, or a secret's file.
  std::map<std::string, std::pair<std::string, std::string>> secret_files;  // key -> path, source
  auto put = [&](const std::string& name, const nlohmann::json* v, const std::string* text,
                 const std::string& source) {
    std::string entry;
    if (const config_key* k = find_key(name)) {
      auto checked = check(*k, v ? *v : from_text(*k, *text, source), source);
      if (k->type == config_key::kind::object)
        for (auto& [n, e] : checked.items()) c.values_[k->name][n] = e;  // added over
      else
        c.values_[k->name] = std::move(checked);
    } else if (const config_key* sk = secret_of_file_key(name)) {
      if (v && !v->is_string())
        throw config_error("invalid value for " + name + " (from " + source +
                           "): expected a file name, got " + v->dump());
      secret_files[sk->name] = {v ? v->get<std::string>() : *text, source};
    } else if (const config_key* ok = object_of_entry(name, entry)) {
      auto checked = check(*ok, {{entry, v ? *v : nlohmann::json(*text)}}, source);
      for (auto& [n, e] : checked.items()) c.values_[ok->name][n] = e;
    } else {
      // v: from the file; text: from a flag (the environment names only known keys).
      throw config_error("unknown configuration key " + name +
                         (v ? " in " + source : std::string(" (from --set)")));
    }
  };

  // Pass 2: the file.
  if (file) {
    std::ifstream in(*file);
    if (!in) throw config_error("cannot read config file " + *file);
    std::stringstream ss;
    ss << in.rdbuf();
    // json.max_depth is not known before the file is read: the file has the default limit.
    auto parsed = parse_json_limited(ss.str(), default_max_json_depth, /*ignore_comments=*/true);
    if (!parsed)
      throw config_error("config file " + *file + " is not valid JSON: " + parsed.err().message);
    nlohmann::json j = std::move(*parsed);
    if (!j.is_object()) throw config_error("config file " + *file + " must hold a JSON object");
    std::map<std::string, nlohmann::json> flat;
    flatten(j, "", flat);
    for (auto& [name, v] : flat) put(name, &v, nullptr, *file);
  }

  // Pass 3: the environment.
  for (auto& k : config_keys()) {
    std::vector<std::string> names{env_name(k.name)};
    names.insert(names.end(), k.env_aliases.begin(), k.env_aliases.end());
    for (auto& n : names) {
      auto it = env.find(n);
      if (it != env.end()) put(k.name, nullptr, &it->second, n);
    }
    if (!k.secret) continue;
    auto it = env.find(env_name(k.name) + "_FILE");
    if (it != env.end()) put(k.name + "_file", nullptr, &it->second, it->first);
  }

  // Pass 4: flags win.
  for (auto& [name, text] : flag_settings) put(name, nullptr, &text, "--set " + name);

  // Secrets from files, once every source has been read.
  for (auto& [name, from] : secret_files) {
    auto& [path, source] = from;
    if (!c.values_[name].get<std::string>().empty())
      throw config_error("both " + name + " and " + name + "_file are set (" + name +
                         "_file from " + source + "): set one of them");
    auto* k = find_key(name);
    c.values_[name] = check(*k, read_secret_file(path, name + "_file"), source);
    c.from_files_.insert(name);
  }
  for (auto& k : config_keys()) {
    if (k.type != config_key::kind::object) continue;
    auto& obj = c.values_[k.name];
    std::vector<std::string> file_entries;
    for (auto& [n, e] : obj.items())
      if (ends_with(n, "_file")) file_entries.push_back(n);
    for (auto& n : file_entries) {
      auto base = n.substr(0, n.size() - 5);
      if (obj.contains(base))
        throw config_error("both " + k.name + "." + base + " and " + k.name + "." + n +
                           " are set: set one of them");
      obj[base] = read_secret_file(obj[n].get<std::string>(), k.name + "." + n);
      obj.erase(n);
      c.from_files_.insert(k.name + "." + base);
    }
  }
  c.validate_all();
  return c;
}

void config::validate_all() const {
  if (string("store.backend") == "postgres") {
    if (string("bus.backend") != "kafka")
      throw config_error(
          "store.backend=postgres needs bus.backend=kafka: the embedded bus keeps its records in "
          "the SQLite store and serves one process (set bus.backend=kafka and "
          "bus.kafka.brokers, or store.backend=sqlite)");
    if (string("store.postgres.url").empty())  // store.postgres.url_file has been read into it
      throw config_error(
          "invalid value for store.postgres.url: store.backend=postgres needs store.postgres.url "
          "or store.postgres.url_file");
    // A notification's claim is taken when its attempt starts; an attempt that outlived it
    // could be made again by another instance (an e-mail sent twice).
    auto attempt = std::max(integer("exams.notify.smtp_timeout_ms"),
                            integer("exams.notify.sms_timeout_ms"));
    if (integer("exams.notify.claim_ms") < 2 * attempt)
      throw config_error(
          "invalid value for exams.notify.claim_ms: with store.backend=postgres it must be at "
          "least twice the longest notification attempt (" + std::to_string(2 * attempt) +
          " ms for exams.notify.smtp_timeout_ms and exams.notify.sms_timeout_ms as set), or "
          "another instance may send a notification again while its attempt still runs");
  }
  if (string("bus.backend") == "kafka" && string("bus.kafka.brokers").empty())
    throw config_error("invalid value for bus.kafka.brokers: must be set when bus.backend is kafka");
  auto service = integer("aggregation.service_timeout_ms");
  auto aggregate = integer("aggregation.aggregate_timeout_ms");
  auto whole = integer("aggregation.aggregated_service_timeout_ms");
  if (!(whole > aggregate && aggregate > service))
    throw config_error(
        "invalid timeouts: AGGREGATED_SERVICE_TIMEOUT_MS (" + std::to_string(whole) +
        ") > AGGREGATE_TIMEOUT_MS (" + std::to_string(aggregate) + ") > SERVICE_TIMEOUT_MS (" +
        std::to_string(service) + ") must hold (aggregation.aggregated_service_timeout_ms, "
        "aggregation.aggregate_timeout_ms, aggregation.service_timeout_ms)");
  if (integer("shutdown.unready_ms") > integer("shutdown.timeout_ms"))
    throw config_error(
        "invalid value for shutdown.unready_ms: must not exceed shutdown.timeout_ms");
  if (integer("supervisor.backoff_initial_ms") > integer("supervisor.backoff_max_ms"))
    throw config_error(
        "invalid value for supervisor.backoff_initial_ms: must not exceed supervisor.backoff_max_ms");
}

const nlohmann::json& config::value(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw config_error("unknown configuration key " + key);
  return it->second;
}

int64_t config::integer(const std::string& key) const { return value(key).get<int64_t>(); }
double config::number(const std::string& key) const { return value(key).get<double>(); }
std::map<std::string, std::string> config::entries(const std::string& key) const {
  std::map<std::string, std::string> out;
  for (auto& [name, v] : value(key).items()) out[name] = v.get<std::string>();
  return out;
}

bool secret_entry(const std::string& entry) {
  std::string lower;
  for (char c : entry) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("password") != std::string::npos ||
         lower.find("secret") != std::string::npos || ends_with(lower, "key.pem") ||
         lower.find("oauthbearer.config") != std::string::npos;
}

bool config::boolean(const std::string& key) const { return value(key).get<bool>(); }
const std::string& config::string(const std::string& key) const {
  return value(key).get_ref<const std::string&>();
}

namespace {

// The configuration file's layout: keys grouped by their path, every leaf with its meaning as a
// comment above it, and the value `value_of` gives it.
std::string render(const std::string& header,
                   const std::function<nlohmann::json(const config_key&)>& value_of) {
  struct node {
    std::vector<std::pair<std::string, const config_key*>> leaves;  // ordered children
    std::vector<std::pair<std::string, node>> children;
    std::vector<std::string> order;
  };
  node root;
  for (auto& k : config_keys()) {
    node* n = &root;
    std::string rest = k.name;
    for (;;) {
      auto dot = rest.find('.');
      if (dot == std::string::npos) break;
      auto part = rest.substr(0, dot);
      rest = rest.substr(dot + 1);
      node* next = nullptr;
      for (auto& [name, child] : n->children)
        if (name == part) next = &child;
      if (!next) {
        n->children.emplace_back(part, node{});
        n->order.push_back("n:" + part);
        next = &n->children.back().second;
      }
      n = next;
    }
    n->leaves.emplace_back(rest, &k);
    n->order.push_back("l:" + rest);
  }
  std::ostringstream os;
  std::function<void(const node&, int)> emit = [&](const node& n, int depth) {
    std::string ind(static_cast<size_t>(depth) * 2, ' ');
    for (size_t i = 0; i < n.order.size(); ++i) {
      bool last = i + 1 == n.order.size();
      const auto& o = n.order[i];
      auto name = o.substr(2);
      if (o[0] == 'l') {
        for (auto& [lname, k] : n.leaves)
          if (lname == name) {
            os << ind << "// " << k->doc << '\n';
            os << ind << nlohmann::json(name).dump() << ": " << value_of(*k).dump()
               << (last ? "" : ",") << '\n';
          }
      } else {
        for (auto& [cname, child] : n.children)
          if (cname == name) {
            os << ind << nlohmann::json(name).dump() << ": {\n";
            emit(child, depth + 1);
            os << ind << "}" << (last ? "" : ",") << '\n';
          }
      }
    }
  };
  os << header;
  os << "{\n";
  emit(root, 1);
  os << "}\n";
  return os.str();
}

}  // namespace

std::string config::render_default_file() {
  return render(
      "// medflowd configuration: every key with its default. JSON with // comments.\n"
      "// Environment MEDFLOW_<KEY> (dots become underscores) and --set key=value override it.\n",
      [](const config_key& k) { return k.def; });
}

std::string config::render_effective() const {
  return render(
      "// medflowd's effective configuration (defaults < file < environment < flags); secrets "
      "and\n// values read from <key>_file files are shown as \"" + redacted + "\".\n",
      [this](const config_key& k) {
        nlohmann::json v = value(k.name);
        if (k.type == config_key::kind::object) {
          for (auto& [n, e] : v.items())
            if (secret_entry(n) || from_files_.count(k.name + "." + n)) e = redacted;
        } else if ((k.secret && !v.get<std::string>().empty()) || from_files_.count(k.name)) {
          v = redacted;
        }
        return v;
      });
}

std::string config::usage() {
  return "usage: medflowd [--config FILE] [--port N] [--data-dir DIR] [--kafka-brokers LIST]\n"
         "                [--set key=value]... [--print-config] [--print-default-config]\n"
         "                [--version] [--help]\n"
         "\n"
         "  --config FILE         read settings from FILE (JSON with // comments)\n"
         "  --port N              same as --set http.port=N\n"
         "  --data-dir DIR        same as --set store.data_dir=DIR\n"
         "  --kafka-brokers LIST  use the Kafka bus backend with these bootstrap servers\n"
         "  --set key=value       set any key; see --print-default-config for all keys\n"
         "  --set bus.kafka.properties.NAME=VALUE\n"
         "                        one librdkafka property (NAME as librdkafka spells it)\n"
         "  --print-config        print the effective configuration (file, environment and\n"
         "                        flags applied; secrets \"<redacted>\") and exit\n"
         "  --print-default-config\n"
         "                        print the default configuration file and exit\n"
         "\n"
         "Every key can also be set as MEDFLOW_<KEY> (e.g. MEDFLOW_HTTP_PORT=9000;\n"
         "MEDFLOW_BUS_KAFKA_PROPERTIES takes a JSON object). A secret (sasl.password,\n"
         "hri.auth.hs256_secret, ...) can be given as <key>_file: a file read at start.\n"
         "Precedence: defaults < config file < environment < flags.\n";
}

}  // namespace medflow
