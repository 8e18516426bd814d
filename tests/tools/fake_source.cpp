// fake_source: plays every source system that medflowd's aggregation flow calls, all at once,
// with a behaviour configurable per logical address (end-to-end tests, benchmarks).
//
//   fake_source --port P [--bind ADDR] [--config FILE] [--default-delay-ms D]
//               [--default-items N]
//
// Listens on ADDR:P (ADDR defaults to 127.0.0.1; P = 0 picks a free port), prints
// "listening on <port>" on stdout once ready, and serves until SIGTERM or SIGINT (exit 0).
// Exit 2 on bad arguments or a bad config file, 1 when the socket cannot be set up.
// --default-delay-ms (0) and --default-items (3) are the behaviour of addresses the config
// does not mention.
//
// Source calls: any request (medflowd POSTs a JSON body) whose logical address is the header
// x-rivta-logical-address, else the first segment of the URL path (percent-decoded), e.g.
// POST http://127.0.0.1:9100/SE2321000016-1234. The behaviour for an address comes from the
// config table: its own entry, then the "*" entry, then the command-line defaults, field by
// field. FILE and POST /config hold a JSON object of entries:
//
//   {"SE1": {"delay_ms": 100, "items": 3, "status": 200, "body": "raw text",
//            "garbage": true, "close": true, "list_field": "laboratoryOrderOutcome"},
//    "*":   {"delay_ms": 5}}
//
//   delay_ms    answer (or break the connection) this many ms after the request arrived
//   close       close the connection without answering (FIN; curl: "Empty reply from server")
//   garbage     200 with the non-JSON body "<<garbage>>" (Content-Type still says JSON)
//   body        answer this text (with `status`) instead of the generated JSON
//   status      != 200: answer that status with {"error": "fault from <address>"}
//   otherwise   200 with {"<list_field>": [item, ...]}, `items` items (default 3), each
//               {"source": "<address>", "n": i (0-based), "patient": P}. list_field comes from
//               the config, else the request header x-list-field, else "items". P is the field
//               of the request's JSON body named by the header x-patient-pointer (a top-level
//               name, or a JSON pointer when it starts with '/'), null if absent. With the
//               header x-echo-request: 1 the first item also carries "request" (the body as
//               JSON, or as a string if it is not JSON), "request_raw" (the body as a string),
//               "path", and "headers": every request header whose name starts with "x-"
//               (names lower-cased, repeats joined by ", "). With items 0 nothing is echoed.
// The first matching line wins: close, garbage, body, status. Unknown keys are rejected.
//
// Control routes (only when the request has no x-rivta-logical-address header):
//   GET  /stats        {"requests", "connections_accepted", "max_concurrent", "in_flight",
//                       "open_connections", "max_open_connections", "by_address": {addr: n}}
//                      requests/by_address count source calls only; max_concurrent is the
//                      most source calls received but not yet answered at one time.
//   GET  /timings      {"<x-skltp-correlation-id>": µs}: per correlation id of source calls,
//                      the slowest call's time here, from its request's arrival (the kernel's
//                      receive timestamp) to its answer handed to the socket (benchmarks:
//                      the aggregated answer's time minus this is what the aggregator
//                      added; at most 2,000,000 ids are kept)
//   GET  /spans        {"<x-skltp-correlation-id>": [first_rx_ns, last_tx_ns]}: per correlation
//                      id, the earliest arrival of its calls and the latest answer handed to
//                      the socket, in CLOCK_MONOTONIC ns (benchmarks on the same machine split
//                      a caller's time into before the first call, the calls, and after the
//                      last answer)
//   POST /reset-stats  zeroes the counters and forgets the timings (the maxima restart from
//                      the current values)
//   GET  /config       the current table
//   POST /config       replaces the table with the body (400 and no change if invalid); it
//                      applies to requests arriving afterwards, not to answers already timed
//
// HTTP: 1.1 with keep-alive (1.0 too), pipelined requests answered in order, Content-Length
// bodies (Expect: 100-continue honoured); any Transfer-Encoding is refused with 411 since the
// callers never chunk. One thread runs an epoll loop over non-blocking sockets; delayed
// answers wait in a min-heap of deadlines that bounds epoll_wait's timeout, so ~1000 calls in
// flight cost no threads. Reason phrases come from medflowd's status table (net/status).
#include "core/strings.hpp"
#include "net/status.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using json = nlohmann::json;

