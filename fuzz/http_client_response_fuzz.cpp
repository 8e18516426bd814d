// Fuzz target: the client's response path (net::response_reader), as the plain-http client
// drives it: arbitrary bytes split into reads at points taken from the input's end, an EOF at
// the end, and the reader reset for the next response while the connection may be reused.
//
// Invariants: a state once reached sticks (done stays done, with later bytes only marking it
// excess; error stays error); a final response has a status of 200-599 and a body within the
// limit, none for HEAD; an error has a text and never allows reuse; an EOF always decides
// (done or error), and a response completed by it is never reused.
#include "core/log.hpp"
#include "net/http1.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using medflow::net::response_reader;
using state = response_reader::state;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "http_client_response_fuzz: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define EXPECT(cond) \
  do {               \
    if (!(cond)) broken(#cond, __LINE__); \
  } while (0)

constexpr size_t max_body = 8192;

void check_done(response_reader& r, bool head) {
  EXPECT(r.status() >= 200 && r.status() <= 599);
  EXPECT(r.body().size() <= max_body);
  if (head) EXPECT(r.body().empty());
  EXPECT(r.error().empty());
}

}  // namespace

// The engine's warnings (a header dropped from an answer) would be most of the run's time.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  medflow::log::set_level(medflow::log::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  response_reader::limits l;
  l.max_head = in.ConsumeBool() ? 256 : 4096;
  l.max_body = max_body;
  response_reader r(l);
  bool head = in.ConsumeBool();
  r.reset(head);
  state last = state::need_more;
  while (in.remaining_bytes() > 0) {
    std::string read = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 64));
    bool excess_before = r.excess();
    state s = r.feed(read.data(), read.size());
    if (!read.empty()) EXPECT(r.received_any());
    if (last == state::done) {
      EXPECT(s == state::done);
      EXPECT(read.empty() || r.excess());
      EXPECT(!r.excess() || !r.keep_alive());
    }
    if (last == state::error) EXPECT(s == state::error);
    if (excess_before) EXPECT(r.excess());
    if (s == state::done) check_done(r, head);
    if (s == state::error) {
      EXPECT(!r.error().empty());
      EXPECT(!r.keep_alive());
    }
    last = s;
    // A response a connection may be reused after: the next one on the same reader.
    if (s == state::done && r.keep_alive() && in.ConsumeBool()) {
      head = in.ConsumeBool();
      r.reset(head);
      EXPECT(!r.received_any() && !r.excess() && r.body().empty());
      last = state::need_more;
    }
  }
  state end = r.eof();
  EXPECT(end != state::need_more);
  if (last != state::need_more) EXPECT(end == last);
  if (end == state::done) {
    check_done(r, head);
    if (last == state::need_more) EXPECT(!r.keep_alive());  // completed by the close
  } else {
    EXPECT(!r.error().empty());
  }
  return 0;
}
