// medflowd's own HTTP/1.1 server engine: a few epoll threads own all connections, read each
// through its server_connection (the socket-free protocol core; framing by Boost.Beast) and
// hand every request to the dispatcher. The answer may come at once, from a worker of the
// blocking pool, or later from any thread (an actor): that thread writes it to the socket
// itself, so an answer built by an actor reaches the client without waking another thread,
// and a request waiting for its answer holds no thread at all. Every answer carries a Date.
// An answer may also be streamed (exchange::start_stream): its head at once, its body in
// pieces written from anywhere, through a bounded per-connection buffer (answer_stream).
//
// A connection serves one request at a time: bytes of a pipelined next request wait in its
// buffer until the answer is written. A loop round accepts (and reads) new connections first,
// then connections with at most 4 KB waiting (a request head), then gives each of the others a
// turn of at most 64 KB, up to 1 MB a round; who is left waits for the next round, in order:
// however many clients push bytes at once, a probe waits at most about one such round.
// Keep-alive idle timeout, a read timeout for a request that does not complete, a
// most-requests-per-connection limit and 100-continue are handled here and in
// server_connection; what a request means (routing, errors, metrics) is the
// dispatcher's business (http/server).
#pragma once

#include "net/byte_budget.hpp"
#include "net/message.hpp"
#include "net/server_connection.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace medflow::net {

struct server_conn;
struct server_shared;
class server_loop;
class answer_stream;

// How a streamed answer ended (stream_events::closed).
enum class stream_end {
  ended,           // end() (or a HEAD request: the head alone): every byte is on the wire
  aborted,         // abort(): the connection was closed without the body's end
  client_gone,     // the client closed the connection, or writing to it failed
  send_timeout,    // the client read nothing for send_timeout_ms with bytes waiting: closed
  server_stopped,  // stop(): the body was ended for the client (as by end()), or cut at the grace
};
const char* to_string(stream_end e);

// What a stream tells its producer, on the connection's loop thread: a callback must not block
// (post to an actor); it may call the stream's write(), end() and abort().
struct stream_events {
  // After a write() that returned full: the buffer has drained to half its cap.
  std::function<void()> drained;
  // Once, when the stream ends for whatever reason; writes return closed from then on.
  std::function<void(stream_end)> closed;
};

// One request and its answer. Exactly one answer reaches the wire: the first respond() wins.
class exchange : public std::enable_shared_from_this<exchange> {
 public:
  request req;
  answer_shape shape;  // how the answer is written (HEAD, keep-alive, HTTP/1.0)
  // Called with the answer (a stream's head) once it is written (or handed to the loop to
  // finish).
  std::function<void(const response& res)> on_answer;

  exchange() = default;
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;
  // Dropped without an answer (a handler's bug): the client gets a 500 rather than a hang.
  ~exchange();

  // Answers the request. Any thread, any time; returns false when it had been answered already
  // (e.g. by its deadline).
  bool respond(response res);
  // Answers with what `make` returns, called on the connection's loop thread: for an answerer
  // on a serial stage (the store's writer) that should not spend its time rendering and
  // writing. `make` may throw (the client then gets a 500); nothing happens when the request
  // is answered before (e.g. by its deadline).
  void respond_with(std::function<response()> make);
  // Unless answered before steady time `deadline_us` (clock::steady_us), `fallback` is the
  // answer then. Any thread; at most one deadline per exchange.
  void set_deadline(int64_t deadline_us, response fallback);
  bool answered() const { return answered_.load(std::memory_order_acquire); }

  // Answers with a streamed body: `head`'s status and headers now (its body is ignored), the
  // body later through the stream returned (see answer_stream). Any thread. nullptr when the
  // request was answered already, or when it is answered here instead: 503 (Retry-After) when
  // max_streams are open or the server is stopping.
  std::shared_ptr<answer_stream> start_stream(response head, stream_events ev);

 private:
  friend class server_loop;
  std::shared_ptr<server_conn> conn_;
  budget_lease body_lease_;  // the body's share of max_inflight_body_bytes, until this ends
  std::atomic<bool> answered_{false};
  response fallback_;  // set by set_deadline before it is queued
};


// The producer's end of a streamed answer (exchange::start_stream); any thread. HTTP/1.1: each
// write() is one chunk (chunked transfer coding) and after end() the connection serves its next
// request. HTTP/1.0: the bytes as they are, and end() closes the connection (the body is
// close-delimited). HEAD: the head alone, and the stream is ended at once (writes: closed).
//
// Backpressure: what is written and not yet on the wire is held here, up to the server's
// stream_buffer_bytes; a write that would go beyond it is refused (full) and `drained` follows
// once half of it has gone out. A client that takes nothing for send_timeout_ms while bytes
// wait is cut off (closed: send_timeout).
class answer_stream {
 public:
  enum class put {
    ok,      // queued
    full,    // refused, nothing queued: wait for `drained` (a write into an empty buffer is
             // always taken, whatever its size)
    closed,  // the stream has ended (end(), abort(), or `closed` was told or is on its way)
  };
  put write(std::string_view data);
  // Ends the body (the last chunk); `closed` (ended) follows once it is on the wire.
  void end();
  // Closes the connection without ending the body: the client sees an incomplete answer.
  void abort();
  // Bytes written and not yet on the wire.
  size_t buffered() const;

