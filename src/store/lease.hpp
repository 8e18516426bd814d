// Work that must run on one medflowd at a time over a shared store (PostgreSQL, several
// instances): a named lease in the store. One instance holds `name` until `until_ms` and renews
// it while it works; an instance that dies (or hangs) stops renewing, and another one takes the
// lease over once `until_ms` has passed. The outbox relay holds "bus.outbox" (it forwards the
// rows in order, so one relay at a time), the exams results scanner "exams.inbox", the medical
// events maintenance "medical_events.maintenance".
//
// On SQLite there is one instance: `lease::held()` is always true and touches nothing, so the
// embedded deployment keeps its behaviour and cost.
//
// Times are the instances' wall clocks (ms): they are assumed to agree to well within the
// lease's length (NTP), as the lease's expiry is judged by the instance taking over.
#pragma once

#include "store/database.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace medflow::store {

// The table of named leases (module "leases").
std::vector<migration> lease_migrations();

// In the caller's transaction: takes `name` for `holder` until now_ms + ttl_ms when it is
// free, expired (until_ms < now_ms) or already the holder's; true when `holder` has it now.
// Concurrent callers serialise on the lease's row: one of them gets it.
bool take_lease(tx& t, const std::string& name, const std::string& holder, int64_t now_ms,
                int64_t ttl_ms);

// Gives `name` up at once when `holder` has it (a clean shutdown: the others need not wait
// for the expiry).
void drop_lease(tx& t, const std::string& name, const std::string& holder);

// This instance's holder id: by default host, pid and a random part. The daemon names it after
// its host and data directory instead (set_instance_id, before any lease is used), so that an
// instance restarted after a crash gets its leases and claims back at once instead of after
// their expiry (two medflowd must not share a data directory).
const std::string& instance_id();
void set_instance_id(std::string id);

class lease {
 public:
  // `ttl_ms`: how long a take or renewal holds; `now`: the wall clock in ms.
  lease(database& db, std::string name, int64_t ttl_ms, std::function<int64_t()> now,
        std::string holder = instance_id());

  // Whether this instance may do the lease's work now. On PostgreSQL it takes or renews the
  // lease through the writer at most every ttl/3 (between two tries the last answer holds,
  // and a held lease is renewed well before it expires); a store failure counts as not held.
  // Always true on SQLite.
  bool held();
  // Gives the lease up if held (the next held() takes it again if still free).
  void release();
  // Until when (wall clock, ms) the last held() knows the lease to be ours, without a store
  // round trip: 0 when not held. Work that must stop when the lease may have passed to another
  // instance checks this rather than a cached yes. Far in the future on SQLite.
  int64_t held_until();

  const std::string& name() const { return name_; }
  const std::string& holder() const { return holder_; }

 private:
  database& db_;
  std::string name_;
  std::string holder_;
  int64_t ttl_ms_;
  std::function<int64_t()> now_;
  std::mutex mutex_;
  bool held_ = false;
  int64_t held_until_ = 0;  // our own view of the expiry of our hold
  int64_t next_try_ = 0;    // no store round trip before this
};

}  // namespace medflow::store
