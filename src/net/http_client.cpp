#include "net/http_client.hpp"
#include "net/curl_easy.hpp"
#include "net/http_native.hpp"

#include <pthread.h>

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "core/log.hpp"
#include "core/strings.hpp"
#include "core/metrics.hpp"

// Two choices here come from measuring libcurl 7.88 at ~10,000 calls/s with ~1,000 in flight:
//
// * curl_multi_socket_action over epoll, not curl_multi_perform + curl_multi_poll.
//   curl_multi_perform visits every transfer and polls the socket of each one whose state it
//   does not know, and curl_multi_poll rebuilds a pollfd array of every socket: both cost
//   O(transfers in flight) per wake-up. socket_action touches only the transfers whose sockets
//   epoll reported, plus expired timers. The wake-up is an eventfd in the same epoll set
//   (curl_multi_wakeup only interrupts curl_multi_poll).
//
// * The connection limits are enforced here, before curl sees a call. A transfer curl cannot
//   give a connection goes to curl's "pending" list, and every curl_multi_remove_handle walks
//   that list: at the per-host limit each completion costs O(calls waiting) and the I/O thread
//   saturates (throughput fell from 10,000/s to ~3,000/s with most calls timing out). Here a
//   call waits in a per-host queue instead and is started when a connection frees up.

namespace medflow::net::http_client {
namespace {

using steady = std::chrono::steady_clock;

constexpr std::string_view component = "http_client";
constexpr const char* stopped_text = "client stopped";
// Parked transfers keep their easy handle (and its buffers) for the next call; beyond this
// many they are freed, so a burst does not pin its peak memory forever.
constexpr size_t max_idle_transfers = 256;
// Per-host bookkeeping is pruned of idle hosts once it holds this many.
constexpr size_t max_idle_hosts = 64;
// Longer timeouts are treated as none (and cannot overflow a time_point).
constexpr int64_t max_timeout_ms = int64_t(1) << 40;
// Upper bound of one wait: curl may have no timer armed yet still want to be driven.
constexpr int64_t max_wait_ms = 1000;
constexpr int max_events = 256;

// Process-wide series: several clients may exist (one per upstream), and a gauge callback
// that reads a global survives any of them being destroyed.
struct probes {
  probes() {
    auto& reg = metrics::registry::global();
    const char* name = "medflow_http_client_calls_total";
    const char* help = "HTTP client calls completed, by outcome";
    calls[size_t(response::outcome::ok)] = &reg.get_counter(name, help, {{"outcome", "ok"}});
    calls[size_t(response::outcome::timeout)] =
        &reg.get_counter(name, help, {{"outcome", "timeout"}});
    calls[size_t(response::outcome::connect_failed)] =
        &reg.get_counter(name, help, {{"outcome", "connect_failed"}});
    calls[size_t(response::outcome::failed)] =
        &reg.get_counter(name, help, {{"outcome", "failed"}});
    seconds = &reg.get_histogram("medflow_http_client_call_duration_seconds",
                                 "HTTP client calls, from call() to the response (queue included)",
                                 metrics::latency_buckets_seconds());
    reg.set_gauge_fn("medflow_http_client_in_flight",
                     "HTTP client calls started and not yet completed", {},
                     [this] { return static_cast<double>(in_flight.load()); });
  }
  std::array<metrics::counter*, 4> calls{};  // indexed by response::outcome
  metrics::histogram* seconds = nullptr;
  std::atomic<int64_t> in_flight{0};
};

probes& global_probes() {
  static probes p;
  return p;
}

struct easy_deleter {
  void operator()(CURL* e) const noexcept { curl_easy_cleanup(e); }
};
struct multi_deleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

int checked_fd(int fd, const char* what) {
  if (fd < 0) throw std::system_error(errno, std::generic_category(), what);
  return fd;
}

// "scheme://authority" of a URL: what the connection limits count by. Spellings curl would
// treat as one host ("h" and "h:80") count apart, which only makes the limit looser.
std::string_view host_key(std::string_view url) {
  size_t scheme = url.find("://");
  size_t from = scheme == std::string_view::npos ? 0 : scheme + 3;
  return url.substr(0, url.find_first_of("/?#", from));
}

int64_t micros_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t).count();
}