// Limits that keep one misbehaving client from eating the process.
constexpr size_t k_max_header_bytes = 64 * 1024;
constexpr size_t k_max_body_bytes = 64 * 1024 * 1024;
// Unanswered requests per connection before we stop reading from it (TCP then pushes back).
constexpr size_t k_max_pipelined = 256;
// Unsent output per connection before we stop reading from it.
constexpr size_t k_max_out_bytes = 4 * 1024 * 1024;
constexpr size_t k_read_chunk = 64 * 1024;
// Reads per readiness event: bounded so one busy connection cannot starve the others.
constexpr int k_reads_per_event = 8;
constexpr int k_accepts_per_event = 256;
// After answering with "Connection: close" we keep reading (and discarding) this long, so a
// client that already pipelined more requests gets our answer instead of a reset.
constexpr int64_t k_drain_ns = 2'000'000'000;
// When out of file descriptors, accepting is paused this long instead of spinning on EMFILE.
constexpr int64_t k_accept_pause_ns = 100'000'000;
constexpr int64_t k_max_delay_ms = 3'600'000;
constexpr int64_t k_max_items = 1'000'000;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `fn` on each trimmed, non-empty element of a comma-separated header value.
template <typename F>
void for_each_token(std::string_view list, F&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view token = trim(list.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a path segment; a malformed escape is kept literally rather than refused,
// since the segment is only used as a lookup key.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// ---- behaviour table -----------------------------------------------------------------------

// One entry of the table as written; unset fields fall back to "*", then to the defaults.
struct behaviour_spec {
  std::optional<int64_t> delay_ms;
  std::optional<int64_t> items;
  std::optional<int> status;
  std::optional<std::string> body;
  std::optional<bool> garbage;
  std::optional<bool> close;
  std::optional<std::string> list_field;
};

struct behaviour {
  int64_t delay_ms = 0;
  int64_t items = 3;
  int status = 200;
  std::optional<std::string> body;
  bool garbage = false;
  bool close = false;
  std::optional<std::string> list_field;  // unset: from the request, else "items"
};

using behaviour_table = std::unordered_map<std::string, behaviour_spec>;

void apply(const behaviour_spec& spec, behaviour& b) {
  if (spec.delay_ms) b.delay_ms = *spec.delay_ms;
  if (spec.items) b.items = *spec.items;
  if (spec.status) b.status = *spec.status;
  if (spec.body) b.body = spec.body;
  if (spec.garbage) b.garbage = *spec.garbage;
  if (spec.close) b.close = *spec.close;
  if (spec.list_field) b.list_field = spec.list_field;
}

bool read_int(const json& v, const std::string& what, int64_t min, int64_t max, int64_t& out,
              std::string& error) {
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    error =
        what + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    return false;
  }
  out = v.get<int64_t>();
  return true;
}

bool parse_spec(const std::string& address, const json& j, behaviour_spec& spec,
                std::string& error) {
  if (!j.is_object()) {
    error = "entry \"" + address + "\" must be an object";
    return false;
  }
  for (const auto& [key, v] : j.items()) {
    std::string what = "\"" + address + "\"." + key;
    int64_t n = 0;
    if (key == "delay_ms") {
      if (!read_int(v, what, 0, k_max_delay_ms, n, error)) return false;
      spec.delay_ms = n;
    } else if (key == "items") {
      if (!read_int(v, what, 0, k_max_items, n, error)) return false;
      spec.items = n;
    } else if (key == "status") {
      // 1xx are interim answers and cannot end a request.
      if (!read_int(v, what, 200, 599, n, error)) return false;
      spec.status = static_cast<int>(n);
    } else if (key == "body" || key == "list_field") {
      if (!v.is_string() || (key == "list_field" && v.get<std::string>().empty())) {
        error = what + " must be a" + (key == "list_field" ? " non-empty" : "") + " string";
        return false;
      }
      (key == "body" ? spec.body : spec.list_field) = v.get<std::string>();
    } else if (key == "garbage" || key == "close") {
      if (!v.is_boolean()) {
        error = what + " must be true or false";
        return false;
      }
      (key == "garbage" ? spec.garbage : spec.close) = v.get<bool>();
    } else {
      // A typo would otherwise silently leave a source healthy and a test green.
      error = "unknown key " + what;
      return false;
    }
  }
  return true;
}

bool parse_table(const json& j, behaviour_table& table, std::string& error) {
  if (!j.is_object()) {
    error = "the config must be a JSON object of logical address -> behaviour";
    return false;
  }
  behaviour_table parsed;
  for (const auto& [address, entry] : j.items()) {
    if (!parse_spec(address, entry, parsed[address], error)) return false;
  }
  table = std::move(parsed);
  return true;
}

json spec_to_json(const behaviour_spec& s) {
  json j = json::object();
  if (s.delay_ms) j["delay_ms"] = *s.delay_ms;
  if (s.items) j["items"] = *s.items;
  if (s.status) j["status"] = *s.status;
  if (s.body) j["body"] = *s.body;
  if (s.garbage) j["garbage"] = *s.garbage;
  if (s.close) j["close"] = *s.close;
  if (s.list_field) j["list_field"] = *s.list_field;
  return j;
}

// ---- HTTP messages -------------------------------------------------------------------------

struct http_request {
  std::string method;
  std::string target;
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  size_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;

  const std::string* header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

// What the client asked for regarding the connection after this answer.
enum class connection_mode { keep_alive_11, keep_alive_10, close };

connection_mode mode_of(const http_request& r) {
  if (!r.keep_alive) return connection_mode::close;
  return r.minor_version == 0 ? connection_mode::keep_alive_10 : connection_mode::keep_alive_11;
}

std::string make_response(int status, std::string_view content_type, std::string_view body,
                          connection_mode mode, bool head_only) {
  // 204 and 304 never carry a body, nor a length describing one.
  bool bodiless = status == 204 || status == 304;
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += medflow::net::reason_phrase(status);
  out += "\r\n";
  if (!bodiless) {
    out += "Content-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  if (mode == connection_mode::close) out += "Connection: close\r\n";
  if (mode == connection_mode::keep_alive_10) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!bodiless && !head_only) out += body;
  return out;
}

std::string json_error(std::string_view message) {
  return json{{"error", message}}.dump();
}

enum class parse_status { need_more, done, error };

struct parse_failure {
  int status = 400;
  std::string message;
};

// Parses a request line and header block (without the blank line that ends it). Sets the
// framing fields of `r`; the body is read separately.
bool parse_head(std::string_view block, http_request& r, parse_failure& fail) {
  auto next_line = [&block]() {
    size_t nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view line = next_line();
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    fail = {400, "malformed request line"};
    return false;
  }
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    r.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    r.minor_version = 0;
  } else if (version.substr(0, 5) == "HTTP/" && version.size() == 8 && version[6] == '.') {
    fail = {505, "only HTTP/1.0 and HTTP/1.1 are supported"};
    return false;
  } else {
    fail = {400, "malformed HTTP version"};
    return false;
  }

  std::optional<size_t> content_length;
  bool has_transfer_encoding = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  while (!block.empty()) {
    line = next_line();
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') {
      fail = {400, "obsolete header line folding"};
      return false;
    }
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() ||
        name.find_first_of(" \t") != std::string_view::npos) {
      fail = {400, "malformed header line"};
      return false;
    }
    std::string lower = medflow::strings::ascii_lower(std::string(name));
    std::string_view value = trim(line.substr(colon + 1));

    if (lower == "content-length") {
      // "5, 5" and repeated headers are legal only when every value agrees (RFC 9110 8.6).
      bool ok = true;
      for_each_token(value, [&](std::string_view token) {
        if (token.size() > 18 || token.find_first_not_of("0123456789") != std::string::npos) {
          ok = false;
          return;
        }
        size_t n = std::stoull(std::string(token));
        if (content_length && *content_length != n) ok = false;
        content_length = n;
      });
      if (!ok || !content_length) {
        fail = {400, "invalid Content-Length"};
        return false;
      }
    } else if (lower == "transfer-encoding") {
      has_transfer_encoding = true;
    } else if (lower == "connection") {
      for_each_token(value, [&](std::string_view token) {
        if (medflow::strings::iequals(token, "close")) connection_close = true;
        if (medflow::strings::iequals(token, "keep-alive")) connection_keep_alive = true;
      });
    } else if (lower == "expect") {
      if (medflow::strings::iequals(value, "100-continue")) r.expect_continue = true;
    }
    r.headers.emplace_back(std::move(lower), std::string(value));
  }
  if (has_transfer_encoding) {
    fail = {411, "Transfer-Encoding is not supported: send a Content-Length"};
    return false;
  }
  r.content_length = content_length.value_or(0);
  if (r.content_length > k_max_body_bytes) {
    fail = {413, "body larger than " + std::to_string(k_max_body_bytes) + " bytes"};
    return false;
  }
  r.keep_alive =
      r.minor_version == 1 ? !connection_close : (connection_keep_alive && !connection_close);
  return true;
}

