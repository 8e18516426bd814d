#include "net/http_server.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/date.hpp"
#include "net/http1.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

namespace medflow::net {

namespace {

// A connection's state, shared between its loop and whoever answers its request.
enum : int {
  st_idle = 0,          // the loop reads and parses
  st_busy = 1,          // a request is out; the answerer owns the socket's writing
  st_busy_pending = 2,  // the same, and the loop has more to read: hand it back when done
};

constexpr size_t read_chunk = 64 * 1024;
// What one loop round reads, over all its connections, and what one connection's turn reads:
// the rest waits for a later round (server_loop::ready_), behind the new connections. Without
// these, a round served 256 events of up to 4 MB each: 300 clients pushing bodies made rounds
// of 100-400 ms, and a /healthz probe waited behind them (bench/README.md, "Abuse").
constexpr size_t round_read_bytes = 1 << 20;
constexpr size_t turn_read_bytes = read_chunk;
// A connection with at most this much waiting (a request head, as a keep-alive probe's GET,
// or the first bytes of a new connection's request) goes before the others, and gets its turn
// even when the round's budget is spent: 256 events of these are at most 1 MB more.
constexpr size_t few_bytes = 4096;
constexpr int64_t scan_every_us = 250'000;   // timeouts are checked this often
constexpr int64_t linger_us = 2'000'000;     // a closing connection's reads are drained this long
constexpr size_t linger_max_bytes = 1 << 20; // and at most this much of them

char listen_tag;
char event_tag;

// One read buffer per loop thread, for requests and for what a closing client still sends.
std::vector<char>& scratch() {
  thread_local std::vector<char> buf(read_chunk);
  return buf;
}

// Nothing a request does may end the loop (an exception would end the process).
template <typename F>
void guarded(const char* what, F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    log::error("http", what, " failed: ", e.what());
  } catch (...) {
    log::error("http", what, " failed");
  }
}

// Bytes wait in the socket, unread.
bool has_unread(int fd) {
  char b;
  return ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// At most few_bytes wait in the socket (or its end).
bool few_waiting(int fd) {
  int n = 0;
  return ::ioctl(fd, FIONREAD, &n) == 0 && n >= 0 && static_cast<size_t>(n) <= few_bytes;
}

}  // namespace

// What the loops of one server share: the connections counted against max_connections and
// the budget of request bodies in flight.
struct server_shared {
  explicit server_shared(size_t max_body_bytes) : bodies(max_body_bytes) {}
  std::atomic<size_t> open{0};  // connections within max_connections
  byte_budget bodies;
  std::atomic<size_t> streams{0};  // streamed answers started and not done
};

struct server_conn {
  explicit server_conn(const server_connection::options& o) : core(o) {}

  int fd = -1;
  std::shared_ptr<server_loop> owner;
  std::atomic<int> st{st_idle};
  std::atomic<int64_t> last_active_us{0};
  // The loop's alone, or the answerer's while busy and until it hands them over with a post.
  std::string out;
  size_t out_off = 0;
  bool close_after = false;
  // The loop's alone.
  server_connection core;  // the protocol: buffered bytes, the request being read, its timers
  bool drained = false;    // the last read ended with EAGAIN (or EOF)
  bool eof = false;
  bool registered = true;
  bool flushing = false;
  bool lingering = false;  // answered and shut for writing: reading what the client still sends
  size_t lingered = 0;     // bytes read and dropped while lingering
  bool deferred = false;   // in its loop's ready_: has bytes to read that its turn left
  int64_t linger_until_us = 0;
  int64_t send_progress_us = 0;  // while flushing: when the last byte of the answer went out
  std::shared_ptr<answer_stream> stream;  // a streamed answer is being written (the loop's)
  bool reserved = false;   // beyond max_connections: for one probe request (see options)
  bool in_reserve = false; // holds a place in its loop's reserve
  bool counted = false;    // counted in server_shared::open
  uint64_t accepted_round = 0;  // the loop's round that accepted it
  std::string remote_addr;
  int remote_port = -1;

