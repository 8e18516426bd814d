// libFuzzer target for the configuration loader (src/core/config.cpp): the --config file (JSON
// with comments) and the environment and --set flags over it.
//
// Input, by its first byte:
// - 'F': the rest is the config file's text;
// - anything else: the rest is lines; "NAME=VALUE" lines starting with MEDFLOW_ (or one of the
//   AgP aliases) are the environment, every other line is an argument ("--config" ones are
//   dropped: they would read arbitrary files).
// These must hold: loading either succeeds or throws config_error (never another exception),
// and a loaded configuration has every key with a value of its type within its bounds and
// allowed values.
#include "core/config.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using medflow::config;
using medflow::config_error;
using medflow::config_key;

void require(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size() > 2000 ? 2000 : input.size()), input.data());
  std::abort();
}

// One file per process, rewritten for every input, removed at exit.
struct temp_file {
  std::string path;
  temp_file() {
    char name[] = "/tmp/medflow-config-fuzz-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) std::abort();
    close(fd);
    path = name;
  }
  ~temp_file() { unlink(path.c_str()); }
};

const std::string& config_path() {
  static const temp_file file;
  return file.path;
}

void check_loaded(const config& c, std::string_view input) {
  for (const config_key& k : medflow::config_keys()) {
    const auto& v = c.value(k.name);
    switch (k.type) {
      case config_key::kind::integer:
        require(v.is_number_integer(), "an integer key holds something else", input);
        break;
      case config_key::kind::number:
        require(v.is_number(), "a number key holds something else", input);
        break;
      case config_key::kind::boolean:
        require(v.is_boolean(), "a boolean key holds something else", input);
        break;
      case config_key::kind::string:
        require(v.is_string(), "a string key holds something else", input);
        if (!k.one_of.empty()) {
          bool allowed = false;
          for (const auto& o : k.one_of) allowed = allowed || v.get<std::string>() == o;
          require(allowed, "a string key holds a value not allowed", input);
        }
        break;
    }
    if (v.is_number()) {
      double d = v.get<double>();
      require(!k.min || d >= *k.min, "a key below its minimum", input);
      require(!k.max || d <= *k.max, "a key above its maximum", input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  if (input[0] == 'F') {
    FILE* f = std::fopen(config_path().c_str(), "wb");
    if (!f) std::abort();
    std::fwrite(input.data() + 1, 1, input.size() - 1, f);
    std::fclose(f);
    args = {"--config", config_path()};
  } else {
    std::string_view rest = input.substr(1);
    while (!rest.empty()) {
      std::size_t nl = rest.find('\n');
      std::string line(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      auto eq = line.find('=');
      bool env_like = eq != std::string::npos && eq > 0 && line[0] != '-';
      if (env_like) {
        env[line.substr(0, eq)] = line.substr(eq + 1);
      } else if (line.rfind("--config", 0) != 0 && line != "-c") {
        args.push_back(line);
      }
    }
  }
  try {
    config::cli cli;
    config c = config::load(args, env, &cli);
    check_loaded(c, input);
  } catch (const config_error&) {
  }
  return 0;
}