size_t limit(long configured) {
  return configured > 0 ? size_t(configured) : std::numeric_limits<size_t>::max();
}

// A call not yet handed to curl.
struct pending {
  request req;
  std::function<void(response)> done;
  steady::time_point started;
  steady::time_point deadline;  // started + timeout_ms; time_point::max() without a timeout
};

struct host_state {
  size_t active = 0;            // transfers handed to curl
  std::deque<pending> waiting;  // for a connection, oldest first
};

// A call handed to curl. Owns everything curl points into (URL, body, header list) until the
// transfer is removed from the multi handle.
struct transfer {
  std::unique_ptr<CURL, easy_deleter> easy;
  request req;
  std::function<void(response)> done;
  steady::time_point started;
  host_state* host = nullptr;  // map nodes are stable; hosts with transfers are never erased
  std::unique_ptr<curl_slist, slist_deleter> headers;
  std::string body;
  size_t max_body = SIZE_MAX;
  bool too_large = false;  // the body passed max_body: on_body refused it
  size_t slot = 0;  // index in client::impl::active
  char error[CURL_ERROR_SIZE];
};

size_t on_body(char* data, size_t size, size_t n, void* user) noexcept {
  auto* t = static_cast<transfer*>(user);
  if (size * n > t->max_body - std::min(t->body.size(), t->max_body)) {
    t->too_large = true;
    return 0;
  }
  try {
    t->body.append(data, size * n);
  } catch (...) {
    return 0;  // a short count makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  return size * n;
}

response::outcome classify(CURLcode code, CURL* easy) {
  switch (code) {
    case CURLE_OK:
      return response::outcome::ok;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return response::outcome::connect_failed;
    case CURLE_OPERATION_TIMEDOUT: {
      // Not one byte of the request written means the connect timeout fired (or the call's
      // deadline passed while connecting): the server cannot have seen the call, which is what
      // a caller needs to know to retry it safely.
      long sent = 0;
      curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
      return sent == 0 ? response::outcome::connect_failed : response::outcome::timeout;
    }
    default:
      return response::outcome::failed;
  }
}

// A call has completed (its callback may still be to run).
void count(probes& metrics, std::atomic<size_t>& in_flight, const response& r) {
  metrics.calls[size_t(r.result)]->inc();
  metrics.seconds->observe(static_cast<double>(r.elapsed_us) / 1e6);
  in_flight.fetch_sub(1, std::memory_order_relaxed);
  metrics.in_flight.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

void run(completion& c) noexcept {
  if (!c.done) return;
  try {
    c.done(std::move(c.res));
  } catch (const std::exception& e) {
    log::error(component, "completion callback threw: ", e.what());
  } catch (...) {
    log::error(component, "completion callback threw a non-standard exception");
  }
}

struct client::impl {
  impl(options o, std::string thread_name);
  ~impl();

  void call(request r, std::function<void(response)> done);
  void wake() noexcept;

  // Everything below runs on the I/O thread only.
  void run();
  bool admit();
  void route(pending& p);
  void start(pending& p, host_state& h);
  CURLcode configure(transfer& t, steady::time_point deadline);
  void collect();
  void start_waiting();
  void expire_waiting();
  void finish(std::unique_ptr<transfer> t, CURLcode code);
  void recycle(std::unique_ptr<transfer> t);
  void fail(pending& p, response::outcome result, std::string error);
  void complete(std::function<void(response)>& done, response r);
  void deliver_round();
  void shutdown();
  static int on_socket(CURL* easy, curl_socket_t s, int what, void* self, void* socketp);

  size_t busy() const { return active.size() + native.active(); }

  const size_t per_host_limit;
  const size_t total_limit;
  const size_t max_body;  // options::max_response_bytes
  const options::tls_files tls;
  const std::function<void(std::vector<completion>)> deliver;  // options::deliver
  std::vector<completion> round;  // this round's completions, when `deliver` is set
  probes& metrics = global_probes();
  unique_fd epoll_fd{checked_fd(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
  unique_fd wake_fd{checked_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")};
  std::unique_ptr<CURLM, multi_deleter> multi;
  // Plain http:// calls; curl keeps https:// (see http_native.hpp).
  detail::native_engine native;

  mutable std::mutex mutex;
  std::vector<pending> queue;  // guarded by mutex
  bool stopping = false;       // guarded by mutex
  std::atomic<size_t> in_flight{0};

  std::vector<pending> admitting;  // swapped with `queue`, so neither reallocates in steady state
  std::map<std::string, host_state, std::less<>> hosts;        // std::less<>: find by string_view
  size_t waiting = 0;                                          // over all hosts
  steady::time_point next_expiry = steady::time_point::max();  // earliest waiting deadline
  std::vector<std::unique_ptr<transfer>> active;
  std::vector<std::unique_ptr<transfer>> idle;
  std::vector<std::pair<transfer*, CURLcode>> completed;  // one round's, reused
  std::string header_line;
  std::thread thread;  // last: started once everything above exists
};

client::impl::impl(options o, std::string thread_name)
    : per_host_limit(limit(o.max_connections_per_host)),
      total_limit(limit(o.max_total_connections)),
      max_body(o.max_response_bytes),
      tls(o.tls),
      deliver(std::move(o.deliver)),
      native(epoll_fd.get(), [this] { wake(); },
             [this](detail::native_call& c, response res) {
               --static_cast<host_state*>(c.tag)->active;
               complete(c.done, std::move(res));
             },
             o.native_http, total_limit, o.max_response_bytes) {
  curl::global_init();
  multi.reset(curl_multi_init());
  if (!multi) throw std::runtime_error("curl_multi_init failed");
  CURLM* m = multi.get();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &impl::on_socket);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this);
  // HTTP/1.1, one request per connection at a time: concurrency comes from many kept-alive
  // connections, and a slow response never holds up others queued behind it.
  curl_multi_setopt(m, CURLMOPT_PIPELINING, long{CURLPIPE_NOTHING});
  // admit() keeps within these already; told to curl too, they also bound idle connections.
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, o.max_connections_per_host);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, o.max_total_connections);
  // The idle-connection cache must hold every connection we may open, or connections get
  // closed after each burst and the next one pays the handshakes again.
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, o.max_total_connections);

  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd.get();
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, wake_fd.get(), &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(eventfd)");
  thread = std::thread([this, name = std::move(thread_name)] {
    pthread_setname_np(pthread_self(), name.c_str());  // tells it apart in top -H / perf
    run();
  });
}

