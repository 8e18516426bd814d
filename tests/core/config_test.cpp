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
  // On a shared store a notification's claim must outlast its attempt.
  CHECK(load_error({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092", "--set",
                    "store.postgres.url=postgresql://h/d", "--set",
                    "exams.notify.claim_ms=20000"}) ==
        "invalid value for exams.notify.claim_ms: with store.backend=postgres it must be at "
        "least twice the longest notification attempt (30000 ms for "
        "exams.notify.smtp_timeout_ms and exams.notify.sms_timeout_ms as set), or another "
        "instance may send a notification again while its attempt still runs");
  CHECK_NOTHROW(config::load({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092",
                              "--set", "store.postgres.url=postgresql://h/d", "--set",
                              "exams.notify.claim_ms=30000"},
                             {}));
  CHECK_NOTHROW(config::load({"--set", "exams.notify.claim_ms=20000"}, {}));  // SQLite: no claims
  CHECK(load_error({"--set", "store.backend=mysql"}) ==
        "invalid value for store.backend (from --set store.backend): must be one of sqlite, "
        "postgres, got \"mysql\"");
  // The URL is a secret: from a file (store.postgres.url_file) and redacted by --print-config.
  medflow::test::temp_dir dir;
  const std::string url_file = (dir.path() / "pg.url").string();
  std::ofstream(url_file) << "postgresql://medflow:pw@db:5432/medflow\n";
  auto c = config::load({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092",
                        "--set", "store.postgres.url_file=" + url_file},
                       {});
  CHECK(c.string("store.backend") == "postgres");
  CHECK(c.string("store.postgres.url") == "postgresql://medflow:pw@db:5432/medflow");
  CHECK(c.render_effective().find("medflow:pw") == std::string::npos);
  CHECK(load_error({"--set", "store.backend=postgres", "--kafka-brokers", "k:9092", "--set",
                    "store.postgres.url_file=/nonexistent/pg.url"})
            .find("store.postgres.url_file") != std::string::npos);
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
                "regenerate it: build/medflowd --print-default-config > config/medflow.json");
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

// -- bus.kafka.properties: an object key -------------------------------------------------------

TEST_CASE("an object key takes entries from the file, the environment and flags, each over the last") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << R"({"bus": {"kafka": {"properties": {
      "security.protocol": "SSL", "client.rack": "r1", "socket.keepalive.enable": true,
      "socket.timeout.ms": 30000}}}})";
  auto c = config::load({"--config", path}, {});
  auto p = c.entries("bus.kafka.properties");
  CHECK(p.size() == 4);
  CHECK(p["security.protocol"] == "SSL");
  CHECK(p["socket.keepalive.enable"] == "true");  // librdkafka takes text
  CHECK(p["socket.timeout.ms"] == "30000");
  c = config::load({"--config", path, "--set", "bus.kafka.properties.client.rack=r3",
                    "--set", "bus.kafka.properties.sasl.mechanisms=PLAIN"},
                   {{"MEDFLOW_BUS_KAFKA_PROPERTIES", R"({"client.rack": "r2", "acks": "all"})"}});
  p = c.entries("bus.kafka.properties");
  CHECK(p["security.protocol"] == "SSL");  // from the file
  CHECK(p["acks"] == "all");               // from the environment
  CHECK(p["client.rack"] == "r3");         // the flag wins
  CHECK(p["sasl.mechanisms"] == "PLAIN");
  c = config::load({"--set", R"(bus.kafka.properties={"a.b": "1"})"}, {});
  CHECK(c.entries("bus.kafka.properties") == std::map<std::string, std::string>{{"a.b", "1"}});
  CHECK(config::load({}, {}).entries("bus.kafka.properties").empty());
}

TEST_CASE("an object key refuses what is not name: text") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << R"({"bus": {"kafka": {"properties": {"ssl": {"ca": "x"}}}}})";
  CHECK(load_error({"--config", path}).find("bus.kafka.properties") != std::string::npos);
  std::ofstream(path) << R"({"bus": {"kafka": {"properties": "security.protocol=SSL"}}})";
  CHECK(load_error({"--config", path}).find("expected an object") != std::string::npos);
  CHECK(load_error({}, {{"MEDFLOW_BUS_KAFKA_PROPERTIES", "security.protocol=SSL"}})
            .find("MEDFLOW_BUS_KAFKA_PROPERTIES") != std::string::npos);
  CHECK(load_error({"--set", "bus.kafka.nope.x=1"}).find("unknown configuration key") !=
        std::string::npos);
}

// -- secrets -----------------------------------------------------------------------------------

