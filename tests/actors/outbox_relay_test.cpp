#include "actors/outbox_relay.hpp"

#include "support/actor_fixture.hpp"

#include <algorithm>
#include <doctest/doctest.h>

using namespace medflow;
using namespace medflow::actors;
using namespace std::chrono_literals;

namespace {

// An outbox and a broker in memory; the broker can be told to fail.
struct fake_port : outbox_port {
  std::vector<bus::outbox_row> rows;  // the outbox
  std::vector<std::string> broker;    // values in the order the broker got them
  int fail_next = 0;
  int sends = 0;

  std::vector<bus::outbox_row> peek(size_t max) override {
    return {rows.begin(), rows.begin() + static_cast<long>(std::min(max, rows.size()))};
  }
  void send(const std::vector<bus::message>& msgs) override {
    ++sends;
    if (fail_next > 0) {
      --fail_next;
      throw std::runtime_error("broker down");
    }
    for (auto& m : msgs) broker.push_back(m.value);
  }
  void ack(const std::vector<int64_t>& ids) override {
    for (auto id : ids)
      rows.erase(std::remove_if(rows.begin(), rows.end(),
                                [id](const bus::outbox_row& r) { return r.id == id; }),
                 rows.end());
  }
  void add(int n) {
    for (int i = 0; i < n; ++i) {
      int64_t id = next_id++;
      rows.push_back({id, {"t", std::nullopt, "v" + std::to_string(id), {}, 0}});
    }
  }
  int64_t next_id = 1;
};

struct relay_fixture : test::actor_fixture {
  std::shared_ptr<fake_port> port = std::make_shared<fake_port>();
  caf::actor relay;
  void start(size_t batch = 2) {
    relay_settings s;
    s.batch = batch;
    s.retry_initial = 100ms;
    s.retry_max = 400ms;
    relay = sys->spawn(outbox_relay, std::shared_ptr<outbox_port>(port), s);
    run();
  }
  std::vector<std::string> values(int from, int to) {
    std::vector<std::string> v;
    for (int i = from; i <= to; ++i) v.push_back("v" + std::to_string(i));
    return v;
  }
};

}  // namespace

TEST_CASE_FIXTURE(relay_fixture, "rows left by an earlier run are forwarded in order at start") {
  port->add(5);
  start(2);
  CHECK(port->broker == values(1, 5));
  CHECK(port->rows.empty());
}

TEST_CASE_FIXTURE(relay_fixture, "a wake after a commit forwards the new rows") {
  start();
  port->add(3);
  caf::anon_send(relay, wake_atom::value);
  run();
  CHECK(port->broker == values(1, 3));
}

TEST_CASE_FIXTURE(relay_fixture, "a broker failure keeps the rows and retries with backoff, in order") {
  port->add(3);
  port->fail_next = 2;
  start(10);
  CHECK(port->broker.empty());
  CHECK(port->rows.size() == 3);
  port->add(1);
  caf::anon_send(relay, wake_atom::value);  // ignored while backing off
  run();
  CHECK(port->sends == 1);
  advance(100ms);  // retry 1 fails
  CHECK(port->sends == 2);
  CHECK(port->broker.empty());
  advance(199ms);
  CHECK(port->sends == 2);
  advance(1ms);  // retry 2 after 200 ms succeeds
  CHECK(port->broker == values(1, 4));
  CHECK(port->rows.empty());
}

TEST_CASE_FIXTURE(relay_fixture, "drain forwards what is left and stops") {
  start();
  port->add(5);
  auto rec = watch(relay);
  caf::anon_send(relay, drain_atom::value);
  run();
  CHECK(port->broker == values(1, 5));
  CHECK(rec->exited);
}