client::impl::~impl() {
  {
    std::lock_guard<std::mutex> g{mutex};
    stopping = true;
  }
  wake();
  if (thread.joinable()) thread.join();
  // Closing the cached connections calls on_socket, which needs epoll_fd: clean up the multi
  // handle while every other member is intact.
  multi.reset();
}

void client::impl::call(request r, std::function<void(response)> done) {
  auto now = steady::now();
  bool queued = false;
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> g{mutex};
    if (!stopping) {
      was_empty = queue.empty();
      queue.push_back(pending{std::move(r), std::move(done), now, {}});
      queued = true;
      // Counted under the lock so the I/O thread, which needs the lock to see the call, can
      // never complete it first and drive the count below zero.
      in_flight.fetch_add(1, std::memory_order_relaxed);
      metrics.in_flight.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (queued) {
    // One wake-up per batch: until the I/O thread swaps the queue out, the call that found
    // it empty has woken (or is about to wake) it, and it will take the whole batch.
    if (was_empty) wake();
    return;
  }
  // Only reachable while the client is being destroyed (e.g. a completion callback issuing a
  // retry during shutdown): complete at once rather than queue work nobody will run.
  in_flight.fetch_add(1, std::memory_order_relaxed);
  metrics.in_flight.fetch_add(1, std::memory_order_relaxed);
  response res;
  res.error = stopped_text;
  res.elapsed_us = micros_since(now);
  count(metrics, in_flight, res);
  completion c{std::move(done), std::move(res)};
  http_client::run(c);  // the free function, not the I/O loop
}

void client::impl::wake() noexcept {
  uint64_t one = 1;
  // EAGAIN only when the counter is about to overflow, i.e. a wake-up is already pending.
  [[maybe_unused]] ssize_t n = ::write(wake_fd.get(), &one, sizeof one);
}

void client::impl::run() {
  std::array<epoll_event, max_events> events;
  int running = 0;
  while (admit()) {
    // Calls that failed to start in admit() (no curl handle, a bad option) are complete.
    deliver_round();
    long timeout_ms = -1;
    curl_multi_timeout(multi.get(), &timeout_ms);
    int64_t wait_ms = timeout_ms < 0 ? max_wait_ms : std::min<int64_t>(timeout_ms, max_wait_ms);
    // No later than the first deadline of the calls waiting here or in the native engine.
    auto first = std::min(waiting > 0 ? next_expiry : steady::time_point::max(),
                          native.next_deadline());
    if (first != steady::time_point::max()) {
      auto until = std::chrono::ceil<std::chrono::milliseconds>(first - steady::now());
      wait_ms = std::clamp<int64_t>(until.count(), 0, wait_ms);
    }
    int n = ::epoll_wait(epoll_fd.get(), events.data(), max_events, int(wait_ms));
    if (n < 0) {
      if (errno != EINTR) log::error(component, "epoll_wait: ", std::strerror(errno));
      n = 0;
    }
    for (int i = 0; i < n; ++i) {
      uint32_t what = events[size_t(i)].events;
      if (detail::native_engine::owns(events[size_t(i)].data.u64)) {
        native.on_event(events[size_t(i)].data.u64, what);
        continue;
      }
      int fd = events[size_t(i)].data.fd;
      if (fd == wake_fd.get()) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
        continue;
      }
      int bits = 0;
      if (what & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) bits |= CURL_CSELECT_IN;
      if (what & EPOLLOUT) bits |= CURL_CSELECT_OUT;
      if (what & EPOLLERR) bits |= CURL_CSELECT_ERR;
      curl_multi_socket_action(multi.get(), fd, bits, &running);
    }
    // Timers: new transfers (armed to run at once), timeouts, connect retries, curl's
    // internal retries of a request that met a dead kept-alive connection.
    timeout_ms = -1;
    curl_multi_timeout(multi.get(), &timeout_ms);
    if (timeout_ms == 0) curl_multi_socket_action(multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
    collect();
    native.poll();  // resolved names, expired calls and idle connections
    if (waiting > 0 && steady::now() >= next_expiry) expire_waiting();
    if (waiting > 0) start_waiting();  // behind calls the engine finished this round
    deliver_round();
  }
  shutdown();
  deliver_round();
}

bool client::impl::admit() {
  {
    std::lock_guard<std::mutex> g{mutex};
    if (stopping) return false;
    admitting.swap(queue);
  }
  for (auto& p : admitting) route(p);
  admitting.clear();
  return true;
}

void client::impl::route(pending& p) {
  bool bounded = p.req.timeout_ms > 0 && p.req.timeout_ms < max_timeout_ms;
  p.deadline =
      bounded ? p.started + std::chrono::milliseconds(p.req.timeout_ms) : steady::time_point::max();
  std::string_view key = host_key(p.req.url);
  auto it = hosts.find(key);
  if (it == hosts.end()) {
    if (hosts.size() >= max_idle_hosts) {
      // Forget hosts with nothing in flight, so calls to ever-new hosts cannot grow the map.
      // Only here: elsewhere host_state references are held across calls that end transfers.
      for (auto h = hosts.begin(); h != hosts.end();)
        h = h->second.active == 0 && h->second.waiting.empty() ? hosts.erase(h) : std::next(h);
    }
    it = hosts.emplace(std::string(key), host_state{}).first;
  }
  host_state& h = it->second;
  // Behind calls already waiting for this host, to keep them in order.
  if (h.waiting.empty() && h.active < per_host_limit && busy() < total_limit) {
    start(p, h);
    return;
  }
  next_expiry = std::min(next_expiry, p.deadline);
  h.waiting.push_back(std::move(p));
  ++waiting;
}

void client::impl::start(pending& p, host_state& h) {
  if (native.handles(p.req.url)) {
    ++h.active;
    detail::native_call c;
    c.req = std::move(p.req);
    c.done = std::move(p.done);
    c.started = p.started;
    c.deadline = p.deadline;
    c.tag = &h;
    native.start(std::move(c));
    return;
  }
  std::unique_ptr<transfer> t;
  if (!idle.empty()) {
    t = std::move(idle.back());
    idle.pop_back();
  } else {
    t = std::make_unique<transfer>();
    t->easy.reset(curl_easy_init());
    if (!t->easy) {
      fail(p, response::outcome::failed, "curl_easy_init failed");
      return;
    }
  }
  t->req = std::move(p.req);
  t->done = std::move(p.done);
  t->started = p.started;
  t->host = &h;
  ++h.active;

  CURLcode rc = configure(*t, p.deadline);
  if (rc != CURLE_OK) {
    finish(std::move(t), rc);
    return;
  }
  CURLMcode mc = curl_multi_add_handle(multi.get(), t->easy.get());
  if (mc != CURLM_OK) {
    std::snprintf(t->error, sizeof t->error, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    finish(std::move(t), CURLE_FAILED_INIT);
    return;
  }
  t->slot = active.size();
  active.push_back(std::move(t));
}

CURLcode client::impl::configure(transfer& t, steady::time_point deadline) {
  CURL* e = t.easy.get();
  t.error[0] = '\0';
  t.body.clear();
  t.max_body = max_body;
  t.too_large = false;
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value);
  };
  // timeout_ms covers the whole call, time spent waiting for a connection included.
  long timeout_ms = 0;
  if (deadline != steady::time_point::max()) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
    timeout_ms = long(std::max<int64_t>(left.count(), 1));
  }
  set(CURLOPT_PRIVATE, static_cast<void*>(&t));
  set(CURLOPT_ERRORBUFFER, t.error);
  set(CURLOPT_URL, t.req.url.c_str());
  set(CURLOPT_NOSIGNAL, 1L);  // no SIGALRM-based DNS timeouts: unsafe in a threaded process
  set(CURLOPT_TCP_NODELAY, 1L);
  set(CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1});
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, long(std::max<int64_t>(t.req.connect_timeout_ms, 0)));
  set(CURLOPT_WRITEFUNCTION, &on_body);
  // A Content-Length over the cap fails at once; a body without one, in on_body.
  set(CURLOPT_MAXFILESIZE_LARGE, curl_off_t(std::min<size_t>(max_body, INT64_MAX)));
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  // Bodies come back as sent: no Accept-Encoding, so no decompression cost on this thread.
  set(CURLOPT_ACCEPT_ENCODING, static_cast<const char*>(nullptr));
  // https only (curl ignores them for http://). The strings live as long as the client.
  if (!tls.ca_file.empty()) set(CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) {
    set(CURLOPT_SSLCERT, tls.cert_file.c_str());
    set(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!tls.key_file.empty()) {
    set(CURLOPT_SSLKEY, tls.key_file.c_str());
    set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!tls.key_password.empty()) set(CURLOPT_KEYPASSWD, tls.key_password.c_str());

  const std::string& method = t.req.method;
  bool sends_body = false;
  if (method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && t.req.body.empty()) {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    sends_body = !t.req.body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
    if (sends_body) {
      // The body lives in `t.req` until the transfer is removed: no copy into curl.
      set(CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t.req.body.size()));
      set(CURLOPT_POSTFIELDS, t.req.body.data());
    }
    if (method != "POST") set(CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  bool has_content_type = false;
  auto append = [&](const std::string& line) {
    // curl_slist_append returns the list's head, which only changes from null to the first
    // node; on failure the existing list stays owned by t.headers.
    curl_slist* head = curl_slist_append(t.headers.get(), line.c_str());
    if (!head) return false;
    if (!t.headers) t.headers.reset(head);
    return true;
  };
  for (auto& [name, value] : t.req.headers) {
    header_line.assign(name);
    // "Name:" would make curl drop the header; "Name;" is curl's spelling of an empty value.
    header_line += value.empty() ? ";" : ": ";
    header_line += value;
    if (!append(header_line)) return CURLE_OUT_OF_MEMORY;
    if (strings::iequals(name, "content-type")) has_content_type = true;
  }
  // No "Expect: 100-continue" round trip before larger bodies: our upstreams answer at once.
  header_line.assign("Expect:");
  if (!append(header_line)) return CURLE_OUT_OF_MEMORY;
  if (sends_body && !has_content_type) {
    // Otherwise curl labels the body application/x-www-form-urlencoded, which it never is.
    header_line.assign("Content-Type:");
    if (!append(header_line)) return CURLE_OUT_OF_MEMORY;
  }
  set(CURLOPT_HTTPHEADER, t.headers.get());
  return rc;
}

void client::impl::collect() {
  // All messages first: curl_multi_remove_handle walks the list of unread messages, so
  // removing while reading would be quadratic in the completions of one round.
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    char* priv = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    completed.push_back({reinterpret_cast<transfer*>(priv), msg->data.result});
  }
  for (auto [raw, code] : completed) {
    curl_multi_remove_handle(multi.get(), raw->easy.get());
    size_t slot = raw->slot;
    std::unique_ptr<transfer> t = std::move(active[slot]);
    if (slot + 1 != active.size()) {
      active[slot] = std::move(active.back());
      active[slot]->slot = slot;
    }
    active.pop_back();
    finish(std::move(t), code);
  }
  completed.clear();
  if (waiting > 0) start_waiting();
}

