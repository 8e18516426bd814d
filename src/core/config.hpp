// Configuration: one registry of keys (name, type, default, meaning, limits), read from
// built-in defaults < config file < environment < command-line flags. Key `a.b_c` is the
// variable MEDFLOW_A_B_C and the flag `--set a.b_c=value`. An invalid value stops start-up
// with a message that names the key and what is wrong.
//
// An object key (bus.kafka.properties) holds name -> text entries: in the file an object, in
// the environment a JSON object, as flags `--set <key>.<entry>=value` or `--set <key>={json}`;
// each source adds its entries over the ones before.
//
// Secrets: a key marked `secret` may instead be given as `<key>_file` (file, environment
// MEDFLOW_<KEY>_FILE, flag), a file read at start with its trailing newline trimmed; so may any
// entry of an object key (`<entry>_file`). Secrets are never in an error message, and
// render_effective() prints them as "<redacted>".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace medflow {

struct config_key {
  enum class kind { integer, number, boolean, string, object };
  std::string name;                      // dotted, e.g. "http.port"
  kind type;
  nlohmann::json def;                    // default value
  std::string doc;                       // one line: what it means
  std::optional<double> min;             // inclusive bounds for numbers
  std::optional<double> max;
  std::vector<std::string> one_of;       // allowed values for strings (empty: any)
  std::vector<std::string> env_aliases;  // extra environment names (e.g. SERVICE_TIMEOUT_MS)
  bool secret = false;                   // also as <name>_file; redacted when printed
};

// Whether an entry of an object key holds a secret (redacted when printed): its name mentions
// a password or a secret, or it is a private key (e.g. sasl.password, ssl.key.password).
bool secret_entry(const std::string& entry);

// Every key medflowd knows, in the order the default file lists them.
const std::vector<config_key>& config_keys();

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class config {
 public:
  // What the command line asked for besides settings.
  struct cli {
    bool help = false;
    bool print_config = false;          // the effective configuration, secrets redacted
    bool print_default_config = false;  // the default file (config/medflow.json)
    bool version = false;
  };

  // Builds the configuration from argv-style arguments (without argv[0]) and an environment.
  // Throws config_error.
  static config load(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env, cli* out_cli = nullptr);
  // Defaults only, plus overrides (for tests and tools).
  static config defaults(const std::map<std::string, nlohmann::json>& overrides = {});

  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  const std::string& string(const std::string& key) const;
  const nlohmann::json& value(const std::string& key) const;
  // An object key's entries (e.g. bus.kafka.properties).
  std::map<std::string, std::string> entries(const std::string& key) const;
  // Sets a validated value (throws config_error).
  void set(const std::string& key, const nlohmann::json& v);

  // The environment variable for a key: "a.b_c" -> "MEDFLOW_A_B_C".
  static std::string env_name(const std::string& key);
  // The default config file: nested JSON with a `//` comment above every key.
  static std::string render_default_file();
  // The same layout with this configuration's values, secrets as "<redacted>".
  std::string render_effective() const;
  static std::string usage();

 private:
  void validate_all() const;
  std::map<std::string, nlohmann::json> values_;
  std::set<std::string> from_files_;  // keys and "<object key>.<entry>" read from files
};

}  // namespace medflow