TEST_CASE("a secret key given as <key>_file is read from the file, its trailing newline trimmed") {
  medflow::test::temp_dir dir;
  auto secret = dir.file("secret");
  std::ofstream(secret) << "s3cr3t with spaces \n";
  auto c = config::load({"--set", "hri.auth.hs256_secret_file=" + secret}, {});
  CHECK(c.string("hri.auth.hs256_secret") == "s3cr3t with spaces ");
  c = config::load({}, {{"MEDFLOW_EXAMS_JWT_KEY_FILE", secret}});
  CHECK(c.string("exams.jwt_key") == "s3cr3t with spaces ");
  auto path = dir.file("c.json");
  std::ofstream(path) << R"({"exams": {"crypto_key_file": ")" << secret << R"("}})";
  c = config::load({"--config", path}, {});
  CHECK(c.string("exams.crypto_key") == "s3cr3t with spaces ");
  std::ofstream(secret) << "windows\r\n";
  CHECK(config::load({"--set", "exams.result_token_key_file=" + secret}, {})
            .string("exams.result_token_key") == "windows");
}

TEST_CASE("a property given as <name>_file is read from the file") {
  medflow::test::temp_dir dir;
  auto secret = dir.file("kafka.password");
  std::ofstream(secret) << "hunter2\n";
  auto c = config::load({"--set", "bus.kafka.properties.sasl.password_file=" + secret}, {});
  auto p = c.entries("bus.kafka.properties");
  CHECK(p["sasl.password"] == "hunter2");
  CHECK(p.count("sasl.password_file") == 0);
}

TEST_CASE("a secret file that cannot be read, or a secret set twice, stops the start") {
  medflow::test::temp_dir dir;
  auto missing = dir.file("missing");
  auto err = load_error({"--set", "hri.auth.hs256_secret_file=" + missing});
  CHECK(err.find("hri.auth.hs256_secret_file") != std::string::npos);
  CHECK(err.find(missing) != std::string::npos);
  auto secret = dir.file("secret");
  std::ofstream(secret) << "x\n";
  err = load_error({"--set", "hri.auth.hs256_secret=y", "--set",
                    "hri.auth.hs256_secret_file=" + secret});
  CHECK(err.find("both hri.auth.hs256_secret and hri.auth.hs256_secret_file") != std::string::npos);
  err = load_error({"--set", "bus.kafka.properties.sasl.password=y", "--set",
                    "bus.kafka.properties.sasl.password_file=" + secret});
  CHECK(err.find("both bus.kafka.properties.sasl.password") != std::string::npos);
  // Only secrets have a _file form.
  CHECK(load_error({"--set", "http.host_file=" + secret}).find("unknown configuration key") !=
        std::string::npos);
}

TEST_CASE("the effective configuration is printed with the secrets redacted") {
  medflow::test::temp_dir dir;
  auto secret = dir.file("secret");
  std::ofstream(secret) << "from-a-file\n";
  auto c = config::load({"--port", "9123", "--set", "hri.auth.hs256_secret=plain-secret",
                         "--set", "exams.jwt_key_file=" + secret,
                         "--set", "bus.kafka.properties.sasl.password=kafka-pw",
                         "--set", "bus.kafka.properties.ssl.ca.pem_file=" + secret,
                         "--set", "bus.kafka.properties.client.rack=rack-9"},
                        {});
  auto text = c.render_effective();
  CHECK(text.find("plain-secret") == std::string::npos);
  CHECK(text.find("from-a-file") == std::string::npos);
  CHECK(text.find("kafka-pw") == std::string::npos);
  CHECK(text.find("rack-9") != std::string::npos);  // not a secret
  CHECK(text.find("\"port\": 9123") != std::string::npos);
  // It is a configuration file again: read back, every value but the secrets is the same.
  auto path = dir.file("effective.json");
  std::ofstream(path) << text;
  auto back = config::load({"--config", path}, {});
  CHECK(back.integer("http.port") == 9123);
  CHECK(back.string("hri.auth.hs256_secret") == "<redacted>");
  CHECK(back.string("exams.jwt_key") == "<redacted>");
  CHECK(back.string("exams.crypto_key") == "");  // an empty secret is shown as empty
  auto p = back.entries("bus.kafka.properties");
  CHECK(p["sasl.password"] == "<redacted>");
  CHECK(p["ssl.ca.pem"] == "<redacted>");  // read from a file
  CHECK(p["client.rack"] == "rack-9");
}

TEST_CASE("an error about a secret key does not show its value") {
  medflow::test::temp_dir dir;
  auto path = dir.file("c.json");
  std::ofstream(path) << R"({"hri": {"auth": {"hs256_secret": 123456789}}})";
  auto err = load_error({"--config", path});
  CHECK(err.find("hri.auth.hs256_secret") != std::string::npos);
  CHECK(err.find("123456789") == std::string::npos);
}

TEST_CASE("shutdown.unready_ms fits in shutdown.timeout_ms") {
  CHECK(load_error({"--set", "shutdown.timeout_ms=1000", "--set", "shutdown.unready_ms=2000"})
            .find("shutdown.unready_ms") != std::string::npos);
  CHECK(load_error({"--set", "shutdown.timeout_ms=1000", "--set", "shutdown.unready_ms=1000"})
            .empty());
}