void client::impl::start_waiting() {
  // Round-robin over hosts, one call each per pass, so under the total limit no host starves
  // the others; a pass starting nothing ends it.
  bool started = true;
  while (started && waiting > 0 && busy() < total_limit) {
    started = false;
    for (auto& [key, h] : hosts) {
      if (h.waiting.empty() || h.active >= per_host_limit) continue;
      if (busy() >= total_limit) break;
      pending p = std::move(h.waiting.front());
      h.waiting.pop_front();
      --waiting;
      start(p, h);
      started = true;
    }
  }
}

void client::impl::expire_waiting() {
  auto now = steady::now();
  next_expiry = steady::time_point::max();
  for (auto& [key, h] : hosts) {
    auto keep = std::stable_partition(h.waiting.begin(), h.waiting.end(),
                                      [&](const pending& p) { return p.deadline > now; });
    for (auto it = keep; it != h.waiting.end(); ++it) {
      // Nothing was sent, as with a connect timeout: safe for the caller to retry.
      fail(
          *it, response::outcome::connect_failed,
          "no connection to " + key + " free within " + std::to_string(it->req.timeout_ms) + " ms");
    }
    waiting -= size_t(h.waiting.end() - keep);
    h.waiting.erase(keep, h.waiting.end());
    for (auto& p : h.waiting) next_expiry = std::min(next_expiry, p.deadline);
  }
}

