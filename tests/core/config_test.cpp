#include "core/config.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using medflow::config;
using medflow::config_error;

namespace {
std::string load_error(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}) {
  try {
    config::load(args, env);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("defaults come from the key registry") {
  auto c = config::load({}, {});
  CHECK(c.integer("http.port") == 8080);
  CHECK(c.string("http.host") == "127.0.0.1");
  CHECK(c.string("bus.backend") == "embedded");
  CHECK(c.string("store.data_dir") == "./var");
}

TEST_CASE("file < environment < flags") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << "// a comment\n{\"http\": {\"port\": 9001, \"threads\": 8}}\n";
  auto c = config::load({"--config", path}, {});
  CHECK(c.integer("http.port") == 9001);
  CHECK(c.integer("http.threads") == 8);
  c = config::load({"--config", path}, {{"MEDFLOW_HTTP_PORT", "9002"}});
  CHECK(c.integer("http.port") == 9002);
  c = config::load({"--config", path, "--port", "9003"}, {{"MEDFLOW_HTTP_PORT", "9002"}});
  CHECK(c.integer("http.port") == 9003);
  c = config::load({"--set", "http.port=9004", "--set=store.synchronous=NORMAL"}, {});
  CHECK(c.integer("http.port") == 9004);
  CHECK(c.string("store.synchronous") == "NORMAL");
}

TEST_CASE("short flags map to keys") {
  auto c = config::load({"--data-dir", "/tmp/x", "--kafka-brokers", "h:9092"}, {});
  CHECK(c.string("store.data_dir") == "/tmp/x");
  CHECK(c.string("bus.backend") == "kafka");
  CHECK(c.string("bus.kafka.brokers") == "h:9092");
}

TEST_CASE("environment names: dots and underscores become underscores, upper case") {
  CHECK(config::env_name("a.b_c") == "MEDFLOW_A_B_C");
  CHECK(config::env_name("bus.kafka.brokers") == "MEDFLOW_BUS_KAFKA_BROKERS");
  auto c = config::load({}, {{"MEDFLOW_STORE_GROUP_COMMIT_MAX", "42"}});
  CHECK(c.integer("store.group_commit_max") == 42);
}

TEST_CASE("invalid values are refused with the key and the reason") {
  CHECK(load_error({"--port", "abc"}) ==
        "invalid value for http.port (from --set http.port): expected an integer, got \"abc\"");
  CHECK(load_error({"--port", "70000"}) ==
        "invalid value for http.port (from --set http.port): must be at most 65535, got 70000");
  CHECK(load_error({}, {{"MEDFLOW_STORE_SYNCHRONOUS", "SOMETIMES"}}) ==
        "invalid value for store.synchronous (from MEDFLOW_STORE_SYNCHRONOUS): must be one of "
        "OFF, NORMAL, FULL, got \"SOMETIMES\"");
  CHECK(load_error({"--set", "nope.key=1"}) == "unknown configuration key nope.key (from --set)");
  CHECK(load_error({"--set", "http.port"}) == "--set expects key=value, got \"http.port\"");
  CHECK(load_error({"--frobnicate"}) == "unknown argument \"--frobnicate\" (see --help)");
  CHECK(load_error({"--config", "/nonexistent/medflow.json"}) ==
        "cannot read config file /nonexistent/medflow.json");
  CHECK(load_error({"--set", "bus.backend=kafka"}) ==
        "invalid value for bus.kafka.brokers: must be set when bus.backend is kafka");
}

TEST_CASE("store.backend=postgres needs the Kafka bus and a URL") {
  CHECK(load_error({"--set", "store.backend=postgres", "--set",
                    "store.postgres.url=postgresql://h/d"}) ==
        "store.backend=postgres needs bus.backend=kafka: the embedded bus keeps its records in "
        "the SQLite store and serves one process (set bus.backend=kafka and bus.kafka.brokers, "
        "or store.backend=sqlite)");
  CHECK(load_error({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092"}) ==
        "invalid value for store.postgres.url: store.backend=postgres needs store.postgres.url "
        "or store.postgres.url_file");
  CHECK(load_error({"--set", "store.backend=mysql"}) ==
        "invalid value for store.backend (from --set store.backend): must be one of sqlite, "
        "postgres, got \"mysql\"");
  auto c = config::load({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092",
                        "--set", "store.postgres.url_file=/run/secrets/pg"},
                       {});
  CHECK(c.string("store.backend") == "postgres");
  CHECK(c.string("store.postgres.url_file") == "/run/secrets/pg");
}

TEST_CASE("a config file with an unknown key or a wrong type is refused") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << "{\"http\": {\"prot\": 1}}";
  CHECK(load_error({"--config", path}) == "unknown configuration key http.prot in " + path);
  std::ofstream(path) << "{\"http\": {\"port\": \"8080\"}}";
  CHECK(load_error({"--config", path}) ==
        "invalid value for http.port (from " + path + "): expected an integer, got \"8080\"");
  std::ofstream(path) << "{\"http\": ";
  CHECK(load_error({"--config", path}).rfind("config file " + path + " is not valid JSON", 0) == 0);
}

TEST_CASE("a config file nested too deep or with a number out of range is refused, naming it") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  {
    // Unknown keys are flattened level by level: a deep file used to recurse that deep.
    std::ofstream out(path);
    for (int i = 0; i < 100000; ++i) out << "{\"a\":";
    out << "1" << std::string(100000, '}');
  }
  CHECK(load_error({"--config", path}) ==
        "config file " + path + " is not valid JSON: nesting deeper than 256 levels "
        "(json.max_depth) at line 1, column 1281");
  std::ofstream(path) << "{\"http\": {\"port\": 1e999}}";
  CHECK(load_error({"--config", path}) ==
        "config file " + path + " is not valid JSON: number out of range at http.port: 1e999");
  // Comments may hold brackets and quotes.
  std::ofstream(path) << "// \"[[[\n{\"http\": /* { */ {\"port\": 9}}";
  CHECK(config::load({"--config", path}, {}).integer("http.port") == 9);
}

TEST_CASE("an integer key refuses numbers beyond int64 instead of wrapping them") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << "{\"http\": {\"port\": 1e300}}";
  CHECK(load_error({"--config", path}) ==
        "invalid value for http.port (from " + path + "): expected an integer, got 1e+300");
  std::ofstream(path) << "{\"http\": {\"port\": 18446744073709551615}}";
  CHECK(load_error({"--config", path}) ==
        "invalid value for http.port (from " + path +
            "): expected an integer, got 18446744073709551615 (out of range)");
  std::ofstream(path) << "{\"http\": {\"port\": 9000.0}}";
  CHECK(config::load({"--config", path}, {}).integer("http.port") == 9000);
}