  ~server_conn() {
    if (fd >= 0) ::close(fd);
  }
};

class server_loop : public std::enable_shared_from_this<server_loop> {
 public:
  server_loop(const http_server::options& o, const http_server::dispatcher& d,
              const http_server::error_answer& e, int listen_fd,
              std::shared_ptr<server_shared> shared, size_t reserve)
      : opts_(o), dispatch_(d), error_answer_(e), listen_fd_(listen_fd),
        shared_(std::move(shared)), reserve_max_(std::max<size_t>(1, reserve)) {
    core_opts_.limits.max_body = o.max_body_bytes;
    core_opts_.limits.body_budget = &shared_->bodies;
    core_opts_.keep_alive_max_count = o.keep_alive_max_count;
    core_opts_.read_timeout_us = int64_t{o.read_timeout_ms} * 1000;
    core_opts_.keep_alive_timeout_us = int64_t{o.keep_alive_timeout_ms} * 1000;
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    evfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || evfd_ < 0) throw std::runtime_error(std::string("epoll: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &event_tag;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    watch_listener();
  }
  ~server_loop() {
    ::close(epfd_);
    ::close(evfd_);
  }

  void run();

  // -- any thread ----------------------------------------------------------------------------
  void request_stop(int64_t grace_until_us) {
    post({op::stop, nullptr, {}, grace_until_us});
  }
  void add_deadline(const std::shared_ptr<exchange>& ex, int64_t at_us) {
    if (std::this_thread::get_id() == tid_) push_timer(at_us, ex);
    else post({op::timer, nullptr, ex, at_us});
  }
  // Writes an answer; the caller holds the connection (busy). What does not fit in the socket
  // now is handed to the loop, which writes it when the socket drains.
  void write_answer(const std::shared_ptr<server_conn>& c, std::string bytes, bool close) {
    size_t off = 0;
    // Answered on another thread (a store writer, an actor), the loop writes all of it: a send
    // on a loopback or LAN connection runs the receiver's TCP path in the sender's thread, and
    // a serial stage such as the store's writer should not pay for that (issue 20).
    if (std::this_thread::get_id() == tid_) {
      while (off < bytes.size()) {
        ssize_t n = ::send(c->fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          off += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          break;
        } else {
          post({op::abort, c, {}, 0});  // the client is gone
          return;
        }
      }
      if (off == bytes.size()) return written(c, close);
    }
    c->out = std::move(bytes);
    c->out_off = off;
    c->close_after = close;
    post({op::flush, c, {}, 0});
  }
  // A stream has bytes to write, an end or an abort (from its producer, any thread).
  void wake_stream(const std::shared_ptr<server_conn>& c) { post({op::stream, c, {}, 0, {}}); }
  // Runs `fn` on this loop's thread, in order with the other posted work.
  void run_on_loop(std::function<void()> fn) { post({op::run, nullptr, {}, 0, {}, std::move(fn)}); }
  // A stream starts on c: the loop writes its head and what follows.
  void attach_stream(const std::shared_ptr<server_conn>& c, std::shared_ptr<answer_stream> s) {
    post({op::stream_start, c, {}, 0, std::move(s)});
  }
  std::atomic<size_t>& streams() { return shared_->streams; }
  response error_answer(const request& req, int status, const std::string& why, bool unread) {
    auto res = error_answer_(req, status, why, unread);
    // The engine's 503s (too many connections, too many bodies) pass: say when to retry.
    if (status == 503 && !res.has_header("Retry-After")) res.set_header("Retry-After", "1");
    return res;
  }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  size_t connections() const { return count_.load(std::memory_order_relaxed); }
  const http_server::options& opts() const { return opts_; }

 private:
  struct op {
    enum kind { resume, flush, close, abort, timer, stop, stream, stream_start, run } k;
    std::shared_ptr<server_conn> c;
    std::weak_ptr<exchange> ex;
    int64_t t;
    std::shared_ptr<answer_stream> s;  // stream_start
    std::function<void()> fn;          // run
  };
  struct timer {
    int64_t at;
    std::weak_ptr<exchange> ex;
    bool operator>(const timer& o) const { return at > o.at; }
  };

  void post(op o) {
    {
      std::lock_guard<std::mutex> g{ops_m_};
      if (finished_) return;  // nothing reads it any more; holding it would keep `this` alive
      ops_.push_back(std::move(o));
      // The loop takes the whole queue at once (run_ops): a wake is owed only by the post
      // that found it empty.
      if (ops_.size() > 1) return;
    }
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(evfd_, &one, sizeof one);
  }
  // The whole answer is on the wire: the connection goes back to its loop.
  void written(const std::shared_ptr<server_conn>& c, bool close) {
    c->last_active_us.store(clock::steady_us(), std::memory_order_relaxed);
    // Stopping: even an answer that promised keep-alive (decided before the stop) ends its
    // connection, or the loop would wait for it until the grace ends.
    if (close || stopping()) {
      // A reserved place is free once its answer is out (else at the close op, this round).
      if (std::this_thread::get_id() == tid_) leave_reserve(c);
      return post({op::close, c, {}, 0});
    }
    int expected = st_busy;
    if (c->st.compare_exchange_strong(expected, st_idle, std::memory_order_acq_rel)) return;
    c->st.store(st_idle, std::memory_order_release);  // it was busy_pending
    post({op::resume, c, {}, 0});
  }

  void watch_listener() {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = &listen_tag;
    listening_ = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
  }
  void unwatch_listener() {
    if (listening_) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    listening_ = false;
  }
  void push_timer(int64_t at, std::weak_ptr<exchange> ex) {
    timers_.push_back({at, std::move(ex)});
    std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
  }

  void accept_all(int64_t now);
  bool admit_reserved(bool asked);
  void leave_reserve(const std::shared_ptr<server_conn>& c);
  void refuse(int fd);
  bool is_probe(const request& req) const;
  void on_event(server_conn* raw, uint32_t events, bool few = false);
  void readable(std::shared_ptr<server_conn> c, bool few = false);
  void defer(const std::shared_ptr<server_conn>& c);
  void serve_deferred();
  // `few`: a turn for a connection with at most few_bytes waiting.
  bool turn_over(size_t turn, bool few = false) const {
    if (few) return turn >= few_bytes;
    return turn >= turn_read_bytes || round_read_ >= round_read_bytes;
  }
  void process(std::shared_ptr<server_conn> c, bool few = false);
  // Reads what the socket has into c's buffer, as much as it holds; `got`: some bytes came.
  // (A streamed answer's connection: what its client sends is small, bounded by the buffer.)
  enum class received { drained, eof, failed, buffer_full };
  received receive(server_conn& c, bool& got);
  void dispatch(const std::shared_ptr<server_conn>& c);
  void answer_error(const std::shared_ptr<server_conn>& c, int status, const std::string& why);
  void flush(const std::shared_ptr<server_conn>& c);
  void close_conn(const std::shared_ptr<server_conn>& c);
  void linger(const std::shared_ptr<server_conn>& c);
  void drain(const std::shared_ptr<server_conn>& c);
  void run_ops();
  void stream_flush(const std::shared_ptr<server_conn>& c);
  void stream_read(const std::shared_ptr<server_conn>& c);
  void stream_done(server_conn& c, stream_end why);
  void end_streams();
  void run_timers(int64_t now);
  void close_idle();
  void scan(int64_t now);

  // Copies: a loop outlives its engine while an answerer still holds one of its connections.
  const http_server::options opts_;
  const http_server::dispatcher dispatch_;
  const http_server::error_answer error_answer_;
  int listen_fd_;
  const std::shared_ptr<server_shared> shared_;
  const size_t reserve_max_;  // this loop's share of reserved_connections
  std::deque<std::shared_ptr<server_conn>> reserve_;  // reserved connections, oldest first
  server_connection::options core_opts_;
  int epfd_ = -1;
  int evfd_ = -1;
  bool listening_ = false;
  int64_t accept_paused_until_ = 0;
  std::thread::id tid_;
  std::atomic<bool> stopping_{false};
  int64_t grace_until_ = 0;
  std::atomic<size_t> count_{0};
  std::unordered_map<server_conn*, std::shared_ptr<server_conn>> conns_;
  std::vector<std::shared_ptr<server_conn>> closed_;  // released at the end of the round
  std::vector<timer> timers_;                   // min-heap on `at`
  int64_t next_scan_ = 0;
  uint64_t round_ = 0;  // epoll rounds so far
  size_t round_read_ = 0;  // bytes read in this round
  // Connections with bytes left to read when their turn or the round's budget ran out, oldest
  // first: served at the start of the next rounds, before their new events.
  std::deque<std::shared_ptr<server_conn>> ready_;
  std::vector<epoll_event> many_;  // this round's events with more than few_bytes waiting

  std::mutex ops_m_;
  std::vector<op> ops_;
  std::vector<op> ops_taken_;
  bool finished_ = false;

};

// -- exchange ------------------------------------------------------------------------------

bool exchange::respond(response res) {
  if (answered_.exchange(true, std::memory_order_acq_rel)) return false;
  auto& lp = *conn_->owner;
  bool keep = shape.keep_alive && !lp.stopping();
  // Counted before it is written: a client that has its answer finds it in /metrics.
  if (on_answer) on_answer(res);
  lp.write_answer(conn_, answer_bytes(res, shape, keep), !keep);
  return true;
}

void exchange::respond_with(std::function<response()> make) {
  if (answered()) return;
  conn_->owner->run_on_loop([self = shared_from_this(), make = std::move(make)]() noexcept {
    if (self->answered()) return;
    try {
      response res;
      try {
        res = make();
      } catch (const std::exception& e) {
        log::error("http", "building an answer failed: ", e.what());
        res = self->conn_->owner->error_answer(self->req, 500, "internal error", false);
      }
      self->respond(std::move(res));
    } catch (...) {
      // Logged; an exchange left unanswered gets its 500 from its destructor.
      log::error("http", "answering a request failed");
    }
  });
}

std::shared_ptr<answer_stream> exchange::start_stream(response head, stream_events ev) {
  if (answered_.load(std::memory_order_acquire)) return nullptr;
  auto& lp = *conn_->owner;
  auto& open = lp.streams();
  size_t n = open.load(std::memory_order_relaxed);
  do {
    if (n >= lp.opts().max_streams || lp.stopping()) {
      respond(lp.error_answer(req, 503, lp.stopping() ? "the server is stopping"
                                                      : "too many streams open", false));
      return nullptr;
    }
  } while (!open.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  if (answered_.exchange(true, std::memory_order_acq_rel)) {
    open.fetch_sub(1, std::memory_order_acq_rel);
    return nullptr;
  }
  auto s = std::shared_ptr<answer_stream>(new answer_stream());
  s->ev_ = std::move(ev);
  s->cap_ = std::max<size_t>(1, lp.opts().stream_buffer_bytes);
  s->chunked_ = !shape.http10;
  s->keep_alive_ = shape.keep_alive && s->chunked_;
  s->conn_ = conn_;
  write_stream_head(s->pending_, head, s->chunked_, s->keep_alive_, current_date());
  if (shape.head) s->phase_ = answer_stream::phase::ending;  // the head is the whole answer
  s->posted_ = true;
  lp.attach_stream(conn_, s);
  if (on_answer) on_answer(head);
  return s;
}

void exchange::set_deadline(int64_t deadline_us, response fallback) {
  fallback_ = std::move(fallback);
  conn_->owner->add_deadline(shared_from_this(), deadline_us);
}

exchange::~exchange() {
  // A handler that dropped its request without answering it: the client still gets an answer.
  if (conn_ && !answered()) {
    try {
      // The path carries personal data (patient ids): at debug only.
      log::error("http", "a ", req.method, " request was dropped without an answer");
      log::debug("http", req.method, " ", req.path, ": dropped without an answer");
      respond(conn_->owner->error_answer(req, 500, "internal error", false));
    } catch (...) {
      log::error("http", "answering a dropped request failed");
    }
  }
}

// -- answer_stream ---------------------------------------------------------------------------

const char* to_string(stream_end e) {
  switch (e) {
    case stream_end::ended: return "ended";
    case stream_end::aborted: return "aborted";
    case stream_end::client_gone: return "client gone";
    case stream_end::send_timeout: return "send timeout";
    case stream_end::server_stopped: return "server stopped";
  }
  return "?";
}

void answer_stream::wake_locked() {
  if (posted_ || !conn_) return;
  posted_ = true;
  conn_->owner->wake_stream(conn_);
}

answer_stream::put answer_stream::write(std::string_view data) {
  std::lock_guard<std::mutex> g{m_};
  if (phase_ != phase::open || abort_) return put::closed;
  size_t held = pending_.size() + sending_;
  if (held > 0 && held + data.size() > cap_) {
    want_drain_ = true;
    return put::full;
  }
  if (data.empty()) return put::ok;
  if (chunked_) write_chunk(pending_, data);
  else pending_.append(data);
  wake_locked();
  return put::ok;
}

void answer_stream::end() {
  std::lock_guard<std::mutex> g{m_};
  if (phase_ != phase::open) return;
  phase_ = phase::ending;
  if (chunked_) write_last_chunk(pending_);
  wake_locked();
}

void answer_stream::abort() {
  std::lock_guard<std::mutex> g{m_};
  if (phase_ == phase::done || abort_) return;
  abort_ = true;
  wake_locked();
}

size_t answer_stream::buffered() const {
  std::lock_guard<std::mutex> g{m_};
  return pending_.size() + sending_;
}

// -- server_loop ---------------------------------------------------------------------------

void server_loop::run() {
  tid_ = std::this_thread::get_id();
  std::vector<epoll_event> evs(256);
  next_scan_ = clock::steady_us() + scan_every_us;
  for (;;) {
    int64_t now = clock::steady_us();
    int64_t wake = next_scan_;
    if (!timers_.empty()) wake = std::min(wake, timers_.front().at);
    if (stopping_.load(std::memory_order_relaxed)) wake = std::min(wake, grace_until_);
    int timeout_ms = wake <= now || !ready_.empty()
                         ? 0
                         : static_cast<int>((wake - now + 999) / 1000);
    int n = ::epoll_wait(epfd_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    now = clock::steady_us();
    ++round_;
    round_read_ = 0;
    bool accept_ready = false;
    for (int i = 0; i < n; ++i) {
      void* tag = evs[static_cast<size_t>(i)].data.ptr;
      if (tag == &event_tag) {
        uint64_t v;
        [[maybe_unused]] auto r = ::read(evfd_, &v, sizeof v);
      } else if (tag == &listen_tag) {
        accept_ready = true;
      }
    }
    // New connections first, each read at once: a probe (a new connection that asks at once)
    // is answered in the round that accepts it, however many bytes others have waiting. A
    // reserved place is not lost to this order: one whose request waits unread is never the
    // one given up (admit_reserved).
    if (accept_ready) guarded("accept", [&] { accept_all(now); });
    // Then the connections with few bytes waiting (a request head: a keep-alive probe's GET,
    // a new connection's first request), then those left over by earlier rounds, then the
    // rest of this round's, while the round's budget lasts.
    many_.clear();
    for (int i = 0; i < n; ++i) {
      auto& ev = evs[static_cast<size_t>(i)];
      if (ev.data.ptr == &event_tag || ev.data.ptr == &listen_tag) continue;
      auto* raw = static_cast<server_conn*>(ev.data.ptr);
      auto it = conns_.find(raw);
      if (it == conns_.end()) continue;  // closed earlier in this round
      if (it->second->lingering || !few_waiting(raw->fd)) {
        many_.push_back(ev);
        continue;
      }
      guarded("a connection's event", [&] { on_event(raw, ev.events, true); });
    }
    guarded("deferred reads", [&] { serve_deferred(); });
    for (auto& ev : many_)
      guarded("a connection's event",
              [&] { on_event(static_cast<server_conn*>(ev.data.ptr), ev.events); });
    guarded("posted work", [&] { run_ops(); });
    guarded("deadlines", [&] { run_timers(now); });
    if (stopping_.load(std::memory_order_relaxed)) guarded("closing", [&] { close_idle(); });
    if (now >= next_scan_) {
      guarded("timeouts", [&] { scan(now); });
      next_scan_ = now + scan_every_us;
    }
    closed_.clear();
    if (stopping_.load(std::memory_order_relaxed) && (conns_.empty() || now >= grace_until_)) break;
  }
  for (auto& [raw, c] : conns_) {
    if (c->stream) stream_done(*c, stream_end::server_stopped);
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
    ::shutdown(c->fd, SHUT_RDWR);
    c->registered = false;
  }
  conns_.clear();
  reserve_.clear();
  ready_.clear();
  count_.store(0);
  timers_.clear();
  std::vector<op> dropped;
  {
    std::lock_guard<std::mutex> g{ops_m_};
    finished_ = true;
    dropped.swap(ops_);
  }
  // Destroyed outside the lock: an op may hold the last reference to an exchange, whose
  // destructor answers it (a post() from here would otherwise take the lock again).
  dropped.clear();
}

void server_loop::accept_all(int64_t now) {
  for (int accepted = 0; accepted < 64; ++accepted) {  // the listener is level-triggered
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of descriptors or memory: stop accepting for a moment instead of spinning on a
      // listening socket that stays readable.
      log::warn("http", "accept failed: ", std::strerror(errno), "; pausing accepts for 100 ms");
      unwatch_listener();
      accept_paused_until_ = now + 100'000;
      return;
    }
    // Within max_connections, or in the reserve for probes, or refused.
    bool reserved = shared_->open.fetch_add(1, std::memory_order_acq_rel) >= opts_.max_connections;
    if (reserved) {
      shared_->open.fetch_sub(1, std::memory_order_acq_rel);
      if (!admit_reserved(has_unread(fd))) {
        refuse(fd);
        continue;
      }
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_shared<server_conn>(core_opts_);
    c->reserved = c->in_reserve = reserved;
    c->accepted_round = round_;
    c->counted = !reserved;
    c->fd = fd;
    c->owner = shared_from_this();
    c->last_active_us.store(now, std::memory_order_relaxed);
    char host[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&sa);
      ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      c->remote_port = ntohs(a->sin_port);
    } else if (sa.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&sa);
      ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      c->remote_port = ntohs(a->sin6_port);
    }
    c->remote_addr = host;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c.get();
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      log::warn("http", "epoll_ctl: ", std::strerror(errno));
      if (!reserved) shared_->open.fetch_sub(1, std::memory_order_acq_rel);
      continue;  // c's destructor closes fd
    }
    if (reserved) reserve_.push_back(c);
    conns_.emplace(c.get(), c);
    count_.fetch_add(1, std::memory_order_relaxed);
    guarded("a new connection", [&] { process(std::move(c)); });
  }
}

// Room in the reserve: free, or made by closing (503) its oldest connection that has asked
// nothing: no request out and no bytes waiting to be read (a probe asks at once, so one with
// bytes waiting is about to be served). Such a connection accepted in this round has not been
// read even once, so it keeps its place against a newcomer that has not asked either; a
// newcomer that `asked` already (a probe that waited in the listen queue behind a flood of
// idle connections) takes it.
bool server_loop::admit_reserved(bool asked) {
  if (reserve_.size() < reserve_max_) return true;
  for (auto it = reserve_.begin(); it != reserve_.end(); ++it) {
    auto& c = *it;
    if (c->flushing || c->st.load(std::memory_order_acquire) != st_idle) continue;
    if (!asked && c->accepted_round == round_) continue;
    if (has_unread(c->fd)) continue;
    auto victim = c;
    leave_reserve(victim);
    answer_error(victim, 503, "too many connections");
    return true;
  }
  return false;
}

void server_loop::leave_reserve(const std::shared_ptr<server_conn>& c) {
  if (!c->in_reserve) return;
  c->in_reserve = false;
  auto it = std::find(reserve_.begin(), reserve_.end(), c);
  if (it != reserve_.end()) reserve_.erase(it);
}

// A connection over every limit: the 503 goes straight out (a fresh socket's buffer has room
// for it) and the connection is closed. What the client sent already is read first, so that
// the close does not turn into a reset that could destroy the answer.
void server_loop::refuse(int fd) {
  auto res = error_answer(request{}, 503, "too many connections", true);
  auto bytes = answer_bytes(res, answer_shape{}, false);
  [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  auto& sink = scratch();
  for (int reads = 0; reads < 4; ++reads)
    if (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) <= 0) break;
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

bool server_loop::is_probe(const request& req) const {
  if (req.method != "GET" && req.method != "HEAD") return false;
  return std::find(opts_.probe_paths.begin(), opts_.probe_paths.end(), req.path) !=
         opts_.probe_paths.end();
}

void server_loop::on_event(server_conn* raw, uint32_t events, bool few) {
  auto it = conns_.find(raw);
  if (it == conns_.end()) return;  // closed earlier in this round
  auto c = it->second;
  if (c->stream) {
    if (events & EPOLLOUT) stream_flush(c);
    if (c->stream && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) stream_read(c);
    return;
  }
  if ((events & EPOLLOUT) && c->flushing && !c->lingering) flush(c);
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || !c->registered) return;
  if (c->deferred) return;  // it waits its turn in ready_ already
  readable(std::move(c), few);
}

// Bytes (or the end) wait in the socket: read them now, or later when the round's budget is
// spent or a request of the connection is out.
void server_loop::readable(std::shared_ptr<server_conn> c, bool few) {
  if (!c->registered) return;
  if (c->lingering) return drain(c);
  if (c->stream) return stream_read(c);
  int expected = st_busy;
  if (c->st.compare_exchange_strong(expected, st_busy_pending, std::memory_order_acq_rel)) return;
  if (expected == st_busy_pending) return;
  process(std::move(c), few);  // idle
}

server_loop::received server_loop::receive(server_conn& c, bool& got) {
  auto& buf = scratch();
  while (c.core.wants_input()) {
    ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      c.core.received(buf.data(), static_cast<size_t>(n));
      got = true;
      continue;
    }
    if (n == 0) return received::eof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return received::drained;
    return received::failed;
  }
  return received::buffer_full;
}

