// HRI's 401 texts: tenant scope, roles per operation, owner checks for integrators.
#include "flows/hri/domain.hpp"

#include <doctest/doctest.h>

namespace {

namespace hri = medflow::flows::hri;
using hri::action;

hri::principal with(std::set<std::string> scopes, const std::string& sub = "int-1") {
  return {sub, std::move(scopes), false};
}

std::string message(const std::optional<medflow::error>& e) {
  REQUIRE(e);
  CHECK(e->status == 401);
  CHECK(e->code == "unauthorized");
  return e->message;
}

}  // namespace

TEST_CASE("tenant scope: exact scope required, the scope claim quoted whole") {
  auto p = with({"hri_consumer", "tenant_other"});
  CHECK(message(hri::check_tenant_scope(p, "t1", "hri_consumer tenant_other")) ==
        "Unauthorized tenant access. Tenant 't1' is not included in the authorized scopes: "
        "hri_consumer tenant_other.");
  CHECK(message(hri::check_tenant_scope(with({}), "t1", "")) ==
        "Unauthorized tenant access. Tenant 't1' is not included in the authorized scopes: .");
  CHECK(message(hri::check_tenant_scope(with({"tenant_t1,hri_consumer"}), "t1",
                                        "tenant_t1,hri_consumer")) ==
        "Unauthorized tenant access. Tenant 't1' is not included in the authorized scopes: "
        "tenant_t1,hri_consumer.");
  CHECK_FALSE(hri::check_tenant_scope(with({"tenant_t1"}), "t1", "tenant_t1"));
  CHECK_FALSE(hri::check_tenant_scope({"", {}, true}, "t1", ""));  // auth disabled
}

TEST_CASE("create role and the sub claim") {
  CHECK(message(hri::check_create_role(with({"tenant_t1", "hri_consumer"}))) ==
        "Must have hri_data_integrator role to create a batch");
  CHECK(message(hri::check_create_role(with({"hri_data_integrator"}, ""))) ==
        "JWT access token 'sub' claim must be populated.");
  CHECK(message(hri::check_create_role(with({}, ""))) ==
        "Must have hri_data_integrator role to create a batch");  // the role is checked first
  CHECK_FALSE(hri::check_create_role(with({"hri_data_integrator"})));
  CHECK_FALSE(hri::check_create_role({"", {}, true}));
}

TEST_CASE("read role: consumer or integrator") {
  CHECK(message(hri::check_read_role(with({"tenant_t1", "hri_internal"}))) ==
        "The access token must have one of these scopes: hri_consumer, hri_data_integrator");
  CHECK_FALSE(hri::check_read_role(with({"hri_consumer"})));
  CHECK_FALSE(hri::check_read_role(with({"hri_data_integrator"})));
  CHECK_FALSE(hri::check_read_role({"", {}, true}));
}

TEST_CASE("action roles") {
  auto consumer = with({"tenant_t1", "hri_consumer"});
  CHECK(message(hri::check_action_role(consumer, action::send_complete)) ==
        "Must have hri_data_integrator role to initiate sendComplete on a batch");
  CHECK(message(hri::check_action_role(consumer, action::terminate)) ==
        "Must have hri_data_integrator role to terminate a batch");
  CHECK(message(hri::check_action_role(consumer, action::processing_complete)) ==
        "Must have hri_internal role to mark a batch as processingComplete");
  CHECK(message(hri::check_action_role(consumer, action::fail)) ==
        "Must have hri_internal role to mark a batch as failed");
  auto integrator = with({"hri_data_integrator"});
  CHECK_FALSE(hri::check_action_role(integrator, action::send_complete));
  CHECK_FALSE(hri::check_action_role(integrator, action::terminate));
  CHECK(hri::check_action_role(integrator, action::fail));
  auto internal = with({"hri_internal"});
  CHECK_FALSE(hri::check_action_role(internal, action::processing_complete));
  CHECK_FALSE(hri::check_action_role(internal, action::fail));
  CHECK(hri::check_action_role(internal, action::terminate));
  hri::principal off{"", {}, true};
  for (action a :
       {action::send_complete, action::terminate, action::processing_complete, action::fail})
    CHECK_FALSE(hri::check_action_role(off, a));
}