void client::impl::finish(std::unique_ptr<transfer> t, CURLcode code) {
  response res;
  res.result = classify(code, t->easy.get());
  if (res.result == response::outcome::ok) {
    long status = 0;
    curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
    res.status = int(status);
    res.body = std::move(t->body);
  } else if (t->too_large || code == CURLE_FILESIZE_EXCEEDED) {
    res.result = response::outcome::failed;
    res.error = detail::too_large_text(max_body);
  } else {
    res.error = t->error[0] ? t->error : curl_easy_strerror(code);
  }
  res.elapsed_us = micros_since(t->started);
  std::function<void(response)> done = std::move(t->done);
  --t->host->active;
  recycle(std::move(t));
  complete(done, std::move(res));
}

void client::impl::recycle(std::unique_ptr<transfer> t) {
  if (idle.size() >= max_idle_transfers) return;
  // Drop every pointer curl holds into this transfer (and the memory behind them) now, so a
  // parked handle refers to nothing; its connection already went back to the multi's cache.
  curl_easy_reset(t->easy.get());
  t->headers.reset();
  t->req = request{};
  t->body = std::string{};
  t->host = nullptr;
  idle.push_back(std::move(t));
}

void client::impl::fail(pending& p, response::outcome result, std::string error) {
  response res;
  res.result = result;
  res.error = std::move(error);
  res.elapsed_us = micros_since(p.started);
  complete(p.done, std::move(res));
}

