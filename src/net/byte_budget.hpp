// A number of bytes shared by many holders, and one holder's lease on part of it: what bounds
// the request bodies a server holds at once (http.max_inflight_body_bytes). A body is leased
// its bytes before they are read (the announced Content-Length, or each chunk's size) and
// gives them back when its request ends, so the total never passes the budget however many
// clients send at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace medflow::net {

class byte_budget {
 public:
  explicit byte_budget(size_t max) : max_(max) {}
  byte_budget(const byte_budget&) = delete;
  byte_budget& operator=(const byte_budget&) = delete;

  // Takes n bytes if they fit; false, taking nothing, when they do not.
  bool take(size_t n) {
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used > max_ || n > max_ - used) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    return true;
  }
  void give(size_t n) { used_.fetch_sub(n, std::memory_order_acq_rel); }
  size_t used() const { return used_.load(std::memory_order_acquire); }
  size_t max() const { return max_; }

 private:
  const size_t max_;
  std::atomic<size_t> used_{0};
};

// Bytes of a budget held until released, destroyed or moved away. Without a budget it holds
// nothing and every grow succeeds.
class budget_lease {
 public:
  budget_lease() = default;
  explicit budget_lease(byte_budget* b) : budget_(b) {}
  budget_lease(budget_lease&& o) noexcept : budget_(o.budget_), held_(o.held_) { o.held_ = 0; }
  budget_lease& operator=(budget_lease&& o) noexcept {
    if (this != &o) {
      release();
      budget_ = o.budget_;
      held_ = o.held_;
      o.held_ = 0;
    }
    return *this;
  }
  budget_lease(const budget_lease&) = delete;
  budget_lease& operator=(const budget_lease&) = delete;
  ~budget_lease() { release(); }

  // n more bytes; false, holding what it held, when the budget cannot give them.
  bool grow(size_t n) {
    if (!budget_ || n == 0) return true;
    if (!budget_->take(n)) return false;
    held_ += n;
    return true;
  }
  void release() {
    if (budget_ && held_ > 0) budget_->give(held_);
    held_ = 0;
  }
  size_t held() const { return held_; }
  byte_budget* budget() const { return budget_; }

 private:
  byte_budget* budget_ = nullptr;
  size_t held_ = 0;
};

}  // namespace medflow::net
