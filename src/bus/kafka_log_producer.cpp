// Producing: appends wait for the broker's acknowledgement (idempotent producer); appends in
// a store transaction go to the outbox table, which the relay forwards (produce_and_wait) and
// acknowledges (outbox_ack).
#include "bus/kafka_log_impl.hpp"

#include "bus/embedded_log.hpp"
#include "core/clock.hpp"

namespace medflow::bus {

using namespace kafka;

namespace {

// The state of one produce_and_wait call, shared with its in-flight messages: a caller that
// gave up (timeout, a failed enqueue) returns while delivery reports may still arrive.
struct delivery_batch {
  std::mutex mutex;
  std::condition_variable cv;
  size_t pending = 0;
  std::vector<position> positions;
  std::string error;  // the first failure
};

// A message's opaque: which batch and which slot of it.
struct delivery {
  std::shared_ptr<delivery_batch> batch;
  size_t index;
};

}  // namespace

namespace kafka {

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  std::unique_ptr<delivery> d{static_cast<delivery*>(m->_private)};
  if (!d) return;
  auto& b = *d->batch;
  {
    std::lock_guard<std::mutex> g{b.mutex};
    if (m->err) {
      if (b.error.empty())
        b.error = "could not append to topic " + std::string(rd_kafka_topic_name(m->rkt)) +
                  " partition " + std::to_string(m->partition) + ": " + err_text(m->err);
    } else {
      b.positions[d->index] = position{m->partition, m->offset};
    }
    --b.pending;
  }
  b.cv.notify_all();
}

}  // namespace kafka

std::vector<position> kafka_log::impl::produce(const std::vector<message>& msgs) {
  auto batch = std::make_shared<delivery_batch>();
  batch->positions.resize(msgs.size());
  auto deadline = steady::now() + std::chrono::milliseconds(opts.timeout_ms);
  for (size_t i = 0; i < msgs.size(); ++i) {
    const message& m = msgs[i];
    int32_t partition =
        m.partition ? *m.partition : self.choose_partition(m, require_topic(m.topic));
    for (;;) {
      rd_kafka_headers_t* hdrs = rd_kafka_headers_new(m.hdrs.size());
      for (auto& [k, v] : m.hdrs)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
      auto d = std::make_unique<delivery>(delivery{batch, i});
      {
        std::lock_guard<std::mutex> g{batch->mutex};
        ++batch->pending;
      }
      // Without a key the message goes without one (a null key), not with an empty one.
      rd_kafka_resp_err_t err =
          m.key ? rd_kafka_producev(
                      producer, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_KEY(m.key->data(), m.key->size()),
                      RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d.get()), RD_KAFKA_V_END)
                : rd_kafka_producev(
                      producer, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d.get()), RD_KAFKA_V_END);
      if (!err) {
        d.release();  // on_delivery owns it now
        break;
      }
      // librdkafka keeps the headers only when it accepted the message.
      rd_kafka_headers_destroy(hdrs);
      {
        std::lock_guard<std::mutex> g{batch->mutex};
        --batch->pending;
      }
      // A full local queue drains as the poll thread serves delivery reports.
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && steady::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      throw std::runtime_error("could not append to topic " + m.topic + ": " + err_text(err));
    }
  }
  std::unique_lock<std::mutex> lk{batch->mutex};
  // message.timeout.ms bounds every report; the margin covers linger and polling.
  bool done = batch->cv.wait_until(lk, deadline + std::chrono::seconds(5),
                                   [&] { return batch->pending == 0; });
  if (!batch->error.empty()) throw std::runtime_error(batch->error);
  if (!done)
    throw std::runtime_error("timed out waiting for the broker to acknowledge " +
                             std::to_string(batch->pending) + " records");
  return batch->positions;
}

// -- kafka_log: producing --------------------------------------------------------------------

std::vector<position> kafka_log::append(const std::vector<message>& msgs) {
  auto g = impl_->enter();
  // Validate everything first so a bad record writes nothing.
  std::vector<int32_t> counts;
  counts.reserve(msgs.size());
  for (auto& m : msgs) {
    counts.push_back(impl_->require_topic(m.topic));
    if (m.partition) impl_->require_partition(m.topic, *m.partition);
  }
  std::vector<message> placed = msgs;
  for (size_t i = 0; i < placed.size(); ++i)
    placed[i].partition = choose_partition(placed[i], counts[i]);
  return impl_->produce(placed);
}

