#include "actors/protocol.hpp"

namespace medflow::actors {

std::string describe(const caf::error& e) {
  if (!e) return "no error";
  const auto& ctx = e.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  if (e.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(e.code()));
  if (e.category() == caf::atom("exit"))
    return caf::to_string(static_cast<caf::exit_reason>(e.code()));
  return caf::to_string(e);
}

}  // namespace medflow::actors