void client::impl::complete(std::function<void(response)>& done, response r) {
  count(metrics, in_flight, r);
  completion c{std::move(done), std::move(r)};
  if (!c.done) return;
  if (deliver) {
    try {
      round.push_back(std::move(c));
      return;
    } catch (...) {
      // No memory to queue it: run it here rather than lose it.
    }
  }
  http_client::run(c);  // the free function, not the I/O loop
}

void client::impl::deliver_round() {
  if (round.empty()) return;
  try {
    deliver(std::exchange(round, {}));
  } catch (const std::exception& e) {
    log::error(component, "deliver threw, completions lost: ", e.what());
  } catch (...) {
    log::error(component, "deliver threw a non-standard exception, completions lost");
  }
}

void client::impl::shutdown() {
  // In flight first: removing them from the multi handle aborts their transfers.
  std::vector<std::unique_ptr<transfer>> aborted;
  aborted.swap(active);
  for (auto& t : aborted) curl_multi_remove_handle(multi.get(), t->easy.get());
  for (auto& t : aborted) {
    std::snprintf(t->error, sizeof t->error, "%s", stopped_text);
    finish(std::move(t), CURLE_ABORTED_BY_CALLBACK);
  }
  native.abort_all(stopped_text);
  // Then those waiting for a connection, then whatever was queued after the last admit();
  // `stopping` keeps new calls out.
  for (auto& [key, h] : hosts) {
    for (auto& p : h.waiting) fail(p, response::outcome::failed, stopped_text);
    h.waiting.clear();
  }
  waiting = 0;
  {
    std::lock_guard<std::mutex> g{mutex};
    admitting.swap(queue);
  }
  for (auto& p : admitting) fail(p, response::outcome::failed, stopped_text);
  admitting.clear();
}

