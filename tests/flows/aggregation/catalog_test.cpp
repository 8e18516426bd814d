// The configuration files: a directory of service files and the TAK, loaded the way start-up
// loads them; a file that is present but wrong names itself.
#include "flows/aggregation/catalog.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>

namespace {

namespace ag = medflow::flows::aggregation;
using json = nlohmann::json;

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string service_file(const std::string& name, const std::string& extra = "") {
  return R"({"name":")" + name +
         R"(","serviceDomain":"riv:x","contract":"urn:x","patientIdPointer":"/p",)"
         R"("listField":"items")" +
         extra + "}";
}

const std::string tak_text =
    R"({"permissions":[{"consumer":"c","contract":"urn:x","logicalAddress":"A"}],)"
    R"("routes":[{"contract":"urn:x","logicalAddress":"A","url":"http://127.0.0.1:1/A"}]})";

std::string load_error(const std::string& dir, const std::string& tak) {
  try {
    ag::load_catalog(dir, tak, ag::timeouts{}, ag::cache_settings{});
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  FAIL("load_catalog did not refuse");
  return {};
}

}  // namespace

TEST_CASE("load_catalog: every service file of the directory, the TAK beside them") {
  medflow::test::temp_dir d;
  write(d.file("GetB.json"), service_file("GetB"));
  // Comments are allowed; unset timeouts come from the defaults given.
  write(d.file("GetA.json"), "// the A service\n" + service_file("GetA"));
  write(d.file("tak.json"), tak_text);
  write(d.file("notes.txt"), "not a service");
  ag::timeouts limits{1000, 2000, 3000};
  auto c = ag::load_catalog(d.path().string(), d.file("tak.json"), limits, ag::cache_settings{});
  REQUIRE(c.services.size() == 2);
  CHECK(c.services.at("GetA")->limits.aggregate_ms == 2000);
  CHECK(c.services.at("GetB")->list_field == "items");
  CHECK(c.permissions->authorized("c", "urn:x", "A"));
  REQUIRE(c.permissions->route_for("urn:x", "A"));
}

TEST_CASE("load_catalog: a tak.json that is not the one in use is skipped, not a service") {
  medflow::test::temp_dir d;
  medflow::test::temp_dir other;
  write(d.file("GetA.json"), service_file("GetA"));
  write(d.file("tak.json"), tak_text);
  write(other.file("my-tak.json"), R"({"permissions":[],"routes":[]})");
  auto c = ag::load_catalog(d.path().string(), other.file("my-tak.json"), ag::timeouts{},
                            ag::cache_settings{});
  CHECK(c.services.size() == 1);
  CHECK_FALSE(c.permissions->authorized("c", "urn:x", "A"));
}

TEST_CASE("load_catalog: no TAK and no directory only mean nothing is configured") {
  medflow::test::temp_dir d;
  auto c = ag::load_catalog(d.file("missing-dir"), d.file("missing-tak.json"), ag::timeouts{},
                            ag::cache_settings{});
  CHECK(c.services.empty());
  REQUIRE(c.permissions);
  CHECK(c.permissions->permissions.empty());
}

TEST_CASE("load_catalog: a wrong file stops the load and names itself") {
  medflow::test::temp_dir d;
  write(d.file("tak.json"), tak_text);
  write(d.file("GetA.json"), service_file("GetA", R"(,"patientIdPointr":"/x")"));
  auto e = load_error(d.path().string(), d.file("tak.json"));
  CHECK(e.rfind(d.file("GetA.json") + ": ", 0) == 0);
  CHECK(e.find("unknown field") != std::string::npos);

  write(d.file("GetA.json"), "{broken");
  e = load_error(d.path().string(), d.file("tak.json"));
  CHECK(e.rfind(d.file("GetA.json") + " is not valid JSON: ", 0) == 0);

  write(d.file("GetA.json"), service_file("GetA"));
  write(d.file("tak.json"), R"({"permissions":"all"})");
  e = load_error(d.path().string(), d.file("tak.json"));
  CHECK(e.rfind(d.file("tak.json") + ": ", 0) == 0);
}

TEST_CASE("read_json_file: unreadable and oversized files are refused by name") {
  medflow::test::temp_dir d;
  CHECK_THROWS_WITH(ag::read_json_file(d.file("none.json")),
                    ("cannot read " + d.file("none.json")).c_str());
  {
    std::ofstream big(d.file("big.json"));
    big << '"' << std::string((16u << 20) + 1, 'x') << '"';
  }
  CHECK_THROWS_WITH(ag::read_json_file(d.file("big.json")),
                    (d.file("big.json") + " is larger than 16777216 bytes").c_str());
}
