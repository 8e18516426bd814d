#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "core/log.hpp"

int main(int argc, char** argv) {
  // Warnings that tests provoke on purpose (failures, retries) would bury doctest's report.
  medflow::log::set_level(medflow::log::level::error);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
