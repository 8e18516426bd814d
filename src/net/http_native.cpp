#include "net/http_native.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "core/strings.hpp"

namespace medflow::net::http_client::detail {
namespace {

// Kept-alive connections unused this long are closed (curl's default is 118 s).
constexpr auto idle_max = std::chrono::seconds(60);
// getaddrinfo gives no TTL; curl caches names for 60 s too.
constexpr auto resolved_ttl = std::chrono::seconds(60);
// A name that failed is not asked again for this long: calls fail at once meanwhile.
constexpr auto failed_ttl = std::chrono::seconds(5);
// Lookups in parallel: one slow name must not hold up the others.
constexpr int max_resolver_threads = 4;
// connect_timeout_ms 0 means curl's default; longer ones are cut to this many ms.
constexpr int64_t default_connect_ms = 300'000;
constexpr int64_t max_connect_ms = int64_t(1) << 40;
// Endpoints with nothing open or waiting are forgotten once there are this many.
constexpr size_t max_idle_endpoints = 64;
constexpr size_t recv_chunk = 64 * 1024;
constexpr uint64_t tag_bit = uint64_t(1) << 63;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strings::iequals(s.substr(0, prefix.size()), prefix);
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

socklen_t addr_len(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? socklen_t(sizeof(sockaddr_in6)) : socklen_t(sizeof(sockaddr_in));
}

int64_t millis_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t).count();
}

// A numeric host ("127.0.0.1", "::1") needs no resolver.
bool literal_address(const std::string& host, uint16_t port, sockaddr_storage& out) {
  out = sockaddr_storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return true;
  }
  return false;
}

}  // namespace

std::string too_large_text(size_t max_body) {
  return "response body too large (over " + std::to_string(max_body) + " bytes)";
}

bool parse_http_url(std::string_view url, http_url& out, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (!starts_with_ci(url, scheme)) return false;
  std::string_view rest = url.substr(scheme.size());
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return false;  // credentials: curl's
  // An empty view into the URL (not a default one) when there is no path: callers take its
  // offset in the URL.
  std::string_view target = rest.substr(end == std::string_view::npos ? rest.size() : end);
  target = target.substr(0, target.find('#'));
  out = http_url{};
  out.authority = authority;
  out.target = target;
  error.clear();
  auto bad = [&](std::string why) {
    error = "URL using bad/illegal format or missing URL (" + why + ")";
    return true;
  };
  for (char ch : url)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return bad("a space or control character");
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed IPv6 literal");
    out.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("text after the IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    for (char ch : port_text) {
      if (ch < '0' || ch > '9' || port > 65535) return bad("port");
      port = port * 10 + uint32_t(ch - '0');
    }
    if (port == 0 || port > 65535) return bad("port");
    out.port = uint16_t(port);
  }
  return true;
}

struct native_engine::endpoint {
  std::string key;  // the authority as written
  std::string host;
  uint16_t port = 80;
  std::vector<sockaddr_storage> addrs;
  steady::time_point resolved_until = steady::time_point::min();
  steady::time_point failed_until = steady::time_point::min();
  std::string failure;  // the last lookup's error, while failed_until is ahead
  bool literal = false;
  bool resolving = false;
  std::deque<native_call> waiting;  // for the resolver
  std::vector<uint32_t> idle;        // kept-alive connections, most recently used last
  size_t open = 0;                   // connections referring to this endpoint
};

struct native_engine::conn {
  enum class state { connecting, sending, receiving, idle };
  int fd = -1;
  uint32_t slot = 0;
  uint32_t gen = 0;
  state st = state::connecting;
  endpoint* ep = nullptr;
  native_call call;
  size_t addr_index = 0;
  bool reused = false;    // served an earlier call: may have been closed by the server meanwhile
  bool sent_any = false;  // some of this call's request was written
  size_t received = 0;    // bytes of this call's response read
  std::string out;
  size_t out_off = 0;
  response_reader parser;
  steady::time_point connect_deadline = steady::time_point::max();
  steady::time_point idle_since;
  uint64_t tag() const { return tag_bit | (uint64_t(gen & 0x7fffffffu) << 32) | slot; }
};

