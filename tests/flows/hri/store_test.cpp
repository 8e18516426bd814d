// The batches flow's store on a real database: tenants, streams and batches written and read
// back whole, the search's filters, order and paging, and the orders the API lists things in.
#include "flows/hri/store.hpp"

#include "support/database.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <future>

namespace {

using namespace medflow;
namespace hri = medflow::flows::hri;

struct store_fixture {
  test::temp_dir dir;
  std::unique_ptr<store::database> db = test::open_database(dir.file("hri.db"), {hri::migrations()});

  template <class F>
  auto write(F&& f) {
    return db->write().run([&](store::tx& t) { return f(t.conn); });
  }
  template <class F>
  auto read(F&& f) {
    auto r = db->reader();
    return f(*r);
  }

  hri::batch make_batch(const std::string& id, int64_t start_ms, const std::string& name = "n",
                        hri::status st = hri::status::started,
                        const std::string& integrator = "integrator-1") {
    hri::batch b;
    b.id = id;
    b.tenant = "t1";
    b.name = name;
    b.integrator_id = integrator;
    b.topic = "ingest.t1.s1.in";
    b.data_type = "claims";
    b.st = st;
    b.start_ms = start_ms;
    b.status_changed_ms = start_ms;
    return b;
  }
};

std::vector<std::string> ids(const std::vector<hri::batch>& bs) {
  std::vector<std::string> out;
  for (auto& b : bs) out.push_back(b.id);
  return out;
}

}  // namespace

TEST_CASE("hri store: tenants are listed in byte order and deleted with their batches") {
  store_fixture f;
  f.write([&](store::connection& c) {
    // Byte order puts '-' (0x2d) before '_' (0x5f) before letters, whatever the locale.
    for (auto* t : {"ab", "a_b", "a-c", "t1"}) hri::insert_tenant(c, t, 1000);
    hri::insert_batch(c, f.make_batch("b1", 10));
    hri::insert_batch(c, f.make_batch("b2", 20));
  });
  f.read([&](store::connection& c) {
    CHECK(hri::list_tenants(c) == std::vector<std::string>{"a-c", "a_b", "ab", "t1"});
    CHECK(hri::tenant_exists(c, "a_b"));
    CHECK_FALSE(hri::tenant_exists(c, "a"));
    CHECK(hri::count_batches(c, "t1") == 2);
    CHECK(hri::count_batches(c, "ab") == 0);
  });
  f.write([&](store::connection& c) { hri::delete_tenant(c, "t1"); });
  f.read([&](store::connection& c) {
    CHECK_FALSE(hri::tenant_exists(c, "t1"));
    CHECK(hri::count_batches(c, "t1") == 0);
    CHECK(hri::list_tenants(c).size() == 3);
  });
}

TEST_CASE("hri store: a tenant created twice is added once; a stream twice is a constraint error") {
  store_fixture f;
  CHECK(f.write([&](store::connection& c) { return hri::insert_tenant(c, "t1", 1); }));
  CHECK_FALSE(f.write([&](store::connection& c) { return hri::insert_tenant(c, "t1", 2); }));
  hri::stream_row s{"t1", "s1", {}, false};
  f.write([&](store::connection& c) { hri::insert_stream(c, s, 1); });
  bool constraint = false;
  try {
    f.write([&](store::connection& c) { hri::insert_stream(c, s, 2); });
  } catch (const store::store_error& e) {
    constraint = e.is_constraint();
  }
  CHECK(constraint);
  // The failed unit rolled back alone: the first rows are there, once.
  f.read([&](store::connection& c) {
    CHECK(hri::list_tenants(c) == std::vector<std::string>{"t1"});
    CHECK(hri::all_streams(c).size() == 1);
  });
}

TEST_CASE("hri store: a tenant created at the same moment elsewhere is added once") {
  // Another medflowd on a shared store: its transaction holds the new tenant, not committed yet.
  store_fixture f;
  auto other = test::open_connection(f.dir.file("hri.db"));
  store::transaction tx(*other);
  CHECK(hri::insert_tenant(*other, "t1", 1));
  auto second = std::async(std::launch::async, [&] {
    return f.write([&](store::connection& c) { return hri::insert_tenant(c, "t1", 2); });
  });
  tx.commit();
  CHECK_FALSE(second.get());  // waited for the commit (or came after it): no constraint error
  f.read([&](store::connection& c) {
    CHECK(hri::list_tenants(c) == std::vector<std::string>{"t1"});
  });
}

