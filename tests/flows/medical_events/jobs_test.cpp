#include "flows/medical_events/jobs.hpp"

#include <doctest/doctest.h>

using namespace medflow::flows::medical_events;

namespace {
job_record finished(job_status s, int code, json response) {
  job_record j;
  j.id = "5d0e0f9b8c1a2b3c4d5e6f70";
  j.status = s;
  j.status_code = code;
  j.response = std::move(response);
  j.eta_ms = 1560168000000;
  return j;
}
}  // namespace

TEST_CASE("job views follow the reference's table") {
  job_record pending;
  pending.id = "5d0e0f9b8c1a2b3c4d5e6f70";
  pending.eta_ms = 1560168000000;
  auto v = render_job(pending);
  CHECK(v.http_status == 200);
  CHECK(v.data == json{{"eta", "2019-06-10T12:00:00.000000Z"},
                       {"status", "pending"},
                       {"links", {{{"entity", "job"}, {"href", "/jobs/5d0e0f9b8c1a2b3c4d5e6f70"}}}}});

  v = render_job(finished(job_status::processed, 200, {{"response_data", {{"id", "a"}}}}));
  CHECK(v.http_status == 200);
  CHECK(v.data["response_data"]["id"] == "a");
  CHECK_FALSE(v.location);

  json links = {{{"entity", "episode"}, {"href", "/api/patients/p/episodes/e"}}};
  v = render_job(finished(job_status::processed, 200, {{"links", links}}));
  CHECK(v.http_status == 303);
  CHECK(v.data["links"] == links);
  CHECK(v.data["status_code"] == 200);

  v = render_job(finished(job_status::failed, 409, "Episode in status closed can not be updated"));
  CHECK(v.data["error"] == json{{"type", "request_conflict"},
                                {"message", "Episode in status closed can not be updated"}});
  v = render_job(finished(job_status::failed_with_error, 500, "boom"));
  CHECK(v.data["status"] == "failed_with_error");
  CHECK(v.data["error"] == json{{"type", "internal_error"}, {"message", "boom"}});
  v = render_job(finished(job_status::failed, 404, "Failed to get episode"));
  CHECK(v.data["error"] == "Failed to get episode");
  json invalid = {{"type", "validation_failed"}, {"invalid", json::array()}};
  v = render_job(finished(job_status::failed, 422, invalid));
  CHECK(v.data["error"] == invalid);
}

TEST_CASE("a processed job's 303 has no Location, as eHealth's; with the switch it has one") {
  json links = {{{"entity", "episode"}, {"href", "/api/patients/p/episodes/e"}}};
  auto with_links = finished(job_status::processed, 200, {{"links", links}});
  auto without = finished(job_status::processed, 200, json::object());  // package cancel: {}

  // eHealth (the default): 303 with the links in the body, no Location header.
  auto v = render_job(with_links);
  CHECK(v.http_status == 303);
  CHECK_FALSE(v.location);
  CHECK(v.data["links"] == links);
  v = render_job(without);
  CHECK(v.http_status == 303);
  CHECK_FALSE(v.location);
  CHECK(v.data["links"] == json::array());
  // A job with response_data stays 200 either way.
  CHECK(render_job(finished(job_status::processed, 200, {{"response_data", 1}})).http_status ==
        200);

  // medical_events.job_location=true: Location to the first link; nothing to point at is 200.
  v = render_job(with_links, true);
  CHECK(v.http_status == 303);
  CHECK(v.location == std::optional<std::string>("/api/patients/p/episodes/e"));
  v = render_job(without, true);
  CHECK(v.http_status == 200);
  CHECK_FALSE(v.location);
  CHECK(v.data["links"] == json::array());
  CHECK(render_job(finished(job_status::processed, 200, {{"response_data", 1}}), true)
            .http_status == 200);
}

TEST_CASE("messages round-trip and bad ones say what is wrong") {
  job_message m{"id1", job_type::service_request_use, "p1", "u1", "c1", {{"id", "sr"}}, {{"a", 1}}, 42};
  auto back = decode_message(encode_message(m));
  REQUIRE(back.ok());
  CHECK(back->job_id == "id1");
  CHECK(back->type == job_type::service_request_use);
  CHECK(back->params["id"] == "sr");
  CHECK(back->inserted_us == 42);
  CHECK(decode_message("nope").err().message == "value is not a JSON object");
  CHECK(decode_message("{\"id\":\"x\",\"type\":\"what_job\",\"patient_id\":\"p\"}").err().message ==
        "unknown job type what_job");
}

TEST_CASE("request hashes: same request alike, any difference or salt apart") {
  request r;
  r.type = job_type::episode_update;
  r.patient_id = "p";
  r.user_id = "u";
  r.client_id = "c";
  r.params = {{"id", "e"}};
  r.body = {{"name", "a"}};
  auto h = request_hash(r);
  CHECK(request_hash(r) == h);
  auto r2 = r;
  r2.body["name"] = "b";
  CHECK(request_hash(r2) != h);
  r2 = r;
  r2.user_id = "other";
  CHECK(request_hash(r2) != h);
  CHECK(request_hash(r, "salt") != h);
}

TEST_CASE("responses are capped at 10,000 bytes as the reference does") {
  std::string long_text(20000, 'x');
  auto cut = cut_response(json(long_text));
  CHECK(cut.get<std::string>().size() == 9997 + 3);
  CHECK(cut.get<std::string>().substr(9997) == "...");
  json body = {{"type", "validation_failed"}, {"invalid", json::array()}};
  for (int i = 0; i < 200; ++i)
    body["invalid"].push_back({{"entry", "$.items[" + std::to_string(i) + "]"},
                               {"rules", {{{"rule", "required"}, {"params", std::string(40, 'p')},
                                           {"description", "required property x was not present"}}}}});
  auto small = cut_response(body);
  CHECK(small.dump().size() <= 10000);
  CHECK(small["invalid"][0]["rules"][0]["params"] == json::array());
  CHECK(small["invalid"].size() < 200);
  CHECK(cut_response(json{{"a", 1}}) == json{{"a", 1}});
}
