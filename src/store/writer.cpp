#include "store/writer.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace medflow::store {

writer::writer(std::unique_ptr<connection> conn, size_t max_batch, std::string name,
               full_probe probe)
    : conn_(std::move(conn)),
      max_batch_(max_batch ? max_batch : 1),
      name_(std::move(name)),
      probe_(std::move(probe)) {
  auto& reg = metrics::registry::global();
  metrics::labels ls{{"writer", name_}};
  m_commits_ = &reg.get_counter("medflow_store_commits_total", "group commits", ls);
  m_units_failed_ = &reg.get_counter("medflow_store_units_failed_total",
                                     "units of work rolled back to their savepoint", ls);
  m_batch_size_ = &reg.get_histogram("medflow_store_commit_batch_size",
                                     "units of work per commit", metrics::size_buckets(), ls);
  m_commit_seconds_ =
      &reg.get_histogram("medflow_store_commit_seconds", "time to run and commit one group",
                         metrics::latency_buckets_seconds(), ls);
  m_full_failures_ = &reg.get_counter("medflow_store_disk_full_total",
                                      "commits that failed because the disk was full", ls);
  reg.set_gauge_fn("medflow_store_unwritable", "1 while the store cannot write (disk full)", ls,
                   [this] { return full_.load() ? 1.0 : 0.0; });
  reg.set_gauge_fn("medflow_store_queue_depth", "units of work waiting for the writer", ls,
                   [this] { return static_cast<double>(queue_depth()); });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "mf.writer");  // tells it apart in top -H / perf
    loop();
  });
}

writer::~writer() {
  stop();
  metrics::registry::global().remove_gauge_fn("medflow_store_queue_depth", {{"writer", name_}});
  metrics::registry::global().remove_gauge_fn("medflow_store_unwritable", {{"writer", name_}});
}

void writer::submit(unit u, done_fn done) {
  {
    std::lock_guard<std::mutex> g{mutex_};
    if (!stopping_) {
      queue_.push_back(item{std::move(u), std::move(done), nullptr, {}});
      cv_.notify_one();
      return;
    }
  }
  if (done) done(std::make_exception_ptr(writer_stopped{}));
}

void writer::stop() {
  {
    std::lock_guard<std::mutex> g{mutex_};
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

size_t writer::queue_depth() const {
  std::lock_guard<std::mutex> g{mutex_};
  return queue_.size();
}

std::string writer::unwritable() const {
  if (!full_.load()) return {};
  std::lock_guard<std::mutex> g{mutex_};
  return full_reason_;
}

std::exception_ptr writer::classify(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const store_error& s) {
    if (!s.is_full()) return e;
    m_full_failures_->inc();
    std::string why = "the disk of the database is full (" + std::string(s.what()) + ")";
    if (!full_.load()) {  // only this thread changes full_
      {
        std::lock_guard<std::mutex> g{mutex_};
        full_reason_ = why;
      }
      next_probe_us_ = clock::steady_us() + probe_.interval.count() * 1000;
      full_ = true;
      log::error("store", why, "; not ready, writes answer 507 until space returns");
    }
    return std::make_exception_ptr(storage_full(why));
  } catch (...) {
    return e;
  }
}

void writer::probe_space() {
  next_probe_us_ = clock::steady_us() + probe_.interval.count() * 1000;
  std::string why;
  if (!probe_.space_file.empty()) {
    int fd = ::open(probe_.space_file.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      why = std::string("cannot create ") + probe_.space_file + ": " + std::strerror(errno);
    } else {
      int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(probe_.bytes));
      ::close(fd);
      ::unlink(probe_.space_file.c_str());
      if (rc != 0) why = std::string("cannot allocate ") + std::to_string(probe_.bytes) +
                         " bytes: " + std::strerror(rc);
    }
  }
  if (why.empty()) {
    // A write the database has to make durable (SQLite: page 1, through the WAL, synced as
    // configured; PostgreSQL: a row, through its WAL).
    try {
      transaction t{*conn_};
      if (conn_->backend() == backend::postgres) {
        conn_->prepare("INSERT INTO store_space_probe(id, at) VALUES (1, ?) ON CONFLICT(id) DO "
                       "UPDATE SET at=excluded.at")
            .bind_all(clock::now_ms())
            .exec();
      } else {
        int64_t v = 0;
        {
          auto q = conn_->prepare("PRAGMA user_version");
          if (q.step()) v = q.int64(0);
        }
        conn_->exec("PRAGMA user_version=" + std::to_string(v));
      }
      t.commit();
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  if (!why.empty()) {
    log::debug("store", "still no space to write: ", why);
    return;
  }
  {
    std::lock_guard<std::mutex> g{mutex_};
    full_reason_.clear();
  }
  full_ = false;
  log::info("store", "the store can write again");
}

void writer::loop() {
  std::vector<item> batch;
  for (;;) {
    if (full_.load() && clock::steady_us() >= next_probe_us_) probe_space();
    {
      std::unique_lock<std::mutex> lk{mutex_};
      auto woken = [&] { return stopping_ || !queue_.empty(); };
      if (full_.load()) {
        auto wait_us = std::max<int64_t>(0, next_probe_us_ - clock::steady_us());
        if (!cv_.wait_for(lk, std::chrono::microseconds(wait_us), woken)) continue;  // probe
      } else {
        cv_.wait(lk, woken);
      }
      if (queue_.empty()) return;  // stopping and drained
      size_t n = std::min(max_batch_, queue_.size());
      batch.clear();
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
  }
}

void writer::run_batch(std::vector<item>& batch) {
  auto start = clock::steady_us();
  size_t begin_idx = 0;  // first unit of the current transaction
  // Several transactions only when the database aborted one under us (I/O error, disk full;
  // on PostgreSQL a unit whose savepoint could not be rolled back, a lost connection).
  while (begin_idx < batch.size()) {
    size_t next = batch.size();
    try {
      transaction t{*conn_};
      for (size_t i = begin_idx; i < batch.size(); ++i) {
        auto& it = batch[i];
        tx unit_tx{*conn_};
        try {
          savepoint sp{*conn_, "unit"};
          it.u(unit_tx);
          sp.release();
          it.hooks = std::move(unit_tx.hooks_);
        } catch (...) {
          it.err = classify(std::current_exception());
          m_units_failed_->inc();
          if (!conn_->in_transaction()) {
            // The whole transaction was rolled back: the earlier units lost their writes.
            for (size_t j = begin_idx; j < i; ++j)
              if (!batch[j].err) batch[j].err = it.err;
            next = i + 1;
            break;
          }
        }
      }
      if (next == batch.size()) t.commit();
    } catch (...) {
      auto e = classify(std::current_exception());
      for (size_t j = begin_idx; j < next; ++j)
        if (!batch[j].err) batch[j].err = e;
      log::error("store", "commit failed: ", describe(e));
    }
    begin_idx = next;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  m_commits_->inc();
  m_batch_size_->observe(static_cast<double>(batch.size()));
  m_commit_seconds_->observe(static_cast<double>(clock::steady_us() - start) / 1e6);
  for (auto& it : batch) {
    if (!it.err)
      for (auto& h : it.hooks) h();
    if (it.done) it.done(it.err);
  }
}

}  // namespace medflow::store