TEST_CASE("hri store: streams keep every setting and are listed by tenant, then id") {
  store_fixture f;
  hri::stream_row full{"t1", "s.b", {}, true};
  full.settings.num_partitions = 4;
  full.settings.retention_ms = 86400000;
  full.settings.validator = "passthrough";
  full.settings.retention_bytes = 1073741824LL * 8;  // beyond 32 bits
  full.settings.cleanup_policy = "compact";
  full.settings.segment_ms = 3600000;
  full.settings.segment_bytes = 1048576;
  full.settings.segment_index_bytes = 4096;
  hri::stream_row plain{"t1", "s-a", {}, false};
  hri::stream_row other{"t0", "z", {}, false};
  f.write([&](store::connection& c) {
    for (auto* s : {&full, &plain, &other}) hri::insert_stream(c, *s, 5);
  });
  f.read([&](store::connection& c) {
    auto got = hri::load_stream(c, "t1", "s.b");
    REQUIRE(got);
    CHECK(got->tenant == "t1");
    CHECK(got->id == "s.b");
    CHECK(got->validation);
    CHECK(got->settings.num_partitions == 4);
    CHECK(got->settings.retention_ms == 86400000);
    CHECK(got->settings.validator == "passthrough");
    CHECK(got->settings.retention_bytes == 1073741824LL * 8);
    CHECK(got->settings.cleanup_policy == "compact");
    CHECK(got->settings.segment_ms == 3600000);
    CHECK(got->settings.segment_bytes == 1048576);
    CHECK(got->settings.segment_index_bytes == 4096);
    auto p = hri::load_stream(c, "t1", "s-a");
    REQUIRE(p);
    CHECK_FALSE(p->validation);
    CHECK_FALSE(p->settings.retention_bytes);
    CHECK_FALSE(p->settings.cleanup_policy);
    CHECK_FALSE(hri::load_stream(c, "t1", "nope"));
    std::vector<std::string> order;
    for (auto& s : hri::all_streams(c)) order.push_back(s.tenant + "/" + s.id);
    CHECK(order == std::vector<std::string>{"t0/z", "t1/s-a", "t1/s.b"});
  });
  f.write([&](store::connection& c) { hri::delete_stream(c, "t1", "s-a"); });
  f.read([&](store::connection& c) {
    CHECK_FALSE(hri::load_stream(c, "t1", "s-a"));
    CHECK(hri::all_streams(c).size() == 2);
  });
}

TEST_CASE("hri store: a batch reads back whole, tracking included, and updates in place") {
  store_fixture f;
  auto b = f.make_batch("b1", 1600000000123, "nice name");
  b.expected_record_count = 5;
  b.invalid_threshold = 3;
  b.metadata = {{"k", "v"}, {"n", {1, 2}}};
  b.seen_offsets = {{"ingest.t1.s1.in/0", 41}, {"ingest.t1.s1.in/1", 7}};
  b.valid_count = 4;
  b.invalid_count = 1;
  f.write([&](store::connection& c) { hri::insert_batch(c, b); });
  auto got = f.read([&](store::connection& c) { return hri::load_batch(c, "t1", "b1"); });
  REQUIRE(got);
  CHECK(hri::to_json(*got) == hri::to_json(b));
  CHECK(got->start_ms == b.start_ms);
  CHECK(got->seen_offsets == b.seen_offsets);
  CHECK(got->valid_count == 4);
  CHECK(got->invalid_count == 1);
  CHECK(got->status_changed_ms == b.start_ms);
  CHECK_FALSE(got->end_ms);

  b.st = hri::status::failed;
  b.end_ms = b.start_ms + 60000;
  b.actual_record_count = 5;
  b.invalid_record_count = 4;
  b.failure_message = "too many invalid records";
  b.status_changed_ms = *b.end_ms;
  f.write([&](store::connection& c) { hri::update_batch(c, b); });
  f.read([&](store::connection& c) {
    auto after = hri::load_batch(c, "t1", "b1");
    REQUIRE(after);
    CHECK(after->st == hri::status::failed);
    CHECK(after->end_ms == b.end_ms);
    CHECK(after->failure_message == b.failure_message);
    CHECK(after->actual_record_count == 5);
    CHECK(after->status_changed_ms == *b.end_ms);
    CHECK_FALSE(hri::load_batch(c, "t1", "b2"));
    CHECK_FALSE(hri::load_batch(c, "t2", "b1"));
    // The status column follows the document: the status filters see the update.
    CHECK(hri::batch_keys_with_status(c, hri::status::started).empty());
    auto failed = hri::batch_keys_with_status(c, hri::status::failed);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].tenant == "t1");
    CHECK(failed[0].id == "b1");
  });
}