TEST_CASE("json.max_depth is a key with bounds") {
  CHECK(config::defaults().integer("json.max_depth") == 256);
  CHECK(load_error({"--set", "json.max_depth=0"}) ==
        "invalid value for json.max_depth (from --set json.max_depth): must be at least 1, got 0");
  CHECK(load_error({"--set", "json.max_depth=10001"}).find("must be at most 10000") !=
        std::string::npos);
  CHECK(config::load({"--set", "json.max_depth=16"}, {}).integer("json.max_depth") == 16);
}

TEST_CASE("the rendered default file parses back to the defaults") {
  medflow::test::temp_dir dir;
  auto path = dir.file("d.json");
  std::ofstream(path) << config::render_default_file();
  auto from_file = config::load({"--config", path}, {});
  auto defaults = config::load({}, {});
  for (auto& k : medflow::config_keys())
    CHECK_MESSAGE(from_file.value(k.name) == defaults.value(k.name), k.name);
}

TEST_CASE("config/medflow.json in the repository is the generated default file") {
  std::ifstream in(std::string(MEDFLOW_SOURCE_DIR) + "/config/medflow.json");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK_MESSAGE(ss.str() == config::render_default_file(),
                "regenerate it: build/medflowd --print-config > config/medflow.json");
}

TEST_CASE("README.md documents every configuration key") {
  std::ifstream in(std::string(MEDFLOW_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto readme = ss.str();
  for (auto& k : medflow::config_keys())
    CHECK_MESSAGE(readme.find("| " + k.name + " |") != std::string::npos, k.name);
}