// getaddrinfo blocks, so names are resolved on a thread of their own (started when first
// needed). It shares this state with the engine and may outlive it: a lookup can take seconds,
// and the engine does not wait for it when it goes.
struct native_engine::resolver {
  struct result {
    std::string key;
    std::vector<sockaddr_storage> addrs;
    std::string error;
    bool lasting = true;  // a failure worth remembering (not EAI_AGAIN and the like)
  };
  struct job {
    std::string key;
    std::string host;
    uint16_t port;
  };
  std::mutex m;
  std::deque<job> lookups;  // names waiting for a thread
  std::vector<result> done;
  std::function<void()> wake;  // cleared when the engine goes
  bool stop = false;
  int threads = 0;  // running; each leaves when the queue is empty

  // Queues a lookup; false if no thread could be started for it.
  static bool ask(const std::shared_ptr<resolver>& self, job j) {
    std::lock_guard<std::mutex> g{self->m};
    self->lookups.push_back(std::move(j));
    // A running thread is busy with a lookup (they leave once the queue is empty): a new name
    // gets a thread of its own rather than wait behind a slow one, up to the cap.
    if (self->threads >= max_resolver_threads) return true;
    try {
      std::thread(&resolver::run, self).detach();
    } catch (const std::system_error&) {
      if (self->threads > 0) return true;
      self->lookups.pop_back();
      return false;
    }
    ++self->threads;
    return true;
  }

  static void run(std::shared_ptr<resolver> self) {
    pthread_setname_np(pthread_self(), "mf.resolve");
    std::unique_lock<std::mutex> g{self->m};
    for (;;) {
      if (self->stop || self->lookups.empty()) {
        --self->threads;
        return;
      }
      job j = std::move(self->lookups.front());
      self->lookups.pop_front();
      g.unlock();
      result r{j.key, {}, {}};
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* list = nullptr;
      int rc = ::getaddrinfo(j.host.c_str(), std::to_string(j.port).c_str(), &hints, &list);
      if (rc != 0) {
        r.error = "Could not resolve host: " + j.host + " (" + ::gai_strerror(rc) + ")";
        r.lasting = rc == EAI_NONAME || rc == EAI_SERVICE || rc == EAI_FAMILY;
      } else {
        for (addrinfo* a = list; a; a = a->ai_next) {
          if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
          sockaddr_storage s{};
          std::memcpy(&s, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof s));
          r.addrs.push_back(s);
        }
        ::freeaddrinfo(list);
        if (r.addrs.empty()) r.error = "Could not resolve host: " + j.host + " (no address)";
      }
      g.lock();
      if (self->stop) continue;  // leaves at the top
      self->done.push_back(std::move(r));
      if (self->wake) self->wake();
    }
  }
};

native_engine::native_engine(int epoll_fd, std::function<void()> wake, finished_fn finished,
                             bool enabled, size_t max_open, size_t max_body)
    : epoll_fd_(epoll_fd),
      // curl honours these for plain http; calls through a proxy stay with curl.
      enabled_(enabled && !env_set("http_proxy") && !env_set("all_proxy") && !env_set("ALL_PROXY")),
      max_open_(std::max<size_t>(max_open, 1)),
      max_body_(max_body),
      finished_(std::move(finished)),
      resolver_(std::make_shared<resolver>()) {
  resolver_->wake = std::move(wake);
  recv_buf_.resize(recv_chunk);
}

native_engine::~native_engine() {
  {
    std::lock_guard<std::mutex> g{resolver_->m};
    resolver_->stop = true;
    resolver_->wake = nullptr;
  }
  for (auto& k : conns_)
    if (k->fd >= 0) ::close(k->fd);
}

bool native_engine::handles(std::string_view url) const {
  if (!enabled_ || !starts_with_ci(url, "http://")) return false;
  std::string_view rest = url.substr(7);
  return rest.substr(0, rest.find_first_of("/?#")).find('@') == std::string_view::npos;
}