// ---- the server ----------------------------------------------------------------------------

// One answer, in request order. Filled when the request is parsed; delayed ones become ready
// when their timer fires.
struct pending_answer {
  std::string bytes;
  bool ready = false;
  bool abort = false;        // close the connection instead of answering
  bool close_after = false;  // the connection ends after this answer
  bool source_call = false;  // counted in in_flight until sent
  int64_t received_ns = 0;   // source calls: when the request was parsed
  std::string correlation;   // source calls: its x-skltp-correlation-id (GET /timings)
};

struct connection {
  int fd = -1;
  uint32_t serial = 0;
  std::string in;
  size_t in_off = 0;     // start of unparsed input
  size_t scan_from = 0;  // where to resume looking for the end of the header block (from in_off)
  std::optional<http_request> head;  // headers parsed, body still arriving
  int64_t rx_start_ns = 0;  // when the first bytes of the request being read arrived
  std::deque<pending_answer> answers;
  uint64_t first_seq = 0;  // sequence number of answers.front()
  std::string out;
  size_t out_off = 0;
  bool read_eof = false;
  bool no_more_requests = false;  // after "Connection: close" or a request we could not frame
  bool abort_after_write = false;
  bool shutdown_after_write = false;
  bool draining = false;  // write side shut; reading and discarding until EOF
  uint32_t registered_events = 0;
};

enum class timer_kind { answer, drain, accept_resume };

struct timer_entry {
  int64_t deadline_ns;
  uint64_t order;  // ties fire in the order they were set
  timer_kind kind;
  int fd;
  uint32_t serial;
  uint64_t seq;
  bool operator>(const timer_entry& o) const {
    return deadline_ns != o.deadline_ns ? deadline_ns > o.deadline_ns : order > o.order;
  }
};

struct stats {
  uint64_t requests = 0;
  uint64_t connections_accepted = 0;
  uint64_t max_concurrent = 0;
  uint64_t max_open_connections = 0;
  std::unordered_map<std::string, uint64_t> by_address;
};

