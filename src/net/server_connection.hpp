// The server side of one HTTP/1.1 connection without its socket: bytes in, requests out;
// answers in, bytes out; and the state its timers need. The epoll loop of net/http_server
// drives one per connection, the fuzz target (fuzz/http_server_fuzz.cpp) drives it directly.
//
// One request at a time: after a request comes out, the caller calls next() again only once
// its answer is on the wire, so bytes of a pipelined request wait in the buffer until then.
#pragma once

#include "net/http1.hpp"
#include "net/message.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace medflow::net {

// How the answer to one request is to be written, fixed when the request is read, so that any
// thread can write it.
struct answer_shape {
  bool head = false;        // HEAD: the answer's body is not sent
  bool keep_alive = true;   // the connection stays open after the answer
  bool http10 = false;      // an HTTP/1.0 client: told when it is kept
};

// The bytes of `res` as the answer to a request of this shape, closing the connection unless
// `keep_alive`. Any thread; the Date comes from the thread's date cache (net/date.hpp).
std::string answer_bytes(const response& res, const answer_shape& shape, bool keep_alive);

class server_connection {
 public:
  struct options {
    request_reader::limits limits;
    size_t keep_alive_max_count = 100000;  // requests per connection; the last is told close
    int64_t read_timeout_us = 5'000'000;   // a started request must be whole within this: 408
    int64_t keep_alive_timeout_us = 30'000'000;  // an idle connection is closed after this
    size_t max_buffered = 256 * 1024;      // received bytes held before they are parsed
  };

  enum class event {
    idle,           // nothing to do until more bytes come
    request,        // a whole request: take_request(); next() again once it is answered
    send_continue,  // send continue_bytes() now: the client waits for them to send its body
    error,          // unreadable: answer error_status() / error_text(), then close
  };
  enum class expiry { none, read_timeout, idle };

  explicit server_connection(const options& o);

  // -- bytes in ------------------------------------------------------------------------------
  // Room for more received bytes (what is held unparsed stays under max_buffered).
  bool wants_input() const { return in_.size() - in_off_ < opts_.max_buffered; }
  void received(const char* data, size_t n) { in_.append(data, n); }
  // Received bytes not parsed yet (a pipelined request waiting, or an incomplete one).
  size_t buffered() const { return in_.size() - in_off_; }

  // -- requests out --------------------------------------------------------------------------
  // What the buffered bytes make. Call while no request is out; after an error, it is error
  // again.
  event next(int64_t now_us);
  // After event::request. The request's path is decoded and its query parsed; an absolute-form
  // target (http://host/path?q, RFC 9112 3.2.2) gives the same path and query as its
  // origin-form. `lease`: the body's lease on limits.body_budget, which is then the caller's to
  // hold for as long as the body lives (else it is released here).
  request take_request(answer_shape& shape, budget_lease* lease = nullptr);
  static std::string_view continue_bytes() { return "HTTP/1.1 100 Continue\r\n\r\n"; }
  // After event::error: the status to answer and why.
  int error_status() const { return error_status_; }
  const std::string& error_text() const { return error_; }
  // What was read of a request answered with an error (unreadable, or not complete in time):
  // method, target and path once its request line was read, nothing before.
  request unread();

  // -- timers --------------------------------------------------------------------------------
  // A byte of a request came and the request is not whole yet.
  bool mid_request() const { return reader_.received_any(); }
  // Due now? A started request past read_timeout (answer 408), or nothing received since
  // `last_active_us` (the last byte in or answer out) for keep_alive_timeout (close).
  expiry expired(int64_t now_us, int64_t last_active_us) const;
  uint64_t served() const { return served_; }

 private:
  void compact();

  options opts_;
  request_reader reader_;
  std::string in_;
  size_t in_off_ = 0;
  int64_t request_start_us_ = 0;
  uint64_t served_ = 0;
  bool sent_continue_ = false;
  request ready_;
  answer_shape ready_shape_;
  budget_lease ready_lease_;
  int error_status_ = 0;
  std::string error_;
  request unread_;
};

}  // namespace medflow::net