  answer_stream(const answer_stream&) = delete;
  answer_stream& operator=(const answer_stream&) = delete;

 private:
  friend class exchange;
  friend class server_loop;
  enum class phase { open, ending, done };
  answer_stream() = default;
  void wake_locked();  // with m_ held: have the loop flush, once per batch of writes

  // Fixed at the start.
  stream_events ev_;
  size_t cap_ = 0;
  bool chunked_ = true;  // HTTP/1.1
  bool keep_alive_ = true;
  // Shared with the producers, under m_.
  mutable std::mutex m_;
  std::shared_ptr<server_conn> conn_;  // until the stream is done
  std::string pending_;  // bytes the loop has not taken yet
  size_t sending_ = 0;   // bytes the loop has taken and not sent yet
  bool posted_ = false;  // a flush is on its way to the loop
  bool want_drain_ = false;
  bool abort_ = false;
  phase phase_ = phase::open;
  stream_end why_ = stream_end::ended;  // what `closed` says once the ending bytes are out
  // The loop's alone.
  std::string out_;
  size_t out_off_ = 0;
  int64_t progress_us_ = 0;  // bytes waiting in out_: when the last of them went out
};

class http_server {
 public:
  struct options {
    std::string host = "127.0.0.1";
    int port = 8080;
    size_t loops = 1;                   // epoll threads
    size_t pool_threads = 64;           // most blocking handlers at once
    size_t max_body_bytes = 1 << 20;
    size_t keep_alive_max_count = 100000;
    int keep_alive_timeout_ms = 30000;  // idle connection closed after this
    int read_timeout_ms = 5000;         // a started request must complete within this (408)
    int send_timeout_ms = 30000;        // an answer that makes no progress this long: closed
    int stop_grace_ms = 10000;          // stop() waits this long for answers in flight
    // Connections open at once (over all loops; lowered by start() to fit RLIMIT_NOFILE).
    // Beyond it, up to reserved_connections more (shared by the loops) may each ask one GET
    // or HEAD of a probe_paths path, answered as usual and then closed; any other request on
    // them gets 503. A place is free again as soon as its answer is out. With the reserve
    // full, its oldest connection that has asked nothing (no request out, no bytes waiting)
    // gives its place to the new one (503, closed), unless both were accepted in the same loop
    // round and the new one has not asked either; with none such, the new one gets the 503.
    size_t max_connections = 10000;
    size_t reserved_connections = 32;
    std::vector<std::string> probe_paths;
    // Bytes of request bodies being read or answered at once, over all connections: a body
    // that does not fit (its Content-Length, or its next chunk) gets 503 with Retry-After.
    size_t max_inflight_body_bytes = size_t{64} << 20;
    // Streamed answers open at once (over all loops); beyond it start_stream answers 503.
    size_t max_streams = 1000;
    // A stream's bytes written and not yet on the wire (see answer_stream).
    size_t stream_buffer_bytes = 256 * 1024;
  };
  // Runs on a loop thread for each complete request; must see to it that ex->respond() is
  // called once (at once, or later from anywhere; run_blocking() for handlers that block).
  using dispatcher = std::function<void(const std::shared_ptr<exchange>& ex)>;
  // An error answer the engine gives itself. `unread`: the request could not be read (400,
  // 408, 413, 414, 431, 501, 505; `req` holds what was parsed of it, path may be empty);
  // otherwise a dispatched request failed or was dropped unanswered (500), and its route's
  // on_answer counts it.
  using error_answer = std::function<response(const request& req, int status,
                                              const std::string& why, bool unread)>;

  http_server(options opts, dispatcher d, error_answer e);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds (port 0: any free port) and starts the threads. Returns the port.
  int start();
  // Stops accepting, answers in flight get up to stop_grace_ms (or grace_ms when given, >= 0),
  // then every connection is closed and the threads are joined. Idempotent.
  void stop(int grace_ms = -1);
  // Runs fn on the blocking pool (grows up to pool_threads; beyond that tasks queue).
  void run_blocking(std::function<void()> fn);

  // For tests and metrics.
  size_t connections() const;
  size_t pool_size() const;
  size_t body_bytes_in_flight() const;
  size_t streams() const;
  size_t max_connections() const { return opts_.max_connections; }  // after start(): in force

 private:
  class pool {
   public:
    explicit pool(size_t max) : max_(max) {}
    void submit(std::function<void()> fn);
    void stop();
    size_t size() const;

   private:
    void work();
    size_t max_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    std::vector<std::thread> threads_;
    size_t idle_ = 0;
    bool stopping_ = false;
  };

  void fit_descriptor_limit();

  options opts_;
  std::shared_ptr<server_shared> shared_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<std::shared_ptr<server_loop>> loops_;
  std::vector<std::thread> threads_;
  pool pool_;
  dispatcher dispatch_;
  error_answer error_answer_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace medflow::net