void native_engine::start(native_call c) {
  ++active_;
  http_url u;
  std::string error;
  parse_http_url(c.req.url, u, error);
  if (!error.empty()) return fail_call(c, response::outcome::failed, std::move(error));
  c.target_at = size_t(u.target.data() - c.req.url.data());
  c.target_len = u.target.size();
  arm_connect(c);
  note_deadline(c.deadline);
  endpoint& ep = endpoint_for(u);  // before `c` moves: `u` points into its URL
  dispatch(ep, std::move(c));
}

// Name lookup and connect together, as curl counts its connect timeout: from when the call
// leaves http_client's queue (or is sent again), not from when it was made.
void native_engine::arm_connect(native_call& c) {
  int64_t connect_ms = c.req.connect_timeout_ms > 0 ? c.req.connect_timeout_ms : default_connect_ms;
  c.connect_by = steady::now() + std::chrono::milliseconds(std::min(connect_ms, max_connect_ms));
}

native_engine::endpoint& native_engine::endpoint_for(const http_url& u) {
  std::string key(u.authority);
  auto it = endpoints_.find(key);
  if (it != endpoints_.end()) return it->second;
  if (endpoints_.size() >= max_idle_endpoints) {
    // Calls to ever-new hosts must not grow the map; connections hold endpoint pointers, so
    // only endpoints nothing refers to go.
    for (auto e = endpoints_.begin(); e != endpoints_.end();) {
      const endpoint& ep = e->second;
      e = ep.open == 0 && ep.waiting.empty() && !ep.resolving ? endpoints_.erase(e) : std::next(e);
    }
  }
  endpoint& ep = endpoints_[key];
  ep.key = key;
  ep.host = std::string(u.host);
  ep.port = u.port;
  sockaddr_storage a;
  if (literal_address(ep.host, ep.port, a)) {
    ep.literal = true;
    ep.addrs.push_back(a);
  }
  return ep;
}

bool native_engine::prepare(conn& k) {
  std::string_view target(k.call.req.url);
  target = target.substr(k.call.target_at, k.call.target_len);
  k.sent_any = false;
  k.received = 0;
  k.out_off = 0;
  k.parser.reset(k.call.req.method == "HEAD");
  // As curl sends the same call: Content-Length when a body goes out, no Content-Type or
  // Expect added.
  const request& r = k.call.req;
  bool sends_body =
      r.method != "HEAD" &&
      (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH");
  std::string with_path;
  if (target.empty() || target[0] != '/') {  // "" and "?q" have no path
    with_path = "/" + std::string(target);
    target = with_path;
  }
  k.out.clear();
  if (write_request(k.out, r.method, target, k.ep->key, r.headers,
                           sends_body ? std::string_view(r.body) : std::string_view(), sends_body))
    return true;
  fail(k, response::outcome::failed,
       "the request cannot be framed: a line break in a header, a bad method or header name, "
       "or a Content-Length or Transfer-Encoding among the headers");
  return false;
}

void native_engine::dispatch(endpoint& ep, native_call c) {
  // A call sent again after a kept-alive connection died goes on a new one.
  if (!ep.idle.empty() && !c.retried) {
    conn& k = *conns_[ep.idle.back()];
    ep.idle.pop_back();
    k.call = std::move(c);
    k.reused = true;
    k.st = conn::state::sending;
    if (prepare(k)) send_some(k);
    return;
  }
  auto now = steady::now();
  if (ep.literal || now < ep.resolved_until) return open_conn(ep, std::move(c), 0);
  if (now < ep.failed_until) return fail_call(c, response::outcome::connect_failed, ep.failure);
  note_deadline(c.connect_by);
  ep.waiting.push_back(std::move(c));
  if (ep.resolving) return;
  ep.resolving = true;
  if (!resolver::ask(resolver_, {ep.key, ep.host, ep.port}))
    resolved(ep.key, {}, "Could not resolve host: " + ep.host + " (no resolver thread)", false);
}


void native_engine::open_conn(endpoint& ep, native_call c, size_t addr_index) {
  // Kept-alive connections count against the total too: make room from the least recently
  // used idle one, of whichever host.
  if (open_total_ >= max_open_) close_oldest_idle();
  const sockaddr_storage& addr = ep.addrs[addr_index];
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    if (addr_index + 1 < ep.addrs.size()) return open_conn(ep, std::move(c), addr_index + 1);
    return fail_call(c, response::outcome::connect_failed,
                     "Failed to connect to " + ep.host + " port " + std::to_string(ep.port) +
                         ": socket: " + std::strerror(err));
  }
  ++open_total_;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = uint32_t(conns_.size());
    conns_.push_back(std::make_unique<conn>());
    conns_.back()->slot = slot;
    conns_.back()->parser = response_reader(response_reader::limits{64 * 1024, max_body_});
  }
  conn& k = *conns_[slot];
  k.fd = fd;
  ++k.gen;
  k.ep = &ep;
  ++ep.open;
  k.call = std::move(c);
  k.addr_index = addr_index;
  k.reused = false;
  k.st = conn::state::connecting;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Registered once for the connection's life, edge-triggered: no epoll_ctl per call.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = k.tag();
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    return fail(k, response::outcome::failed, std::string("epoll_ctl: ") + std::strerror(errno));
  if (!prepare(k)) return;
  // Each address gets an equal share of the connect time left, the last one all of it (as
  // curl shares it), so one that swallows SYNs leaves time for the next.
  auto now = steady::now();
  auto left = k.call.connect_by > now ? k.call.connect_by - now : steady::duration::zero();
  k.connect_deadline = now + left / int64_t(ep.addrs.size() - addr_index);
  note_deadline(k.connect_deadline);
  note_deadline(k.call.deadline);  // also when moved here from another address inside expire()
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len(addr)) == 0)
    return connected(k);
  if (errno != EINPROGRESS) return connect_failed(k, errno);
}