class server {
 public:
  server(behaviour defaults, behaviour_table table)
      : defaults_(std::move(defaults)), table_(std::move(table)), read_buf_(k_read_chunk) {}

  ~server() {
    for (auto& c : conns_) {
      if (c) ::close(c->fd);
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (signal_fd_ >= 0) ::close(signal_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  // Returns the bound port, or -1 after printing why on stderr.
  int setup(const std::string& bind_address, int port) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    // Blocked so they queue on the signalfd and stop the loop between events, never mid-write.
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return fail("sigprocmask");
    signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) return fail("signalfd");

    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return fail("epoll_create1");

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, bind_address.c_str(), &addr.sin_addr) != 1) {
      std::fprintf(stderr, "fake_source: --bind needs an IPv4 address, not %s\n",
                   bind_address.c_str());
      return -1;
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return fail("socket");
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return fail("bind");
    }
    // The kernel caps this at somaxconn; a benchmark opens hundreds of connections at once.
    if (listen(listen_fd_, 4096) != 0) return fail("listen");
    socklen_t len = sizeof addr;
    if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return fail("getsockname");
    }
    if (!watch(listen_fd_, 0, EPOLLIN) || !watch(signal_fd_, 0, EPOLLIN)) return fail("epoll");
    return ntohs(addr.sin_port);
  }

  void run() {
    std::vector<epoll_event> events(1024);
    while (running_) {
      int timeout_ms = -1;
      if (!timers_.empty()) {
        int64_t wait_ns = timers_.top().deadline_ns - now_ns();
        // Rounded up: waking early would only cost an extra lap.
        timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>((wait_ns + 999'999) / 1'000'000);
      }
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("fake_source: epoll_wait");
        return;
      }
      for (int i = 0; i < n; ++i) dispatch(events[i]);
      fire_timers();
    }
  }

  const stats& counters() const { return stats_; }

 private:
  int fail(const char* what) {
    std::fprintf(stderr, "fake_source: %s: %s\n", what, std::strerror(errno));
    return -1;
  }

  // The serial in the upper half of the epoll cookie tells a live connection from an earlier
  // one that had the same fd, whose events may still sit in the batch being dispatched.
  bool watch(int fd, uint32_t serial, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (static_cast<uint64_t>(serial) << 32) | static_cast<uint32_t>(fd);
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  connection* lookup(int fd, uint32_t serial) {
    if (fd < 0 || static_cast<size_t>(fd) >= conns_.size()) return nullptr;
    connection* c = conns_[fd].get();
    return c && c->serial == serial ? c : nullptr;
  }

  void dispatch(const epoll_event& ev) {
    int fd = static_cast<int>(ev.data.u64 & 0xffffffffu);
    uint32_t serial = static_cast<uint32_t>(ev.data.u64 >> 32);
    if (serial == 0) {
      if (fd == signal_fd_) {
        signalfd_siginfo info;
        while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          running_ = false;
        }
      } else if (fd == listen_fd_) {
        accept_connections();
      }
      return;
    }
    connection* c = lookup(fd, serial);
    if (!c) return;
    if (ev.events & EPOLLERR) {
      close_connection(*c);
      return;
    }
    // EPOLLHUP with nothing left to read: the peer is gone both ways; otherwise read first so
    // a request followed by a close is still seen.
    if ((ev.events & EPOLLHUP) && !(ev.events & EPOLLIN)) {
      close_connection(*c);
      return;
    }
    if (ev.events & EPOLLIN) {
      if (!on_readable(*c)) return;
    }
    if (ev.events & EPOLLOUT) write_out(*c);
  }

  void accept_connections() {
    for (int i = 0; i < k_accepts_per_event; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Level-triggered readiness would spin on the pending connection: stop listening
          // briefly and let connections close.
          std::fprintf(stderr, "fake_source: accept: %s; pausing accepts\n", std::strerror(errno));
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
          add_timer(k_accept_pause_ns, timer_kind::accept_resume, -1, 0, 0);
          return;
        }
        std::perror("fake_source: accept");
        return;
      }
      // Answers are small and written whole; Nagle would only add latency to them.
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // The kernel's receive time of each read (GET /timings counts from a request's arrival,
      // so this program's own scheduling delays do not count against the caller).
      int stamping = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
      setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &stamping, sizeof stamping);
      if (next_serial_ == 0) next_serial_ = 1;  // 0 marks the listener and the signalfd
      auto c = std::make_unique<connection>();
      c->fd = fd;
      c->serial = next_serial_++;
      c->registered_events = EPOLLIN;
      if (!watch(fd, c->serial, EPOLLIN)) {
        std::perror("fake_source: epoll_ctl");
        ::close(fd);
        continue;
      }
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1);
      conns_[fd] = std::move(c);
      ++stats_.connections_accepted;
      ++open_connections_;
      if (open_connections_ > stats_.max_open_connections) {
        stats_.max_open_connections = open_connections_;
      }
    }
  }

  void close_connection(connection& c) {
    for (const auto& a : c.answers) {
      if (a.source_call) --in_flight_;
    }
    // Closing the fd removes it from the epoll set; pending timers find no matching serial.
    ::close(c.fd);
    --open_connections_;
    conns_[c.fd].reset();
  }

  // The kernel's software receive timestamp of a read (CLOCK_REALTIME), on CLOCK_MONOTONIC;
  // now when there is none.
  static int64_t arrival_ns(msghdr& msg) {
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPING) continue;
      timespec stamps[3];
      std::memcpy(stamps, CMSG_DATA(cm), sizeof stamps);
      if (stamps[0].tv_sec == 0 && stamps[0].tv_nsec == 0) break;
      timespec real;
      clock_gettime(CLOCK_REALTIME, &real);
      int64_t real_now = static_cast<int64_t>(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
      int64_t at = static_cast<int64_t>(stamps[0].tv_sec) * 1'000'000'000 + stamps[0].tv_nsec;
      int64_t mono_now = now_ns();
      return std::min(mono_now, mono_now - (real_now - at));
    }
    return now_ns();
  }

  // Returns false when the connection was closed.
  bool on_readable(connection& c) {
    for (int i = 0; i < k_reads_per_event; ++i) {
      iovec iov{read_buf_.data(), read_buf_.size()};
      alignas(cmsghdr) char control[256];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(c.fd, &msg, 0);
      if (n > 0) {
        // The bytes that start a request: remember when they arrived.
        if (c.in.size() == c.in_off) c.rx_start_ns = arrival_ns(msg);
        // Input after the last request we will answer is discarded, not buffered.
        if (!c.no_more_requests) c.in.append(read_buf_.data(), static_cast<size_t>(n));
        if (static_cast<size_t>(n) < read_buf_.size()) break;
        continue;
      }
      if (n == 0) {
        c.read_eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_connection(c);
      return false;
    }
    if (c.draining && c.read_eof) {
      close_connection(c);
      return false;
    }
    return service(c);
  }

  // Parses what can be parsed, moves ready answers to the output in order, writes.
  bool service(connection& c) {
    for (;;) {
      parse_requests(c);
      if (!move_ready_answers(c)) break;
      if (c.no_more_requests || c.in_off >= c.in.size()) break;
    }
    return write_out(c);
  }

  void parse_requests(connection& c) {
    while (!c.no_more_requests && c.answers.size() < k_max_pipelined) {
      if (parse_one(c) != parse_status::done) break;
    }
    // Compact once per batch rather than per request.
    if (c.in_off > 0) {
      c.in.erase(0, c.in_off);
      c.in_off = 0;
    }
  }

  static parse_failure header_too_large() {
    return {431, "header block larger than " + std::to_string(k_max_header_bytes) + " bytes"};
  }

  parse_status parse_one(connection& c) {
    std::string_view data(c.in);
    data.remove_prefix(c.in_off);
    if (!c.head) {
      // RFC 9112 2.2: ignore empty lines before a request line.
      size_t skip = 0;
      while (skip < data.size() && (data[skip] == '\r' || data[skip] == '\n')) ++skip;
      if (skip > 0 && c.scan_from == 0) {
        c.in_off += skip;
        data.remove_prefix(skip);
      }
      size_t end = find_header_end(data, c.scan_from);
      if (end == std::string_view::npos) {
        if (data.size() > k_max_header_bytes) {
          reject(c, header_too_large());
          return parse_status::error;
        }
        return parse_status::need_more;
      }
      http_request r;
      parse_failure failure;
      if (end > k_max_header_bytes) {
        reject(c, header_too_large());
        return parse_status::error;
      }
      if (!parse_head(data.substr(0, end), r, failure)) {
        reject(c, failure);
        return parse_status::error;
      }
      c.in_off += end;
      c.scan_from = 0;
      data.remove_prefix(end);
      c.head = std::move(r);
      if (c.head->expect_continue && data.size() < c.head->content_length) {
        // Interim answer, queued so it cannot overtake answers to earlier requests.
        pending_answer a;
        a.bytes = "HTTP/1.1 100 Continue\r\n\r\n";
        a.ready = true;
        c.answers.push_back(std::move(a));
      }
    }
    if (data.size() < c.head->content_length) return parse_status::need_more;
    http_request r = std::move(*c.head);
    c.head.reset();
    r.body.assign(data.data(), r.content_length);
    c.in_off += r.content_length;
    if (!r.keep_alive) c.no_more_requests = true;
    handle_request(c, r);
    return parse_status::done;
  }

  // Offset just past the blank line ending the header block, or npos. `scan_from` keeps the
  // search linear when a large header block arrives in many pieces.
  static size_t find_header_end(std::string_view data, size_t& scan_from) {
    size_t pos = scan_from;
    for (;;) {
      size_t nl = data.find('\n', pos);
      if (nl == std::string_view::npos) {
        scan_from = data.size();
        return std::string_view::npos;
      }
      if (nl + 1 < data.size() && data[nl + 1] == '\n') return nl + 2;
      if (nl + 2 < data.size() && data[nl + 1] == '\r' && data[nl + 2] == '\n') return nl + 3;
      if (nl + 1 >= data.size() || (data[nl + 1] == '\r' && nl + 2 >= data.size())) {
        scan_from = nl;  // the rest of a possible blank line has not arrived
        return std::string_view::npos;
      }
      pos = nl + 1;
    }
  }

  // An unframeable request: answer it and end the connection, since we cannot tell where the
  // next request would start.
  void reject(connection& c, const parse_failure& failure) {
    pending_answer a;
    a.bytes = make_response(failure.status, "application/json", json_error(failure.message),
                            connection_mode::close, false);
    a.ready = true;
    a.close_after = true;
    c.answers.push_back(std::move(a));
    c.no_more_requests = true;
    c.head.reset();
    c.in.clear();
    c.in_off = 0;
  }

  void handle_request(connection& c, const http_request& r) {
    connection_mode mode = mode_of(r);
    bool head_only = r.method == "HEAD";
    pending_answer a;
    a.close_after = mode == connection_mode::close;

    // Path without query, origin-form even when the client sent absolute-form.
    std::string_view path(r.target);
    if (path.substr(0, 7) == "http://" || path.substr(0, 8) == "https://") {
      size_t slash = path.find('/', path.find("//") + 2);
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
    path = path.substr(0, path.find('?'));

    const std::string* address_header = r.header("x-rivta-logical-address");
    if (!address_header) {
      std::optional<std::pair<int, std::string>> control = control_route(r, path);
      if (control) {
        a.bytes =
            make_response(control->first, "application/json", control->second, mode, head_only);
        a.ready = true;
        c.answers.push_back(std::move(a));
        return;
      }
    }

    std::string address;
    if (address_header) {
      address = *address_header;
    } else {
      std::string_view segment = path;
      if (!segment.empty() && segment.front() == '/') segment.remove_prefix(1);
      address = percent_decode(segment.substr(0, segment.find('/')));
    }
    if (address.empty()) {
      a.bytes = make_response(
          404, "application/json",
          json_error("no logical address: send x-rivta-logical-address or POST /<address>"), mode,
          head_only);
      a.ready = true;
      c.answers.push_back(std::move(a));
      return;
    }

    behaviour b = defaults_;
    if (auto it = table_.find("*"); it != table_.end()) apply(it->second, b);
    if (auto it = table_.find(address); it != table_.end()) apply(it->second, b);

    ++stats_.requests;
    ++stats_.by_address[address];
    ++in_flight_;
    if (in_flight_ > stats_.max_concurrent) stats_.max_concurrent = in_flight_;
    a.source_call = true;
    a.received_ns = c.rx_start_ns > 0 ? c.rx_start_ns : now_ns();
    c.rx_start_ns = 0;
    if (const std::string* corr = r.header("x-skltp-correlation-id")) a.correlation = *corr;

    if (b.close) {
      a.abort = true;
    } else if (b.garbage) {
      a.bytes = make_response(200, "application/json", "<<garbage>>", mode, head_only);
    } else if (b.body) {
      a.bytes = make_response(b.status, "application/json", *b.body, mode, head_only);
    } else if (b.status != 200) {
      a.bytes = make_response(b.status, "application/json", json_error("fault from " + address),
                              mode, head_only);
    } else {
      a.bytes = make_response(200, "application/json", list_answer(r, path, address, b).dump(),
                              mode, head_only);
    }

    if (b.delay_ms > 0) {
      uint64_t seq = c.first_seq + c.answers.size();
      add_timer(b.delay_ms * 1'000'000, timer_kind::answer, c.fd, c.serial, seq);
    } else {
      a.ready = true;
    }
    c.answers.push_back(std::move(a));
  }

  json list_answer(const http_request& r, std::string_view path, const std::string& address,
                   const behaviour& b) {
    std::string list_field = "items";
    if (b.list_field) {
      list_field = *b.list_field;
    } else if (const std::string* h = r.header("x-list-field"); h && !h->empty()) {
      list_field = *h;
    }
    const std::string* pointer = r.header("x-patient-pointer");
    // Through the aggregation platform only x-rivta-* headers travel on to a source.
    const std::string* echo = r.header("x-echo-request");
    if (!echo) echo = r.header("x-rivta-echo-request");
    bool echo_request = echo && *echo == "1";

    json body = json(json::value_t::discarded);
    if ((pointer || echo_request) && !r.body.empty()) {
      body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    }
    json patient = nullptr;
    if (pointer && body.is_object()) {
      if (!pointer->empty() && pointer->front() == '/') {
        try {
          json::json_pointer p(*pointer);
          if (body.contains(p)) patient = body.at(p);
        } catch (const json::exception&) {
          // An invalid pointer finds nothing, like a missing field.
        }
      } else if (auto it = body.find(*pointer); it != body.end()) {
        patient = *it;
      }
    }

    json items = json::array();
    for (int64_t i = 0; i < b.items; ++i) {
      items.push_back({{"source", address}, {"n", i}, {"patient", patient}});
    }
    if (echo_request && !items.empty()) {
      json& first = items.front();
      // The raw text too, for byte-exact checks that the body was forwarded unchanged.
      first["request_raw"] = r.body;
      if (r.body.empty()) {
        first["request"] = nullptr;
      } else if (body.is_discarded()) {
        first["request"] = r.body;
      } else {
        first["request"] = std::move(body);
      }
      first["path"] = std::string(path);
      json headers = json::object();
      for (const auto& [name, value] : r.headers) {
        if (name.compare(0, 2, "x-") != 0) continue;
        auto it = headers.find(name);
        if (it == headers.end()) {
          headers[name] = value;
        } else {
          *it = it->get<std::string>() + ", " + value;
        }
      }
      first["headers"] = std::move(headers);
    }
    return json{{list_field, std::move(items)}};
  }

  std::optional<std::pair<int, std::string>> control_route(const http_request& r,
                                                           std::string_view path) {
    auto method_is = [&r](std::initializer_list<const char*> allowed) {
      for (const char* m : allowed) {
        if (r.method == m) return true;
      }
      return false;
    };
    auto not_allowed = [] { return std::make_pair(405, json_error("method not allowed")); };
    if (path == "/stats") {
      if (!method_is({"GET", "HEAD"})) return not_allowed();
      json by_address = json::object();
      for (const auto& [address, n] : stats_.by_address) by_address[address] = n;
      json j = {{"requests", stats_.requests},
                {"connections_accepted", stats_.connections_accepted},
                {"max_concurrent", stats_.max_concurrent},
                {"in_flight", in_flight_},
                {"open_connections", open_connections_},
                {"max_open_connections", stats_.max_open_connections},
                {"by_address", std::move(by_address)}};
      return std::make_pair(200, j.dump());
    }
    if (path == "/timings") {
      if (!method_is({"GET", "HEAD"})) return not_allowed();
      json j = json::object();
      for (const auto& [corr, us] : timings_) j[corr] = us;
      return std::make_pair(200, j.dump());
    }
    if (path == "/spans") {
      if (!method_is({"GET", "HEAD"})) return not_allowed();
      json j = json::object();
      for (const auto& [corr, span] : spans_) j[corr] = {span.first, span.second};
      return std::make_pair(200, j.dump());
    }
    if (path == "/reset-stats") {
      if (!method_is({"POST"})) return not_allowed();
      stats_ = stats{};
      timings_.clear();
      spans_.clear();
      stats_.max_concurrent = in_flight_;
      stats_.max_open_connections = open_connections_;
      return std::make_pair(200, json{{"ok", true}}.dump());
    }
    if (path == "/config") {
      if (method_is({"GET", "HEAD"})) {
        json j = json::object();
        for (const auto& [address, spec] : table_) j[address] = spec_to_json(spec);
        return std::make_pair(200, j.dump());
      }
      if (!method_is({"POST", "PUT"})) return not_allowed();
      json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      std::string error;
      if (j.is_discarded()) {
        error = "the body is not JSON";
      } else if (parse_table(j, table_, error)) {
        return std::make_pair(200, json{{"ok", true}, {"entries", table_.size()}}.dump());
      }
      return std::make_pair(400, json_error(error));
    }
    return std::nullopt;
  }

  // The slowest source call of one correlation id so far: from its request's arrival to its
  // answer handed to the socket (the delay plus this program's own time).
  void note_timing(const pending_answer& a) {
    auto now = now_ns();
    auto us = (now - a.received_ns) / 1000;
    auto it = timings_.find(a.correlation);
    if (it != timings_.end()) {
      it->second = std::max(it->second, us);
      auto& span = spans_[a.correlation];
      span.first = std::min(span.first, a.received_ns);
      span.second = std::max(span.second, now);
    } else if (timings_.size() < k_max_timings) {
      timings_.emplace(a.correlation, us);
      spans_.emplace(a.correlation, std::make_pair(a.received_ns, now));
    }
  }

  // Pops ready answers off the front, in order, into the output buffer. Returns whether any
  // was popped (room for more pipelined requests).
  bool move_ready_answers(connection& c) {
    bool moved = false;
    while (!c.answers.empty() && c.answers.front().ready) {
      pending_answer a = std::move(c.answers.front());
      c.answers.pop_front();
      ++c.first_seq;
      moved = true;
      if (a.source_call) --in_flight_;
      if (a.source_call && !a.correlation.empty()) note_timing(a);
      if (a.abort || a.close_after) {
        // Nothing after this answer will be sent: the requests behind it are dropped.
        for (const auto& rest : c.answers) {
          if (rest.source_call) --in_flight_;
        }
        c.first_seq += c.answers.size();
        c.answers.clear();
        c.no_more_requests = true;
        c.in.clear();
        c.in_off = 0;
        c.head.reset();
        if (a.abort) {
          c.abort_after_write = true;
        } else {
          c.shutdown_after_write = true;
        }
      }
      if (!a.bytes.empty()) {
        if (c.out_off == c.out.size()) {
          c.out.clear();
          c.out_off = 0;
        }
        c.out += a.bytes;
      }
    }
    return moved;
  }

  // Returns false when the connection was closed.
  bool write_out(connection& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_connection(c);  // EPIPE, ECONNRESET: the client is gone
      return false;
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
      if (c.abort_after_write) {
        close_connection(c);
        return false;
      }
      if (c.shutdown_after_write && !c.draining) {
        shutdown(c.fd, SHUT_WR);
        c.draining = true;
        add_timer(k_drain_ns, timer_kind::drain, c.fd, c.serial, 0);
      }
      // Everything asked has been answered and nothing more can arrive.
      if (c.read_eof && c.answers.empty() && !c.head) {
        close_connection(c);
        return false;
      }
    } else if (c.out_off > k_max_out_bytes / 4) {
      c.out.erase(0, c.out_off);
      c.out_off = 0;
    }
    update_interest(c);
    return true;
  }

  void update_interest(connection& c) {
    uint32_t want = 0;
    bool backlog =
        c.answers.size() >= k_max_pipelined || c.out.size() - c.out_off > k_max_out_bytes;
    if (!c.read_eof && (c.draining || !backlog)) want |= EPOLLIN;
    if (c.out_off < c.out.size()) want |= EPOLLOUT;
    if (want == c.registered_events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = (static_cast<uint64_t>(c.serial) << 32) | static_cast<uint32_t>(c.fd);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) == 0) c.registered_events = want;
  }

  void add_timer(int64_t after_ns, timer_kind kind, int fd, uint32_t serial, uint64_t seq) {
    timers_.push({now_ns() + after_ns, timer_order_++, kind, fd, serial, seq});
  }

  void fire_timers() {
    int64_t now = now_ns();
    while (!timers_.empty() && timers_.top().deadline_ns <= now) {
      timer_entry t = timers_.top();
      timers_.pop();
      if (t.kind == timer_kind::accept_resume) {
        if (!watch(listen_fd_, 0, EPOLLIN)) std::perror("fake_source: epoll_ctl(listen)");
        continue;
      }
      connection* c = lookup(t.fd, t.serial);
      if (!c) continue;  // closed meanwhile
      if (t.kind == timer_kind::drain) {
        close_connection(*c);
        continue;
      }
      // Answers dropped after a close are below first_seq, and their timers find nothing.
      if (t.seq < c->first_seq || t.seq - c->first_seq >= c->answers.size()) continue;
      c->answers[t.seq - c->first_seq].ready = true;
      // The answer may be waiting behind an earlier, slower one; service() sends what it can.
      service(*c);
    }
  }

  behaviour defaults_;
  behaviour_table table_;
  std::vector<char> read_buf_;
  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  bool running_ = true;
  std::vector<std::unique_ptr<connection>> conns_;  // indexed by fd
  uint32_t next_serial_ = 1;
  std::priority_queue<timer_entry, std::vector<timer_entry>, std::greater<timer_entry>> timers_;
  uint64_t timer_order_ = 0;
  uint64_t in_flight_ = 0;
  static constexpr size_t k_max_timings = 2'000'000;
  std::unordered_map<std::string, int64_t> timings_;  // correlation id -> slowest call, µs
  // correlation id -> (earliest arrival, latest answer), CLOCK_MONOTONIC ns
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> spans_;
  uint64_t open_connections_ = 0;
  stats stats_;
};

