// completion_runner on the deterministic scheduler: it runs a delivered round of HTTP call
// completions in order; what their callbacks `post` arrives; a throwing callback does not cost
// the others; after drain, a late round still runs, once, where it was sent.
#include "actors/completion_runner.hpp"
#include "core/log.hpp"

#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace medflow;
using namespace medflow::actors;

namespace {

net::http_client::response with_status(int s) {
  net::http_client::response r;
  r.result = net::http_client::response::outcome::ok;
  r.status = s;
  return r;
}

}  // namespace

TEST_CASE_FIXTURE(test::actor_fixture,
                  "completion_runner: a round's callbacks run in order and what they post arrives") {
  auto got = std::make_shared<std::vector<int>>();
  auto sink = spawn_without_args(*sys, [got](caf::event_based_actor*) -> caf::behavior {
    return {[got](int status) { got->push_back(status); }};
  });
  auto runner = spawn_without_args(*sys, completion_runner);
  auto deliver = deliver_to(runner);

  std::vector<bool> inside_runner;
  std::vector<net::http_client::completion> round;
  for (int s : {200, 404, 500})
    round.push_back({[sink, &inside_runner](net::http_client::response r) {
                       inside_runner.push_back(detail::current_runner_unit() != nullptr);
                       post(sink, r.status);
                     },
                     with_status(s)});
  deliver(std::move(round));
  CHECK(got->empty());  // handed over; nothing runs until the scheduler does
  run();
  CHECK(*got == std::vector<int>{200, 404, 500});
  CHECK(inside_runner == std::vector<bool>{true, true, true});
  CHECK(detail::current_runner_unit() == nullptr);

  // Outside the runner, post is an anon_send.
  post(sink, 201);
  run();
  CHECK(got->back() == 201);
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "completion_runner: a throwing callback does not cost the others; after drain a "
                  "round still runs once") {
  auto runner = spawn_without_args(*sys, completion_runner);
  auto deliver = deliver_to(runner);
  int ran = 0;
  std::vector<net::http_client::completion> round;
  round.push_back({[](net::http_client::response) { throw std::runtime_error("callback failure"); },
                   with_status(200)});
  round.push_back({[&ran](net::http_client::response) { ++ran; }, with_status(200)});
  auto saved = log::current_level();
  log::set_level(log::level::off);  // the error it logs is expected here
  deliver(std::move(round));
  run();
  log::set_level(saved);
  CHECK(ran == 1);
  CHECK(detail::current_runner_unit() == nullptr);

  auto rec = watch(runner);
  caf::anon_send(runner, drain_atom::value);
  run();
  CHECK(rec->exited);
  std::vector<net::http_client::completion> late;
  late.push_back({[&ran](net::http_client::response) { ++ran; }, with_status(200)});
  deliver(std::move(late));
  CHECK(ran == 2);  // the stopped runner's message was dropped at once, and the round ran then
  run();
  CHECK(ran == 2);  // and only then
}

TEST_CASE("completion_round: what was not run runs when it is destroyed, each callback once") {
  int ran = 0;
  std::vector<net::http_client::completion> items;
  for (int i = 0; i < 3; ++i)
    items.push_back({[&ran](net::http_client::response) { ++ran; }, with_status(200)});
  {
    auto round = std::make_shared<completion_round>(std::move(items));
    round->run();
    CHECK(ran == 3);
  }
  CHECK(ran == 3);  // destroying a round that has run runs nothing again

  items.clear();
  for (int i = 0; i < 2; ++i)
    items.push_back({[&ran](net::http_client::response) { ++ran; }, with_status(200)});
  { completion_round never_sent(std::move(items)); }
  CHECK(ran == 5);
}
