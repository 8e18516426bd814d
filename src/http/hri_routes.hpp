// The HRI Management API under /hri (Alvearie HRI's paths, bodies, status codes, error texts,
// X-Request-ID and security headers), plus /alive.
#pragma once

#include "flows/hri/service.hpp"

#include <functional>

namespace medflow {
class health;
namespace jwt {
class verifier;
}
}  // namespace medflow

namespace medflow::http {
class server;

struct hri_api {
  flows::hri::service& svc;
  const jwt::verifier* verifier;  // null when hri.auth.disabled
  health& h;
  // Hands an action to the batch's actor; the reply comes through the action's callback.
  std::function<void(flows::hri::action_request, flows::hri::principal, std::string tenant,
                     std::string batch_id, std::function<void(int, std::string)> reply)>
      act;
  std::function<void(const std::string& tenant)> tenant_deleted;
  std::function<void(const flows::hri::stream_row&)> stream_created;
  std::function<void(const std::string& tenant, const std::string& stream)> stream_deleted;
};

void add_hri_routes(server& srv, hri_api api);

}  // namespace medflow::http