void usage() {
  std::fprintf(stderr,
               "usage: fake_source --port P [--bind ADDR] [--config FILE] "
               "[--default-delay-ms D] [--default-items N]\n");
}

bool parse_int(const char* text, int64_t min, int64_t max, int64_t& out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < min || v > max) return false;
  out = v;
  return true;
}

// Hundreds of benchmark connections would exhaust a default soft limit of 1024 descriptors.
void raise_fd_limit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t port = -1;
  std::string bind_address = "127.0.0.1";
  std::string config_path;
  behaviour defaults;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = value != nullptr;
    if (arg == "--port") {
      ok = ok && parse_int(value, 0, 65535, port);
    } else if (arg == "--bind") {
      if (ok) bind_address = value;
    } else if (arg == "--config") {
      if (ok) config_path = value;
    } else if (arg == "--default-delay-ms") {
      ok = ok && parse_int(value, 0, k_max_delay_ms, defaults.delay_ms);
    } else if (arg == "--default-items") {
      ok = ok && parse_int(value, 0, k_max_items, defaults.items);
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "fake_source: unknown argument %s\n", arg.c_str());
      usage();
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "fake_source: %s needs a valid value\n", arg.c_str());
      usage();
      return 2;
    }
    ++i;
  }
  if (port < 0) {
    usage();
    return 2;
  }

  behaviour_table table;
  if (!config_path.empty()) {
    std::ifstream file(config_path);
    if (!file) {
      std::fprintf(stderr, "fake_source: cannot read %s\n", config_path.c_str());
      return 2;
    }
    std::stringstream text;
    text << file.rdbuf();
    json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    std::string error = "not JSON";
    if (j.is_discarded() || !parse_table(j, table, error)) {
      std::fprintf(stderr, "fake_source: %s: %s\n", config_path.c_str(), error.c_str());
      return 2;
    }
  }

  // Writes to a vanished client must fail with EPIPE, not kill the process (MSG_NOSIGNAL
  // covers send(); this covers everything else, e.g. stdout to a closed pipe).
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  server s(std::move(defaults), std::move(table));
  int bound = s.setup(bind_address, static_cast<int>(port));
  if (bound < 0) return 1;
  std::printf("listening on %d\n", bound);
  std::fflush(stdout);
  s.run();
  std::fprintf(stderr, "fake_source: stopping after %llu source calls\n",
               static_cast<unsigned long long>(s.counters().requests));
  return 0;
}
