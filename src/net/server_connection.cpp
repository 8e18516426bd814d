#include "net/server_connection.hpp"

#include "core/strings.hpp"
#include "net/date.hpp"
#include "net/url.hpp"

#include <algorithm>

namespace medflow::net {

namespace {

constexpr size_t read_chunk = 64 * 1024;  // parsed bytes are dropped from the buffer per this

// Where the path of the target starts: after "scheme://authority" in an absolute-form target
// ("http://host:port/path?q": what a client sends a proxy, and any server must accept, RFC
// 9112 3.2.2), else at its start.
size_t path_start(std::string_view target) {
  if (target.empty() || target[0] == '/') return 0;
  size_t sep = target.find("://");
  if (sep == std::string_view::npos) return 0;
  std::string_view scheme = target.substr(0, sep);
  if (!strings::iequals(scheme, "http") && !strings::iequals(scheme, "https")) return 0;
  return std::min(target.find_first_of("/?", sep + 3), target.size());
}

// Splits the target into raw_path, path and params; false for a malformed escape. An
// absolute-form target gives what its origin-form would ("/" when it has no path).
bool split_target(request& r) {
  std::string_view t = std::string_view(r.target).substr(path_start(r.target));
  auto qmark = t.find('?');
  r.raw_path.assign(t.substr(0, qmark));
  if (r.raw_path.empty() && t.size() != r.target.size()) r.raw_path = "/";
  r.path.clear();
  r.params.clear();
  if (!percent_decode(r.raw_path, r.path)) return false;
  if (qmark == std::string_view::npos) return true;
  return parse_query(t.substr(qmark + 1), r.params);
}

}  // namespace

std::string answer_bytes(const response& res, const answer_shape& shape, bool keep_alive) {
  std::string out;
  write_answer(out, res, shape.head, keep_alive, shape.http10, current_date());
  return out;
}

server_connection::server_connection(const options& o) : opts_(o), reader_(o.limits) {}

server_connection::event server_connection::next(int64_t now_us) {
  if (error_status_ != 0) return event::error;  // the connection's end: nothing after it
  while (in_off_ < in_.size()) {
    if (!reader_.received_any()) request_start_us_ = now_us;
    in_off_ += reader_.feed(in_.data() + in_off_, in_.size() - in_off_);
    auto s = reader_.current();
    if (s == request_reader::state::error) {
      error_status_ = reader_.error_status();
      error_ = reader_.error();
      return event::error;
    }
    if (s == request_reader::state::need_more) break;
    ready_ = std::move(reader_.req());
    ready_lease_ = reader_.take_lease();
    ready_shape_.head = ready_.method == "HEAD";
    ready_shape_.http10 = ready_.version == 10;
    ++served_;
    ready_shape_.keep_alive = reader_.keep_alive() && served_ < opts_.keep_alive_max_count;
    bool ok = split_target(ready_);
    reader_.reset();
    sent_continue_ = false;
    compact();
    if (!ok) {
      ready_lease_.release();
      unread_ = std::move(ready_);
      unread_.path = unread_.raw_path;
      error_status_ = 400;
      error_ = "malformed percent-encoding in the request target";
      return event::error;
    }
    return event::request;
  }
  compact();
  if (reader_.head_complete() && reader_.expect_continue() && !sent_continue_) {
    sent_continue_ = true;
    return event::send_continue;
  }
  return event::idle;
}

request server_connection::take_request(answer_shape& shape, budget_lease* lease) {
  shape = ready_shape_;
  if (lease) *lease = std::move(ready_lease_);
  else ready_lease_.release();
  return std::move(ready_);
}

request server_connection::unread() {
  if (!unread_.method.empty()) return unread_;
  request r;
  if (!reader_.req().method.empty()) {  // the request line was read
    r.method = reader_.req().method;
    r.target = reader_.req().target;
    r.version = reader_.req().version;
    if (!split_target(r)) r.path = r.raw_path;
  }
  return r;
}

void server_connection::compact() {
  if (in_off_ == in_.size()) {
    in_off_ = 0;
    if (in_.capacity() > opts_.max_buffered) std::string().swap(in_);
    else in_.clear();
  } else if (in_off_ >= read_chunk) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
}

server_connection::expiry server_connection::expired(int64_t now_us, int64_t last_active_us) const {
  if (reader_.received_any())
    return now_us - request_start_us_ > opts_.read_timeout_us ? expiry::read_timeout : expiry::none;
  return now_us - last_active_us > opts_.keep_alive_timeout_us ? expiry::idle : expiry::none;
}

}  // namespace medflow::net
