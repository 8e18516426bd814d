// medflowd's version: one place, the `project(medflow VERSION ...)` line of CMakeLists.txt, from
// which the build generates its definition (--version, OpenAPI's info.version, metrics).
#pragma once

#include <string_view>

namespace medflow {

std::string_view version();

}  // namespace medflow