int client::impl::on_socket(CURL*, curl_socket_t s, int what, void* self, void* socketp) {
  auto* c = static_cast<impl*>(self);
  int ep = c->epoll_fd.get();
  if (what == CURL_POLL_REMOVE) {
    // curl reports removal before it closes the socket; if it was closed already the kernel
    // dropped it from the set and this fails harmlessly.
    ::epoll_ctl(ep, EPOLL_CTL_DEL, s, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = s;
  // socketp marks sockets already in the set (curl resets it when it forgets the socket), so
  // the common case is one epoll_ctl; the fallback covers a descriptor number reused under us.
  int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(ep, op, s, &ev) != 0) {
    int alt = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    bool recovered = (errno == EEXIST || errno == ENOENT) && ::epoll_ctl(ep, alt, s, &ev) == 0;
    if (!recovered) {
      log::error(component, "epoll_ctl(", s, "): ", std::strerror(errno));
      return -1;  // curl fails the transfers on this socket rather than leave them hanging
    }
  }
  if (!socketp) curl_multi_assign(c->multi.get(), s, c);
  return 0;
}

client::client(options opts) {
  // A file named but unreadable would fail every https call later, one by one: say so now.
  for (auto [what, path] : {std::pair{"CA file", &opts.tls.ca_file},
                            {"client certificate", &opts.tls.cert_file},
                            {"client key", &opts.tls.key_file}}) {
    if (path->empty()) continue;
    std::FILE* f = std::fopen(path->c_str(), "r");
    if (!f) throw std::runtime_error(std::string("cannot read the TLS ") + what + " " + *path + ": " +
                                     std::strerror(errno));
    std::fclose(f);
  }
  if (!opts.tls.key_file.empty() && opts.tls.cert_file.empty())
    throw std::runtime_error("a TLS client key without a client certificate");
  int n = std::max(1, opts.io_threads);
  // The limits hold over all threads: each loop gets its share (at least one connection).
  options share = opts;
  share.max_connections_per_host = std::max(1L, opts.max_connections_per_host / n);
  share.max_total_connections = std::max(1L, opts.max_total_connections / n);
  for (int i = 0; i < n; ++i)
    loops_.push_back(std::make_unique<impl>(
        share, n == 1 ? std::string("mf.http-out") : "mf.http-out-" + std::to_string(i + 1)));
}
client::client() : client(options{}) {}
client::~client() = default;

void client::call(request r, std::function<void(response)> done) {
  auto i = next_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
  loops_[i]->call(std::move(r), std::move(done));
}

void client::call(request r, std::function<void(response)> done, size_t affinity) {
  // Mixed first (splitmix64's finaliser): callers pass pointers or counters, whose low bits
  // are often all alike (a pointer's are zero), and every call would land on one thread.
  uint64_t x = affinity;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  loops_[x % loops_.size()]->call(std::move(r), std::move(done));
}

size_t client::in_flight() const {
  size_t n = 0;
  for (auto& l : loops_) n += l->in_flight.load(std::memory_order_relaxed);
  return n;
}

}  // namespace medflow::net::http_client