void native_engine::connected(conn& k) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(k.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return connect_failed(k, err);
  k.connect_deadline = steady::time_point::max();
  k.st = conn::state::sending;
  send_some(k);
}

void native_engine::connect_failed(conn& k, int err) {
  endpoint& ep = *k.ep;
  size_t next = k.addr_index + 1;
  if (next < ep.addrs.size()) {  // e.g. ::1 refused, 127.0.0.1 listening
    native_call c = std::move(k.call);
    close_conn(k);
    return open_conn(ep, std::move(c), next);
  }
  fail(k, response::outcome::connect_failed,
       "Failed to connect to " + ep.host + " port " + std::to_string(ep.port) + " after " +
           std::to_string(millis_since(k.call.started)) + " ms: " + std::strerror(err));
}

void native_engine::send_some(conn& k) {
  while (k.out_off < k.out.size()) {
    ssize_t n = ::send(k.fd, k.out.data() + k.out_off, k.out.size() - k.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      k.out_off += size_t(n);
      k.sent_any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT's edge resumes
    return retry_or_fail(k, std::string("Send failure: ") + std::strerror(errno));
  }
  k.st = conn::state::receiving;
}

void native_engine::recv_some(conn& k, bool peer_closed) {
  for (;;) {
    ssize_t n = ::recv(k.fd, recv_buf_.data(), recv_buf_.size(), 0);
    if (n > 0) {
      k.received += size_t(n);
      auto s = k.parser.feed(recv_buf_.data(), size_t(n));
      if (s == response_reader::state::done) {
        response res;
        res.result = response::outcome::ok;
        res.status = k.parser.status();
        res.body = std::move(k.parser.body());
        // A response that came before the whole request went out ends the connection.
        // Nor is a connection reused whose close came with the response: its edge is spent.
        return finish(k, std::move(res),
                      k.parser.keep_alive() && k.st == conn::state::receiving && !peer_closed);
      }
      if (s == response_reader::state::error) {
        if (k.parser.error() == "response body too large")  // not malformed: over our cap
          return fail(k, response::outcome::failed, too_large_text(max_body_));
        return fail(k, response::outcome::failed, "malformed response: " + k.parser.error());
      }
      // Less than asked for: the socket is drained, and new data makes a new edge. A close
      // that came with the data makes none, so then read on to the EOF.
      if (size_t(n) < recv_buf_.size() && !peer_closed) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n == 0) {
      auto s = k.parser.eof();
      if (s == response_reader::state::done) {
        response res;
        res.result = response::outcome::ok;
        res.status = k.parser.status();
        res.body = std::move(k.parser.body());
        return finish(k, std::move(res), false);
      }
      if (!k.parser.received_any()) return retry_or_fail(k, "Empty reply from server");
      return fail(k, response::outcome::failed, k.parser.error());
    }
    std::string error = std::string("Recv failure: ") + std::strerror(errno);
    if (!k.parser.received_any()) return retry_or_fail(k, std::move(error));
    return fail(k, response::outcome::failed, std::move(error));
  }
}

void native_engine::retry_or_fail(conn& k, std::string error) {
  // A kept-alive connection the server closed as we reused it: nothing of the call reached
  // the application, so it goes again once on a new connection, as curl does.
  if (!k.reused || k.call.retried || k.parser.received_any())
    return fail(k, response::outcome::failed, std::move(error));
  native_call c = std::move(k.call);
  c.retried = true;
  arm_connect(c);
  endpoint& ep = *k.ep;
  close_conn(k);
  dispatch(ep, std::move(c));  // `retried` keeps it off the other kept-alive connections
}

void native_engine::finish(conn& k, response res, bool keep) {
  native_call c = std::move(k.call);
  if (keep) {
    k.st = conn::state::idle;
    k.idle_since = steady::now();
    k.ep->idle.push_back(k.slot);
    note_deadline(k.idle_since + idle_max);
  } else {
    close_conn(k);
  }
  complete(c, std::move(res));
}

void native_engine::fail(conn& k, response::outcome o, std::string error) {
  native_call c = std::move(k.call);
  close_conn(k);
  fail_call(c, o, std::move(error));
}

void native_engine::close_oldest_idle() {
  conn* oldest = nullptr;
  for (auto& [key, ep] : endpoints_) {
    if (ep.idle.empty()) continue;
    conn* k = conns_[ep.idle.front()].get();  // each list is oldest first
    if (!oldest || k->idle_since < oldest->idle_since) oldest = k;
  }
  if (oldest) close_conn(*oldest);
}

void native_engine::close_conn(conn& k) {
  ::close(k.fd);  // leaves the epoll set with it; stale events fail the generation check
  --open_total_;
  k.fd = -1;
  ++k.gen;
  if (k.st == conn::state::idle) {
    auto& idle = k.ep->idle;
    idle.erase(std::remove(idle.begin(), idle.end(), k.slot), idle.end());
  }
  --k.ep->open;
  k.ep = nullptr;
  k.call = native_call{};
  free_slots_.push_back(k.slot);
}

void native_engine::complete(native_call& c, response res) {
  res.elapsed_us =
      std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - c.started).count();
  --active_;
  finished_(c, std::move(res));
}

