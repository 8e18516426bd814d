#include "http/subscription_stream.hpp"

#include "core/clock.hpp"
#include "http/server.hpp"
#include "net/http_server.hpp"
#include "net/sse.hpp"

#include <deque>
#include <mutex>

namespace medflow::http {

namespace re = flows::resource_events;

namespace {

constexpr std::size_t batch_events = 100;  // events asked for at once

// One stream's sink: asks the subscription's actor for a batch, writes it, asks for the next.
// Its callbacks come from the actor (a batch) and from the connection's loop (drained,
// closed); one mutex orders them. Kept alive by the batch it waits for or by its stream's
// callbacks; the stream's end drops both.
class sse_sink : public std::enable_shared_from_this<sse_sink> {
 public:
  sse_sink(subscriptions_api::pull_fn pull, int64_t wait_ms, std::string id)
      : pull_(std::move(pull)), id_(std::move(id)), wait_ms_(std::max<int64_t>(0, wait_ms)) {}

  // The first batch at once; then the head and the stream, or the batch's error as JSON.
  void start(std::optional<re::positions> from, responder respond) {
    net::response late;
    send_error(late, error{503, "unavailable", "the subscription did not answer in time; ask "
                                               "again", {}});
    respond.deadline(10000, std::move(late));
    auto self = shared_from_this();
    pull_(id_, std::move(from), batch_events, 0, [self, respond](re::pull_batch b) {
      if (b.err) {
        net::response res;
        send_error(res, *b.err);
        respond(std::move(res));
        return;
      }
      self->open(respond, std::move(b));
    }, [respond] { return respond.answered(); });
  }

 private:
  void open(const responder& respond, re::pull_batch first) {
    net::response head;
    head.content_type = net::sse_content_type;
    head.set_header("Cache-Control", "no-store");
    head.set_header("X-Accel-Buffering", "no");  // nginx: pass each event on at once
    auto self = shared_from_this();
    net::stream_events ev;
    ev.drained = [self] { self->drained(); };
    ev.closed = [self](net::stream_end) { self->closed(); };
    auto s = respond.stream(std::move(head), std::move(ev));
    if (!s) return;  // answered otherwise (503: too many streams, stopping)
    {
      std::lock_guard<std::mutex> g{m_};
      if (over_) return;  // the client left already
      out_ = std::move(s);
    }
    take(std::move(first), /*waited=*/true);
  }

  // A batch from the actor: its events (or a heartbeat) join the backlog, then as much as the
  // client takes is written; once all of it is, the next batch is asked for.
  void take(re::pull_batch b, bool waited) {
    {
      std::lock_guard<std::mutex> g{m_};
      if (over_) return;
      if (b.err) {
        // Deleted, or its actor restarts: the client hears why, then comes back with its
        // Last-Event-ID.
        std::string text;
        net::append_sse_event(text, "", "error", json_line(error_body(*b.err)));
        backlog_.push_back(std::move(text));
        ending_ = true;
      } else if (b.events.empty()) {
        // An empty batch before its wait: the actor drains (shutdown) or restarts. Ending the
        // stream here, rather than asking again at once, keeps it from spinning; the client
        // reconnects with its Last-Event-ID.
        if (!waited) ending_ = true;
        else if (!first_) {
          std::string text;
          net::append_sse_comment(text, "keep-alive");
          backlog_.push_back(std::move(text));
        }
      }
      for (auto& e : b.events) {
        // The event's text (one line) is its data; its cursor and topic are read back from it.
        auto j = nlohmann::json::parse(e, nullptr, /*allow_exceptions=*/false);
        auto field = [&j](const char* name) {
          auto it = j.is_object() ? j.find(name) : j.end();
          return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        std::string text;
        net::append_sse_event(text, field("cursor"), field("topic"), e);
        backlog_.push_back(std::move(text));
      }
      first_ = false;
      from_ = std::move(b.next);
      if (!write_backlog()) return;
    }
    ask();
  }

  // With m_ held: writes the backlog; true once it is all written and the next batch is due.
  bool write_backlog() {
    while (!backlog_.empty()) {
      switch (out_->write(backlog_.front())) {
        case net::answer_stream::put::ok:
          backlog_.pop_front();
          break;
        case net::answer_stream::put::full:
          return false;  // drained() goes on
        case net::answer_stream::put::closed:
          return false;  // closed() comes
      }
    }
    if (!ending_) return true;
    out_->end();
    return false;
  }

  void ask() {
    auto self = shared_from_this();
    int64_t asked = clock::steady_us();
    re::positions from;
    {
      std::lock_guard<std::mutex> g{m_};
      from = from_;
    }
    pull_(id_, std::move(from), batch_events, wait_ms_, [self, asked](re::pull_batch b) {
      // An empty batch is due after wait_ms; one that comes well before was not waited for.
      bool waited = !b.events.empty() || clock::steady_us() - asked >= self->wait_ms_ * 500;
      self->take(std::move(b), waited);
    }, [weak = weak_from_this()] {
      auto s = weak.lock();
      if (!s) return true;
      std::lock_guard<std::mutex> g{s->m_};
      return s->over_;
    });
  }

  void drained() {
    {
      std::lock_guard<std::mutex> g{m_};
      if (over_ || !write_backlog()) return;
    }
    ask();
  }

  void closed() {
    std::lock_guard<std::mutex> g{m_};
    over_ = true;
    out_.reset();  // the stream's callbacks hold this sink: the cycle ends here
    backlog_.clear();
  }

  static std::string json_line(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  const subscriptions_api::pull_fn pull_;
  const std::string id_;
  const int64_t wait_ms_;  // how long the actor holds a request for the next events
  std::mutex m_;
  std::shared_ptr<net::answer_stream> out_;
  std::deque<std::string> backlog_;  // one SSE message each; at most one batch
  re::positions from_;               // where the next batch starts
  bool first_ = true;                // no heartbeat for the first (unwaited) batch
  bool ending_ = false;
  bool over_ = false;
};

}  // namespace

void start_subscription_stream(subscriptions_api::pull_fn pull, int64_t wait_ms, std::string id,
                               std::optional<re::positions> from, responder respond) {
  std::make_shared<sse_sink>(std::move(pull), wait_ms, std::move(id))
      ->start(std::move(from), std::move(respond));
}

}  // namespace medflow::http
