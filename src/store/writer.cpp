#include "store/writer.hpp"

#include <pthread.h>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace medflow::store {

writer::writer(std::unique_ptr<connection> conn, size_t max_batch, std::string name)
    : conn_(std::move(conn)), max_batch_(max_batch ? max_batch : 1), name_(std::move(name)) {
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

void writer::loop() {
  std::vector<item> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk{mutex_};
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
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
  // Several transactions only when SQLite aborted one under us (I/O error, disk full).
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
          it.err = std::current_exception();
          m_units_failed_->inc();
          if (!conn_->in_transaction()) {
            // SQLite rolled the whole transaction back: the earlier units lost their writes.
            for (size_t j = begin_idx; j < i; ++j)
              if (!batch[j].err) batch[j].err = it.err;
            next = i + 1;
            break;
          }
        }
      }
      if (next == batch.size()) t.commit();
    } catch (...) {
      auto e = std::current_exception();
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