TEST_CASE("hri store: search filters, counts the whole match and pages newest first") {
  store_fixture f;
  f.write([&](store::connection& c) {
    hri::insert_batch(c, f.make_batch("b1", 1000, "alpha"));
    hri::insert_batch(c, f.make_batch("b2", 2000, "beta", hri::status::completed));
    hri::insert_batch(c, f.make_batch("b3", 3000, "alpha", hri::status::started, "integrator-2"));
    // Same start: the id breaks the tie, in byte order.
    hri::insert_batch(c, f.make_batch("b4-x", 4000, "gamma"));
    hri::insert_batch(c, f.make_batch("b4_a", 4000, "gamma"));
    auto other = f.make_batch("b5", 5000, "alpha");
    other.tenant = "t2";
    hri::insert_batch(c, other);
  });
  auto search = [&](hri::search_query q, std::optional<std::string> integrator = std::nullopt) {
    return f.read([&](store::connection& c) {
      return hri::search_batches(c, "t1", q, integrator);
    });
  };
  hri::search_query all;
  auto r = search(all);
  CHECK(r.first == 5);
  CHECK(ids(r.second) == std::vector<std::string>{"b4-x", "b4_a", "b3", "b2", "b1"});

  hri::search_query q;
  q.name = "alpha";
  r = search(q);
  CHECK(r.first == 2);
  CHECK(ids(r.second) == std::vector<std::string>{"b3", "b1"});

  q = {};
  q.status = "completed";
  CHECK(ids(search(q).second) == std::vector<std::string>{"b2"});
  q.status = "niceStatus";  // unknown statuses match nothing
  CHECK(search(q).first == 0);

  q = {};
  q.gte_ms = 2000;
  q.lte_ms = 3000;
  CHECK(ids(search(q).second) == std::vector<std::string>{"b3", "b2"});
  q.lte_ms = std::nullopt;
  CHECK(search(q).first == 4);

  CHECK(ids(search({}, std::string("integrator-2")).second) == std::vector<std::string>{"b3"});
  CHECK(search({}, std::string("nobody")).first == 0);

  q = {};
  q.size = 2;
  q.from = 1;
  r = search(q);
  CHECK(r.first == 5);  // the total ignores the page
  CHECK(ids(r.second) == std::vector<std::string>{"b4_a", "b3"});
  q.from = 5;
  r = search(q);
  CHECK(r.first == 5);
  CHECK(r.second.empty());

  // Every filter at once.
  q = {};
  q.name = "alpha";
  q.status = "started";
  q.gte_ms = 1000;
  q.lte_ms = 1000;
  r = search(q, std::string("integrator-1"));
  CHECK(ids(r.second) == std::vector<std::string>{"b1"});
}

TEST_CASE_FIXTURE(store_fixture, "hri store: an action's outcome is written once, read back, and "
                                 "pruned when old") {
  CHECK_FALSE(read([](store::connection& c) { return hri::load_action_outcome(c, "r1"); }));
  CHECK(write([](store::connection& c) {
    return hri::insert_action_outcome(c, {"r1", 200, ""}, 1000);
  }));
  CHECK(write([](store::connection& c) {
    return hri::insert_action_outcome(c, {"r2", 409, "sendComplete failed, batch is in 'completed' state"}, 5000);
  }));
  // A second outcome for the same request (an action delivered again) changes nothing.
  CHECK_FALSE(write([](store::connection& c) {
    return hri::insert_action_outcome(c, {"r1", 409, "later"}, 2000);
  }));
  auto r1 = read([](store::connection& c) { return hri::load_action_outcome(c, "r1"); });
  REQUIRE(r1);
  CHECK(r1->status == 200);
  CHECK(r1->message.empty());
  auto r2 = read([](store::connection& c) { return hri::load_action_outcome(c, "r2"); });
  REQUIRE(r2);
  CHECK(r2->status == 409);
  CHECK(r2->message == "sendComplete failed, batch is in 'completed' state");
  CHECK(write([](store::connection& c) { return hri::prune_action_outcomes(c, 5000); }) == 1);
  CHECK_FALSE(read([](store::connection& c) { return hri::load_action_outcome(c, "r1"); }));
  CHECK(read([](store::connection& c) { return hri::load_action_outcome(c, "r2"); }));
}