void native_engine::fail_call(native_call& c, response::outcome o, std::string error) {
  response res;
  res.result = o;
  res.error = std::move(error);
  complete(c, std::move(res));
}

void native_engine::on_event(uint64_t tag, uint32_t events) {
  size_t slot = tag & 0xffffffffu;
  uint32_t gen = uint32_t(tag >> 32) & 0x7fffffffu;
  if (slot >= conns_.size()) return;
  conn& k = *conns_[slot];
  if (k.fd < 0 || (k.gen & 0x7fffffffu) != gen) return;  // closed since the event was queued
  constexpr uint32_t readable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  constexpr uint32_t writable = EPOLLOUT | EPOLLHUP | EPOLLERR;
  const uint32_t g = k.gen;
  auto same = [&] { return k.fd >= 0 && k.gen == g && k.st != conn::state::idle; };
  const bool closed = events & (EPOLLRDHUP | EPOLLHUP);
  switch (k.st) {
    case conn::state::idle:
      // The server closed it (or sent what nobody asked for): not reusable.
      if (events & readable) close_conn(k);
      return;
    case conn::state::connecting:
      if (!(events & (writable | readable))) return;
      connected(k);  // sends the request
      if (same() && (events & readable)) recv_some(k, closed);
      return;
    case conn::state::sending:
      // An early answer (say a 413 before the body is read) first: a reset may follow it.
      if (events & readable) recv_some(k, closed);
      if (same() && k.st == conn::state::sending && (events & writable)) send_some(k);
      return;
    case conn::state::receiving:
      if (events & readable) recv_some(k, closed);
      return;
  }
}