void server_loop::defer(const std::shared_ptr<server_conn>& c) {
  if (c->deferred || !c->registered) return;
  c->deferred = true;
  ready_.push_back(c);
}

// The connections left with bytes to read by earlier rounds, in their order, while the round's
// budget lasts; those it does not reach keep their place.
void server_loop::serve_deferred() {
  for (size_t n = ready_.size(); n > 0 && round_read_ < round_read_bytes; --n) {
    auto c = std::move(ready_.front());
    ready_.pop_front();
    c->deferred = false;
    guarded("a deferred read", [&] { readable(std::move(c)); });
  }
}

// One turn of a connection: reads up to turn_read_bytes within the round's budget (`few`: up
// to few_bytes, whatever the budget), and dispatches what they complete; a client with more to
// send waits for its next turn.
void server_loop::process(std::shared_ptr<server_conn> c, bool few) {
  auto& buf = scratch();
  size_t turn = 0;
  for (int round = 0;; ++round) {
    if (round == 16 || turn_over(turn, few)) return defer(c);
    c->drained = false;
    bool got = false;
    while (c->core.wants_input() && !turn_over(turn, few)) {
      ssize_t n = ::recv(c->fd, buf.data(), few ? few_bytes : buf.size(), 0);
      if (n > 0) {
        c->core.received(buf.data(), static_cast<size_t>(n));
        turn += static_cast<size_t>(n);
        round_read_ += static_cast<size_t>(n);
        got = true;
        continue;
      }
      if (n == 0) {
        c->eof = true;
        c->drained = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->drained = true;
        break;
      }
      return close_conn(c);  // reset by the peer
    }
    int64_t now = clock::steady_us();
    if (got) c->last_active_us.store(now, std::memory_order_relaxed);
    for (bool more = true; more;) {
      switch (c->core.next(now)) {
        case server_connection::event::error:
          return answer_error(c, c->core.error_status(), c->core.error_text());
        case server_connection::event::request:
          dispatch(c);
          // Answered at once (a nonblocking route): on with a pipelined request, if any.
          if (!c->registered || c->st.load(std::memory_order_acquire) != st_idle) return;
          break;
        case server_connection::event::send_continue: {
          // The client waits for this before it sends the body (curl, for a large one).
          auto cont = server_connection::continue_bytes();
          auto n = ::send(c->fd, cont.data(), cont.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          // Only a client that has not read its previous answer leaves no room for 25 bytes;
          // a part of the line would corrupt the stream, so such a connection ends here.
          if (n != static_cast<ssize_t>(cont.size())) return close_conn(c);
          break;
        }
        case server_connection::event::idle:
          more = false;
          break;
      }
    }
    if (c->eof) return close_conn(c);  // nothing more will come; any partial request is moot
    if (c->drained) return;
  }
}

void server_loop::dispatch(const std::shared_ptr<server_conn>& c) {
  // Not make_shared: a deadline's weak_ptr would keep the whole exchange's memory until the
  // deadline, long after the answer.
  auto ex = std::shared_ptr<exchange>(new exchange());
  ex->req = c->core.take_request(ex->shape, &ex->body_lease_);
  ex->req.remote_addr = c->remote_addr;
  ex->req.remote_port = c->remote_port;
  ex->conn_ = c;
  bool pending = c->core.buffered() > 0 || !c->drained || c->eof;
  c->st.store(pending ? st_busy_pending : st_busy, std::memory_order_release);
  if (c->reserved) {
    // Beyond max_connections: a probe is answered, then the connection closes; anything else
    // is turned away.
    if (!is_probe(ex->req)) {
      ex->answered_.store(true, std::memory_order_release);  // answered here, not by a route
      auto res = error_answer(ex->req, 503, "too many connections", true);
      write_answer(c, answer_bytes(res, answer_shape{}, false), true);
      return;
    }
    ex->shape.keep_alive = false;
  }
  try {
    dispatch_(ex);
  } catch (const std::exception& e) {
    // Unanswered, the exchange answers 500 itself when the last reference goes.
    log::error("http", "dispatching a ", ex->req.method, " request failed: ", e.what());
    log::debug("http", ex->req.method, " ", ex->req.path, " failed");
  }
}

void server_loop::answer_error(const std::shared_ptr<server_conn>& c, int status,
                               const std::string& why) {
  c->st.store(st_busy, std::memory_order_release);
  auto res = error_answer(c->core.unread(), status, why, true);
  write_answer(c, answer_bytes(res, answer_shape{}, false), true);
}

void server_loop::flush(const std::shared_ptr<server_conn>& c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_off += static_cast<size_t>(n);
      c->send_progress_us = clock::steady_us();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // EPOLLOUT comes when there is room
    } else {
      return close_conn(c);
    }
  }
  c->flushing = false;
  std::string().swap(c->out);
  c->out_off = 0;
  written(c, c->close_after);
}

