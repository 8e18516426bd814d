// Plain-HTTP/1.1 calls without libcurl, for http_client's I/O loop: one non-blocking, kept-alive
// connection per call in flight, registered once with the loop's epoll set (edge-triggered), so
// a call costs its send and its recv and nothing else. The framing is Boost.Beast's (requests
// by its serializer, responses by its parser: net/http1.hpp). https:// (and URLs with
// credentials) stay with libcurl. Runs on the I/O thread only, except the resolver (see below).
//
// Measured with libcurl 7.88 at ~10,000 calls/s: curl's own code, its allocations, and the
// epoll_ctl and poll it makes per transfer were ≈ 60 % of a call's CPU on the I/O thread.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/http1.hpp"
#include "net/http_client.hpp"

namespace medflow::net::http_client::detail {

using steady = std::chrono::steady_clock;

// What a plain-HTTP URL says, as the engine needs it.
struct http_url {
  std::string_view authority;  // "host:port" as written: the Host header and the pool's key
  std::string_view host;       // without brackets for IPv6 literals
  uint16_t port = 80;
  std::string_view target;     // path and query ("/" when empty), fragment dropped
};

// True for "http://" URLs without user info; `out` then describes it, or `error` says what is
// malformed (still true: the engine fails such calls itself).
bool parse_http_url(std::string_view url, http_url& out, std::string& error);

// A call handed to the engine. `tag` is the caller's (http_client's host record).
struct native_call {
  request req;
  std::function<void(response)> done;
  steady::time_point started;
  steady::time_point deadline;  // time_point::max() without a timeout
  steady::time_point connect_by;  // name lookup and connect (set by the engine, per attempt)
  void* tag = nullptr;
  // Already sent again once after a kept-alive connection died under it; takes a new one.
  bool retried = false;
  size_t target_at = 0;  // the request target's place in req.url (set by the engine)
  size_t target_len = 0;
};

// The error of a call whose response body is over the client's max_response_bytes (both
// engines say the same).
std::string too_large_text(size_t max_body);

class native_engine {
 public:
  // `finished` runs on the I/O thread for every call, exactly once; `wake` interrupts the
  // loop's epoll_wait from another thread (the resolver's).
  using finished_fn = std::function<void(native_call&, response)>;
  // `enabled` false: handles() says no to every URL. `max_open`: connections open at once,
  // idle ones included (the least recently used idle one is closed to make room).
  // `max_body`: a response body larger than this fails its call ("response body too large").
  native_engine(int epoll_fd, std::function<void()> wake, finished_fn finished, bool enabled,
                size_t max_open, size_t max_body);
  ~native_engine();  // closes every connection; call abort_all first to complete the calls
  native_engine(const native_engine&) = delete;
  native_engine& operator=(const native_engine&) = delete;

  // Whether `url` is the engine's (plain http, no credentials, no proxy in the environment).
  bool handles(std::string_view url) const;
  // Starts the call; may finish it before returning (a malformed URL, a failed socket()).
  void start(native_call c);
  // epoll events carrying one of our tags (bit 63 set).
  static bool owns(uint64_t tag) { return (tag >> 63) != 0; }
  void on_event(uint64_t tag, uint32_t events);
  // Resolver results and expired deadlines; run once per loop round.
  void poll();
  // When poll() next has deadline work (time_point::max() if none).
  steady::time_point next_deadline() const { return next_check_; }
  size_t active() const { return active_; }
  // Ends every call with outcome failed and `why`.
  void abort_all(const std::string& why);

 private:
  struct endpoint;
  struct conn;
  struct resolver;

  endpoint& endpoint_for(const http_url& u);
  void dispatch(endpoint& ep, native_call c);
  bool prepare(conn& k);
  void open_conn(endpoint& ep, native_call c, size_t addr_index);
  void send_some(conn& k);
  void recv_some(conn& k, bool peer_closed);
  void connected(conn& k);
  void connect_failed(conn& k, int err);
  void finish(conn& k, response res, bool keep);
  void fail(conn& k, response::outcome o, std::string error);
  void retry_or_fail(conn& k, std::string error);
  void close_conn(conn& k);
  void close_oldest_idle();
  void complete(native_call& c, response res);
  void fail_call(native_call& c, response::outcome o, std::string error);
  // `lasting`: a failure to remember for a while (the name does not exist), not a passing one.
  void resolved(const std::string& key, std::vector<sockaddr_storage> addrs, std::string error,
                bool lasting);
  void arm_connect(native_call& c);
  void expire(steady::time_point now);
  void note_deadline(steady::time_point t) {
    if (t < next_check_) next_check_ = t;
  }

  const int epoll_fd_;
  const bool enabled_;
  const size_t max_open_;
  const size_t max_body_;
  size_t open_total_ = 0;
  finished_fn finished_;
  std::shared_ptr<resolver> resolver_;
  std::unordered_map<std::string, endpoint> endpoints_;
  std::vector<std::unique_ptr<conn>> conns_;  // by slot; free slots have fd -1
  std::vector<uint32_t> free_slots_;
  size_t active_ = 0;  // calls started and not finished
  steady::time_point next_check_ = steady::time_point::max();
  std::string recv_buf_;
};

}  // namespace medflow::net::http_client::detail