void native_engine::poll() {
  std::vector<resolver::result> results;
  {
    std::lock_guard<std::mutex> g{resolver_->m};
    results.swap(resolver_->done);
  }
  // Expired first, so calls past their deadline do not open connections.
  if (next_check_ != steady::time_point::max()) {
    auto now = steady::now();
    if (now >= next_check_) expire(now);
  }
  for (auto& r : results) resolved(r.key, std::move(r.addrs), std::move(r.error), r.lasting);
}

void native_engine::resolved(const std::string& key, std::vector<sockaddr_storage> addrs,
                             std::string error, bool lasting) {
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return;
  endpoint& ep = it->second;
  ep.resolving = false;
  std::deque<native_call> calls;
  calls.swap(ep.waiting);
  if (!error.empty()) {
    if (lasting) {
      ep.failed_until = steady::now() + failed_ttl;
      ep.failure = error;
    }
    for (auto& c : calls) fail_call(c, response::outcome::connect_failed, error);
    return;
  }
  ep.addrs = std::move(addrs);
  ep.resolved_until = steady::now() + resolved_ttl;
  for (auto& c : calls) dispatch(ep, std::move(c));
}

void native_engine::expire(steady::time_point now) {
  next_check_ = steady::time_point::max();
  // By index: moving a call on to its next address may add a slot (and reallocate).
  for (size_t i = 0, n = conns_.size(); i < n; ++i) {
    conn& k = *conns_[i];
    if (k.fd < 0) continue;
    if (k.st == conn::state::idle) {
      if (now - k.idle_since >= idle_max) close_conn(k);
      else note_deadline(k.idle_since + idle_max);
      continue;
    }
    const bool connect_over = k.st == conn::state::connecting && k.connect_deadline <= now;
    const bool call_over = k.call.deadline <= now;
    if (connect_over && !call_over && k.addr_index + 1 < k.ep->addrs.size()) {
      connect_failed(k, ETIMEDOUT);  // on to the next address, in this slot or another
      continue;
    }
    auto ms = [&] { return std::to_string(millis_since(k.call.started)); };
    // Nothing written: the server cannot have seen the call, safe for the caller to retry.
    if (connect_over || (call_over && !k.sent_any)) {
      fail(k, response::outcome::connect_failed,
           "Connection timed out after " + ms() + " milliseconds");
    } else if (call_over) {
      fail(k, response::outcome::timeout,
           "Operation timed out after " + ms() + " milliseconds with " +
               std::to_string(k.received) + " bytes received");
    } else {
      note_deadline(k.call.deadline);
      if (k.st == conn::state::connecting) note_deadline(k.connect_deadline);
    }
  }
  for (auto& [key, ep] : endpoints_) {
    auto keep = std::stable_partition(
        ep.waiting.begin(), ep.waiting.end(),
        [&](const native_call& c) { return c.deadline > now && c.connect_by > now; });
    std::deque<native_call> expired(std::make_move_iterator(keep),
                                    std::make_move_iterator(ep.waiting.end()));
    ep.waiting.erase(keep, ep.waiting.end());
    for (auto& c : ep.waiting) note_deadline(std::min(c.deadline, c.connect_by));
    for (auto& c : expired)
      fail_call(c, response::outcome::connect_failed,
                "Resolving timed out after " + std::to_string(millis_since(c.started)) +
                    " milliseconds");
  }
}

void native_engine::abort_all(const std::string& why) {
  for (auto& kp : conns_) {
    conn& k = *kp;
    if (k.fd >= 0 && k.st != conn::state::idle) fail(k, response::outcome::failed, why);
  }
  for (auto& [key, ep] : endpoints_) {
    std::deque<native_call> calls;
    calls.swap(ep.waiting);
    for (auto& c : calls) fail_call(c, response::outcome::failed, why);
  }
}

}  // namespace medflow::net::http_client::detail