void server_loop::close_conn(const std::shared_ptr<server_conn>& c) {
  if (!c->registered) return;
  if (c->stream) stream_done(*c, stream_end::client_gone);
  c->registered = false;
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
  // The descriptor itself is closed with the last reference (an answerer may still hold one:
  // its write then fails harmlessly instead of reaching a reused descriptor).
  ::shutdown(c->fd, SHUT_RDWR);
  closed_.push_back(c);
  conns_.erase(c.get());
  count_.fetch_sub(1, std::memory_order_relaxed);
  leave_reserve(c);
  if (c->counted) {
    c->counted = false;
    shared_->open.fetch_sub(1, std::memory_order_acq_rel);
  }
}

// Closing right after an answer while the client is still sending (a refused large body, a
// pipelined request) would make the kernel send a reset, and the client could lose the answer.
// So: shut the writing side, read and drop what still comes for a while, then close.
void server_loop::linger(const std::shared_ptr<server_conn>& c) {
  if (!c->registered) return;
  leave_reserve(c);  // a probe answered: its place is free for the next one at once
  if (c->eof) return close_conn(c);
  ::shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  c->linger_until_us = clock::steady_us() + linger_us;
  drain(c);
}

void server_loop::drain(const std::shared_ptr<server_conn>& c) {
  auto& sink = scratch();
  for (size_t turn = 0;;) {
    // Still sending after linger_max_bytes: enough of waiting for it.
    if (c->lingered >= linger_max_bytes) return close_conn(c);
    if (turn_over(turn)) return defer(c);
    ssize_t n = ::recv(c->fd, sink.data(), sink.size(), 0);
    if (n > 0) {
      turn += static_cast<size_t>(n);
      round_read_ += static_cast<size_t>(n);
      c->lingered += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close_conn(c);  // EOF: the client has read the answer and closed
  }
}

void server_loop::run_ops() {
  {
    std::lock_guard<std::mutex> g{ops_m_};
    ops_taken_.swap(ops_);
  }
  for (auto& o : ops_taken_) {
    // One op failing must not hold up the others (nor leave them to be run again).
    try {
      switch (o.k) {
        case op::resume:
          if (o.c->registered && !o.c->deferred &&
              o.c->st.load(std::memory_order_acquire) == st_idle)
            process(o.c);
          break;
        case op::flush:
          if (!o.c->registered) break;
          o.c->flushing = true;
          o.c->send_progress_us = clock::steady_us();
          flush(o.c);
          break;
        case op::close:
          linger(o.c);
          break;
        case op::abort:
          close_conn(o.c);
          break;
        case op::timer:
          push_timer(o.t, std::move(o.ex));
          break;
        case op::stop:
          if (stopping_.load()) break;
          grace_until_ = o.t;
          stopping_.store(true, std::memory_order_release);
          unwatch_listener();
          end_streams();
          break;
        case op::stream:
          if (o.c->registered && o.c->stream) stream_flush(o.c);
          break;
        case op::run:
          o.fn();  // exchange::respond_with's: it does not throw
          break;
        case op::stream_start:
          if (!o.c->registered) {
            // The client left before the stream began.
            o.c->stream = std::move(o.s);
            stream_done(*o.c, stream_end::client_gone);
            break;
          }
          o.c->stream = std::move(o.s);
          if (stopping_.load(std::memory_order_relaxed)) end_streams();
          stream_flush(o.c);
          // The client may have closed while its request was out (an edge not seen since).
          if (o.c->stream) {
            if (o.c->eof) close_conn(o.c);
            else stream_read(o.c);
          }
          break;
      }
    } catch (const std::exception& e) {
      log::error("http", "posted work failed: ", e.what());
    } catch (...) {
      log::error("http", "posted work failed");
    }
  }
  ops_taken_.clear();
}

// Writes what the stream's producer has written, as far as the socket takes it; then tells a
// producer waiting for room, and finishes the stream once its end is on the wire.
void server_loop::stream_flush(const std::shared_ptr<server_conn>& c) {
  auto s = c->stream;
  int64_t now = clock::steady_us();
  for (;;) {
    if (s->out_off_ == s->out_.size()) {
      s->out_.clear();
      s->out_off_ = 0;
      bool abort;
      {
        std::lock_guard<std::mutex> g{s->m_};
        s->posted_ = false;
        abort = s->abort_;
        s->out_.swap(s->pending_);
        s->sending_ = s->out_.size();
      }
      if (abort) {
        stream_done(*c, stream_end::aborted);
        return close_conn(c);
      }
      if (s->out_.empty()) break;
      s->progress_us_ = now;
    }
    ssize_t n = ::send(c->fd, s->out_.data() + s->out_off_, s->out_.size() - s->out_off_,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      s->out_off_ += static_cast<size_t>(n);
      s->progress_us_ = now;
      std::lock_guard<std::mutex> g{s->m_};
      s->sending_ -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;  // EPOLLOUT comes when there is room
    } else {
      return close_conn(c);  // the client is gone
    }
  }
  bool drained = false;
  bool finished = false;
  {
    std::lock_guard<std::mutex> g{s->m_};
    if (s->want_drain_ && s->pending_.size() + s->sending_ <= s->cap_ / 2) {
      s->want_drain_ = false;
      drained = s->phase_ == answer_stream::phase::open;
    }
    finished = s->phase_ == answer_stream::phase::ending && s->pending_.empty() &&
               s->out_off_ == s->out_.size();
  }
  if (finished) {
    stream_done(*c, s->why_);
    written(c, !s->keep_alive_);
    return;
  }
  if (drained && s->ev_.drained) {
    try {
      s->ev_.drained();
    } catch (const std::exception& e) {
      log::error("http", "a stream's drained callback failed: ", e.what());
    }
  }
}

// Reads what the client sends while its stream runs: bytes of a next request wait in the
// connection's buffer; the end of the connection ends the stream.
void server_loop::stream_read(const std::shared_ptr<server_conn>& c) {
  bool got = false;
  auto r = receive(*c, got);
  if (r == received::eof || r == received::failed) {
    c->eof = true;
    return close_conn(c);  // nobody reads the stream any more
  }
  if (got) {
    int expected = st_busy;
    c->st.compare_exchange_strong(expected, st_busy_pending, std::memory_order_acq_rel);
  }
}

// The stream on c is over: detached from its connection and its producer told, once.
void server_loop::stream_done(server_conn& c, stream_end why) {
  auto s = std::move(c.stream);
  c.stream.reset();
  if (!s) return;
  {
    std::lock_guard<std::mutex> g{s->m_};
    s->phase_ = answer_stream::phase::done;
    s->conn_.reset();
    std::string().swap(s->pending_);
    s->sending_ = 0;
  }
  std::string().swap(s->out_);
  s->out_off_ = 0;
  shared_->streams.fetch_sub(1, std::memory_order_acq_rel);
  if (!s->ev_.closed) return;
  try {
    s->ev_.closed(why);
  } catch (const std::exception& e) {
    log::error("http", "a stream's closed callback failed: ", e.what());
  }
}

// Stopping: every stream's body is ended (as by end()); its producer hears server_stopped once
// the end is on the wire, or at the grace.
void server_loop::end_streams() {
  std::vector<std::shared_ptr<server_conn>> streaming;
  for (auto& [raw, c] : conns_)
    if (c->stream) streaming.push_back(c);
  for (auto& c : streaming) {
    auto s = c->stream;
    {
      std::lock_guard<std::mutex> g{s->m_};
      if (s->phase_ == answer_stream::phase::open) {
        s->why_ = stream_end::server_stopped;
        s->phase_ = answer_stream::phase::ending;
        if (s->chunked_) write_last_chunk(s->pending_);
      }
    }
    stream_flush(c);
  }
}

// Stopping: every connection without a request in flight is closed (checked each round, as
// answers in flight finish).
void server_loop::close_idle() {
  std::vector<std::shared_ptr<server_conn>> idle;
  for (auto& [raw, c] : conns_)
    if (!c->lingering && !c->flushing && c->st.load(std::memory_order_acquire) == st_idle)
      idle.push_back(c);
  for (auto& c : idle) close_conn(c);
}

void server_loop::run_timers(int64_t now) {
  while (!timers_.empty() && timers_.front().at <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
    auto ex = timers_.back().ex.lock();
    timers_.pop_back();
    if (ex && !ex->answered()) ex->respond(std::move(ex->fallback_));
  }
}

void server_loop::scan(int64_t now) {
  if (!listening_ && !stopping_.load() && now >= accept_paused_until_) watch_listener();
  // bool: a request was started
  std::vector<std::pair<std::shared_ptr<server_conn>, bool>> expired;
  std::vector<std::shared_ptr<server_conn>> stalled;
  for (auto& [raw, c] : conns_) {
    if (c->lingering) {
      if (now > c->linger_until_us) expired.emplace_back(c, false);
      continue;
    }
    if (c->stream) {
      auto& s = *c->stream;
      if (s.out_off_ < s.out_.size() &&
          now - s.progress_us_ > int64_t{opts_.send_timeout_ms} * 1000)
        stalled.push_back(c);
      continue;
    }
    if (c->flushing) {
      // A client that stopped reading would hold its answer here for ever.
      if (now - c->send_progress_us > int64_t{opts_.send_timeout_ms} * 1000) stalled.push_back(c);
      continue;
    }
    if (c->st.load(std::memory_order_acquire) != st_idle) continue;
    switch (c->core.expired(now, c->last_active_us.load(std::memory_order_relaxed))) {
      case server_connection::expiry::read_timeout:
        expired.emplace_back(c, true);
        break;
      case server_connection::expiry::idle:
        expired.emplace_back(c, false);
        break;
      case server_connection::expiry::none:
        break;
    }
  }
  for (auto& [c, started] : expired) {
    if (started) answer_error(c, 408, "request not complete within " +
                                          std::to_string(opts_.read_timeout_ms) + " ms");
    else close_conn(c);
  }
  for (auto& c : stalled) {
    log::debug("http", "closing a connection from ", c->remote_addr, ": its answer made no "
               "progress for ", opts_.send_timeout_ms, " ms");
    if (c->stream) stream_done(*c, stream_end::send_timeout);
    // Reset, not closed in order: an orderly close would leave the kernel sending what its
    // buffer holds (megabytes) to a client that reads at its own pace, for minutes.
    ::linger reset{1, 0};
    ::setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close_conn(c);
  }
}

// -- http_server -------------------------------------------------------------------------------

http_server::http_server(options opts, dispatcher d, error_answer e)
    : opts_(std::move(opts)),
      shared_(std::make_shared<server_shared>(opts_.max_inflight_body_bytes)),
      pool_(std::max<size_t>(1, opts_.pool_threads)), dispatch_(std::move(d)),
      error_answer_(std::move(e)) {}

http_server::~http_server() { stop(); }

int http_server::start() {
  if (started_) return port_;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto port_text = std::to_string(opts_.port);
  int rc = ::getaddrinfo(opts_.host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0)
    throw std::runtime_error("cannot listen on " + opts_.host + ":" + port_text + ": " +
                             ::gai_strerror(rc));
  std::string why = "no address";
  for (auto* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0)
    throw std::runtime_error("cannot listen on " + opts_.host + ":" + port_text + ": " + why);
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  fit_descriptor_limit();
  size_t loops = std::max<size_t>(1, opts_.loops);
  for (size_t i = 0; i < loops; ++i)
    loops_.push_back(std::make_shared<server_loop>(opts_, dispatch_, error_answer_, listen_fd_,
                                                   shared_, opts_.reserved_connections / loops));
  for (auto& l : loops_)
    threads_.emplace_back([l] {
      pthread_setname_np(pthread_self(), "mf.http");  // tells it apart in top -H / perf
      l->run();
    });
  started_ = true;
  return port_;
}

void http_server::stop(int grace_ms) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  auto grace = clock::steady_us() + int64_t{grace_ms >= 0 ? grace_ms : opts_.stop_grace_ms} * 1000;
  for (auto& l : loops_) l->request_stop(grace);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  pool_.stop();
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void http_server::run_blocking(std::function<void()> fn) { pool_.submit(std::move(fn)); }

size_t http_server::connections() const {
  size_t n = 0;
  for (auto& l : loops_) n += l->connections();
  return n;
}

size_t http_server::pool_size() const { return pool_.size(); }

size_t http_server::body_bytes_in_flight() const { return shared_->bodies.used(); }

size_t http_server::streams() const { return shared_->streams.load(std::memory_order_acquire); }

// Every connection is a descriptor, and so is every database file, Kafka socket and source
// call: max_connections (and the reserve) must leave room for those, or accept() fails with
// EMFILE and the next client, /healthz's included, waits. A quarter of the limit (at least 256)
// stays for the rest.
void http_server::fit_descriptor_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return;
  auto limit = static_cast<size_t>(files.rlim_cur);
  size_t others = std::max<size_t>(256, limit / 4) + opts_.reserved_connections;
  size_t fit = limit > others + 16 ? limit - others : 16;
  if (opts_.max_connections <= fit) return;
  log::warn("http", "http.max_connections lowered from ", opts_.max_connections, " to ", fit,
            " to fit the limit of ", limit, " open files (RLIMIT_NOFILE)");
  opts_.max_connections = fit;
}

void http_server::pool::submit(std::function<void()> fn) {
  std::unique_lock<std::mutex> g{m_};
  tasks_.push_back(std::move(fn));
  // idle_ drops only when a woken thread takes the lock: count the tasks already waiting.
  if (tasks_.size() > idle_ && threads_.size() < max_ && !stopping_) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "mf.http.pool");
      work();
    });
    return;
  }
  g.unlock();
  cv_.notify_one();
}

void http_server::pool::work() {
  std::unique_lock<std::mutex> g{m_};
  for (;;) {
    ++idle_;
    cv_.wait(g, [this] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) return;  // stopping, and nothing left to do
    auto fn = std::move(tasks_.front());
    tasks_.pop_front();
    g.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      log::error("http", "a blocking handler failed: ", e.what());
    } catch (...) {
      log::error("http", "a blocking handler failed");
    }
    fn = nullptr;  // release what it captured outside the lock
    g.lock();
  }
}

void http_server::pool::stop() {
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> g{m_};
    stopping_ = true;
    ts.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : ts)
    if (t.joinable()) t.join();
}

size_t http_server::pool::size() const {
  std::lock_guard<std::mutex> g{m_};
  return threads_.size();
}

}  // namespace medflow::net
