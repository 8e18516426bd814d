// The group-commit writer: the one thread that writes to the database. Units of work from
// any thread are queued; the writer runs as many as are waiting (up to a maximum) in one
// transaction, each inside its own savepoint, so a unit that throws rolls back alone while
// the others commit together. A unit's completion runs after the commit that made it durable.
#pragma once

#include "core/error.hpp"
#include "store/connection.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace medflow::metrics {
class counter;
class histogram;
}  // namespace medflow::metrics

namespace medflow::store {

// What a unit of work sees: the connection (inside a transaction and a savepoint) and a place
// to leave actions that must run only once the commit succeeded (e.g. waking consumers).
class tx {
 public:
  explicit tx(connection& c) : conn(c) {}
  connection& conn;
  void after_commit(std::function<void()> f) { hooks_.push_back(std::move(f)); }
  // For work rolled back to a savepoint of its own inside the unit: mark() before it, and
  // drop_since(mark) after the rollback, so that its actions do not run at the commit.
  size_t mark() const { return hooks_.size(); }
  void drop_since(size_t m) {
    if (m < hooks_.size()) hooks_.erase(hooks_.begin() + static_cast<std::ptrdiff_t>(m), hooks_.end());
  }

 private:
  friend class writer;
  std::vector<std::function<void()>> hooks_;
};

class writer_stopped : public std::runtime_error {
 public:
  writer_stopped() : std::runtime_error("store writer is stopped") {}
};

// How the writer finds out that a full disk has space again. After a write failed with
// SQLITE_FULL the writer is "full" (unwritable() says why) until a probe, every `interval`,
// allocates `bytes` in `space_file` (a scratch file beside the database, removed at once) and
// commits a transaction. An empty `space_file` probes with the transaction only.
struct full_probe {
  std::string space_file;
  size_t bytes = 8 << 20;
  std::chrono::milliseconds interval{1000};
};

class writer {
 public:
  using unit = std::function<void(tx&)>;

  writer(std::unique_ptr<connection> conn, size_t max_batch, std::string name = "main",
         full_probe probe = {});
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  // `done` runs on the writer thread once the unit is committed (nullptr) or failed.
  void submit(unit u, done_fn done);

  // Runs `f(tx&)` in the next group commit and waits until it is durable. Returns f's result
  // or rethrows its exception.
  template <class F>
  auto run(F&& f) -> std::invoke_result_t<F&, tx&> {
    using R = std::invoke_result_t<F&, tx&>;
    auto promise = std::make_shared<std::promise<void>>();
    auto fut = promise->get_future();
    if constexpr (std::is_void_v<R>) {
      submit([&f](tx& t) { f(t); },
             [promise](std::exception_ptr e) {
               if (e) promise->set_exception(e);
               else promise->set_value();
             });
      fut.get();
    } else {
      std::optional<R> out;
      submit([&f, &out](tx& t) { out.emplace(f(t)); },
             [promise](std::exception_ptr e) {
               if (e) promise->set_exception(e);
               else promise->set_value();
             });
      fut.get();
      return std::move(*out);
    }
  }

  // Commits what is queued, then stops the thread. Later submissions fail with writer_stopped.
  void stop();
  size_t queue_depth() const;
  uint64_t commits() const { return commits_; }
  // "" while the store can write; else why not (the disk is full), until a probe succeeds.
  std::string unwritable() const;

 private:
  struct item {
    unit u;
    done_fn done;
    std::exception_ptr err;
    std::vector<std::function<void()>> hooks;
  };
  void loop();
  void run_batch(std::vector<item>& batch);
  // A failure that is a full disk becomes storage_full (and the writer full); others pass.
  std::exception_ptr classify(std::exception_ptr e);
  void probe_space();

  std::unique_ptr<connection> conn_;
  size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<item> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> commits_{0};
  metrics::counter* m_commits_;
  metrics::counter* m_units_failed_;
  metrics::histogram* m_batch_size_;
  metrics::histogram* m_commit_seconds_;
  std::string name_;
  full_probe probe_;
  std::atomic<bool> full_{false};
  std::string full_reason_;             // guarded by mutex_
  int64_t next_probe_us_ = 0;           // writer thread only
  metrics::counter* m_full_failures_;
  std::thread thread_;
};

}  // namespace medflow::store