std::optional<position> kafka_log::append_in(store::tx& t, const message& m) {
  auto g = impl_->enter();
  int32_t n = impl_->require_topic(m.topic);
  int32_t p = choose_partition(m, n);
  if (p < 0 || p >= n) throw unknown_partition(m.topic, p);
  auto ins = t.conn.prepare(
      "INSERT INTO bus_outbox(topic, part, key, value, headers, created_at, origin) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  ins.bind(1, m.topic).bind(2, p);
  if (m.key)
    ins.bind_blob(3, *m.key);
  else
    ins.bind(3, nullptr);
  ins.bind_blob(4, m.value);
  auto h = encode_headers(m.hdrs);
  if (h.empty())
    ins.bind(5, nullptr);
  else
    ins.bind(5, h);
  ins.bind(6, clock::now_ms());
  ins.bind(7, impl_->origin);
  ins.exec();
  t.after_commit([i = impl_.get()] {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lk{i->outbox_mutex};
      wake = i->outbox_wake;
    }
    if (wake) wake();
  });
  return std::nullopt;
}

std::vector<outbox_row> kafka_log::outbox_peek(size_t max) {
  auto g = impl_->enter();
  std::vector<outbox_row> out;
  auto r = impl_->db.reader();
  auto limit = static_cast<int64_t>(std::min<size_t>(max, INT64_MAX));
  // One instance's store (SQLite): every row is ours. A shared PostgreSQL: our rows, rows
  // without an origin (written before it was recorded), and the others' once they are older
  // than a produce may take (their instance died or lags): two relays peeking the oldest rows
  // at once sent most rows twice under load. A row waits while another instance still has an
  // older row of its key to send, so a key's rows keep their order on the topic.
  bool shared = impl_->db.backend() == store::backend::postgres;
  auto q = r->prepare(
      shared ? "SELECT id, topic, part, key, value, headers FROM bus_outbox o "
               "WHERE (origin IS NULL OR origin = ? OR created_at < ?) AND NOT EXISTS ("
               "  SELECT 1 FROM bus_outbox e WHERE e.topic = o.topic AND e.key = o.key"
               "  AND e.id < o.id AND e.origin <> ? AND e.created_at >= ?) "
               "ORDER BY id LIMIT ?"
             : "SELECT id, topic, part, key, value, headers FROM bus_outbox ORDER BY id LIMIT ?");
  if (shared) {
    int64_t cutoff = clock::now_ms() - impl_->opts.timeout_ms;
    q.bind_all(impl_->origin, cutoff, impl_->origin, cutoff, limit);
  } else {
    q.bind_all(limit);
  }
  while (q.step()) {
    outbox_row row;
    row.id = q.int64(0);
    row.msg.topic = q.text(1);
    if (!q.is_null(2)) row.msg.partition = static_cast<int32_t>(q.int64(2));
    row.msg.key = q.opt_text(3);
    row.msg.value = q.text(4);
    if (!q.is_null(5)) row.msg.hdrs = decode_headers(q.text_view(5));
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<position> kafka_log::produce_and_wait(const std::vector<message>& msgs) {
  auto g = impl_->enter();
  // A record for a topic that is gone must fail here: producing it would make a broker with
  // auto-creation enabled create the topic anew.
  for (auto& m : msgs)
    if (m.partition)
      impl_->require_partition(m.topic, *m.partition);
    else
      impl_->require_topic(m.topic);
  return impl_->produce(msgs);
}

// Deletes exactly the rows the relay sent, never "every id below": on a PostgreSQL shared by
// several medflowd a smaller id can commit after the peek that missed it.
void kafka_log::outbox_ack(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  auto g = impl_->enter();
  impl_->db.write().run([&](store::tx& t) {
    if (t.conn.backend() == store::backend::postgres) {
      std::string list;  // a bigint[] literal: {1,2,3}
      for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
      t.conn.prepare("DELETE FROM bus_outbox WHERE id = ANY(?::bigint[])")
          .bind_all("{" + list + "}")
          .exec();
      return;
    }
    auto del = t.conn.prepare("DELETE FROM bus_outbox WHERE id = ?");
    for (auto id : ids) {
      del.bind_all(id).exec();
      del.reset();
    }
  });
}

void kafka_log::on_outbox(std::function<void()> wake) {
  std::lock_guard<std::mutex> lk{impl_->outbox_mutex};
  impl_->outbox_wake = std::move(wake);
}

}  // namespace medflow::bus