TEST_CASE("integrators read only their own batches; consumers read all") {
  hri::batch b;
  b.integrator_id = "owner";
  CHECK(message(hri::check_read_owner(with({"hri_data_integrator"}, "other"), b)) ==
        "The token's sub claim (clientId): other does not match the data integratorId: owner");
  CHECK_FALSE(hri::check_read_owner(with({"hri_data_integrator"}, "owner"), b));
  CHECK_FALSE(hri::check_read_owner(with({"hri_data_integrator", "hri_consumer"}, "other"), b));
  CHECK_FALSE(hri::check_read_owner(with({"hri_consumer"}, "other"), b));
  CHECK_FALSE(hri::check_read_owner({"", {}, true}, b));
  CHECK(hri::integrator_only(with({"hri_data_integrator"})));
  CHECK_FALSE(hri::integrator_only(with({"hri_data_integrator", "hri_consumer"})));
  CHECK_FALSE(hri::integrator_only(with({"hri_consumer"})));
  CHECK_FALSE(hri::integrator_only({"x", {"hri_data_integrator"}, true}));
}

TEST_CASE("404 texts for a missing batch") {
  auto get = hri::batch_not_found("t1", "b9", false);
  CHECK(get.status == 404);
  CHECK(get.message == "The document for tenantId: t1 with document (batch) ID: b9 was not found");
  CHECK(hri::batch_not_found("t1", "b9", true).message ==
        "error getting current Batch Status: The document for tenantId: t1 with document (batch) "
        "ID: b9 was not found");
}

TEST_CASE("batch topic: the tenant's own namespace, or granted in configuration; else 403") {
  hri::topic_grants none;
  CHECK_FALSE(hri::check_batch_topic("t1", "ingest.t1.s1.in", none));
  CHECK_FALSE(hri::check_batch_topic("t1", "ingest.t1.s1.qualifier.in", none));
  auto refused = hri::check_batch_topic("t1", "ingest.t2.s1.in", none);
  REQUIRE(refused);
  CHECK(refused->status == 403);
  CHECK(refused->message ==
        "Unauthorized topic access. Topic 'ingest.t2.s1.in' is not in tenant 't1''s namespace "
        "(ingest.t1.*) and not granted to it (hri.topic_grants).");
  // A tenant whose id begins with another's is another namespace; so is the bare prefix.
  CHECK(hri::check_batch_topic("t1", "ingest.t10.s1.in", none));
  CHECK(hri::check_batch_topic("t1", "ingest.t1.", none));
  CHECK(hri::check_batch_topic("t1", "ingest.t1", none));
  CHECK(hri::check_batch_topic("t1", "other.t1.s1.in", none));
  CHECK(hri::check_batch_topic("t1", "", none));

  auto grants = hri::parse_topic_grants(" t1:ingest.shared.s1.in , t2:ingest.t1.s1.in,t1:x.in");
  REQUIRE(grants.ok());
  CHECK(grants->at("t1") == std::set<std::string>{"ingest.shared.s1.in", "x.in"});
  CHECK_FALSE(hri::check_batch_topic("t1", "ingest.shared.s1.in", *grants));
  CHECK_FALSE(hri::check_batch_topic("t2", "ingest.t1.s1.in", *grants));
  // A grant is for its tenant only, and for that exact topic.
  CHECK(hri::check_batch_topic("t3", "ingest.shared.s1.in", *grants));
  CHECK(hri::check_batch_topic("t1", "ingest.shared.s1.out", *grants));
}

TEST_CASE("hri.topic_grants: <tenant>:<topic> pairs; a malformed pair is named") {
  CHECK(hri::parse_topic_grants("")->empty());
  CHECK(hri::parse_topic_grants("  ")->empty());
  CHECK(hri::parse_topic_grants("t1:a.in,")->size() == 1);
  for (const char* bad : {"t1", "t1:", ":ingest.x.in", "t1:a.in,,t2:b.in", "t1 ingest.x.in"}) {
    auto g = hri::parse_topic_grants(bad);
    REQUIRE_FALSE(g.ok());
    CHECK(g.err().message.rfind("expected <tenant>:<topic>, got \"", 0) == 0);
  }
}
