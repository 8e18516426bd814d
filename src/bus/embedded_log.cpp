#include "bus/embedded_log.hpp"

#include "core/clock.hpp"
#include "core/json_fast.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <set>
#include <tuple>

namespace medflow::bus {

std::vector<store::migration> embedded_log::migrations() {
  return {
      // On PostgreSQL (the bus is Kafka there) only the outbox the producer relays.
      {"bus", 1, "topics, records, consumer offsets, outbox",
       "CREATE TABLE bus_topics ("
       "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL,"
       "  created_at INTEGER NOT NULL);"
       "CREATE TABLE bus_records ("
       "  topic_id INTEGER NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL,"
       "  ts INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT,"
       "  PRIMARY KEY (topic_id, part, off)) WITHOUT ROWID;"

       "CREATE TABLE bus_offsets ("
       "  grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,"
       "  updated_at INTEGER NOT NULL, PRIMARY KEY (grp, topic, part)) WITHOUT ROWID;"
       "CREATE TABLE bus_outbox ("
       "  id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, part INTEGER,"
       "  key BLOB, value BLOB NOT NULL, headers TEXT, created_at INTEGER NOT NULL);",
       "CREATE TABLE bus_outbox ("
       "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, topic TEXT NOT NULL, part INTEGER,"
       "  key BYTEA, value BYTEA NOT NULL, headers TEXT, created_at BIGINT NOT NULL);"},
      // Stores created by the first release kept an index on ts that every append paid for;
      // retention finds its cut by offset order instead.
      {"bus", 2, "drop the index on record timestamps", "DROP INDEX IF EXISTS bus_records_ts;"},
  };
}

namespace {

// A string as nlohmann's dump() writes it: printable ASCII other than '"' and '\\' as it
// is, anything else (escapes, UTF-8, and the error for invalid UTF-8) by the library.
void append_json_string(std::string& out, const std::string& s) {
  bool plain = true;
  for (unsigned char ch : s)
    if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\') {
      plain = false;
      break;
    }
  if (!plain) {
    out += nlohmann::json(s).dump();
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

}  // namespace

std::string encode_headers(const headers& h) {
  if (h.empty()) return {};
  // The bytes nlohmann::json([[k, v], ...]).dump() gives, without building the tree: every
  // record appended with headers pays for this on the writer's thread (an HRI batch: each
  // record twice, into .in and into .out).
  std::string out;
  size_t n = 2;
  for (auto& [k, v] : h) n += k.size() + v.size() + 8;
  out.reserve(n);
  out += '[';
  bool first = true;
  for (auto& [k, v] : h) {
    if (!first) out += ',';
    first = false;
    out += '[';
    append_json_string(out, k);
    out += ',';
    append_json_string(out, v);
    out += ']';
  }
  out += ']';
  return out;
}

namespace {

// Reads encode_headers' [["name","value"],...] straight into pairs, without building a JSON
// tree: every reader of a record decodes its headers (a topic with many subscribers, many
// times), and the tree was most of that cost. Anything else stops the parse.
class headers_reader : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit headers_reader(headers& out) : out_(out) {}
  bool null() override { return false; }
  bool boolean(bool) override { return false; }
  bool number_integer(number_integer_t) override { return false; }
  bool number_unsigned(number_unsigned_t) override { return false; }
  bool number_float(number_float_t, const string_t&) override { return false; }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return false; }
  bool key(string_t&) override { return false; }
  bool end_object() override { return false; }
  bool start_array(std::size_t) override {
    if (depth_ == 2) return false;
    if (++depth_ == 2) strings_ = 0;
    return true;
  }
  bool end_array() override {
    if (depth_-- == 2) {
      if (strings_ != 2) return false;
      out_.emplace_back(std::move(name_), std::move(value_));
    }
    return true;
  }
  bool string(string_t& s) override {
    if (depth_ != 2 || strings_ == 2) return false;
    (strings_++ == 0 ? name_ : value_) = std::move(s);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) override {
    return false;
  }

 private:
  headers& out_;
  int depth_ = 0;
  int strings_ = 0;
  std::string name_, value_;
};

// The pairs of a document simdjson read; false unless it is [[string, string], ...].
bool read_pairs(simdjson::dom::element doc, headers& out) {
  simdjson::dom::array pairs;
  if (doc.get_array().get(pairs) != simdjson::SUCCESS) return false;
  for (auto pair : pairs) {
    simdjson::dom::array two;
    if (pair.get_array().get(two) != simdjson::SUCCESS || two.size() != 2) return false;
    std::string_view name, value;
    if (two.at(0).get_string().get(name) != simdjson::SUCCESS ||
        two.at(1).get_string().get(value) != simdjson::SUCCESS)
      return false;
    out.emplace_back(std::string(name), std::string(value));
  }
  return true;
}

// Headers of up to this size take simdjson's fast path (core/json_fast); records' headers are
// short, and a reader's thread keeps buffers for the longest it read.
constexpr size_t fast_headers_max_bytes = 4096;

}  // namespace

headers decode_headers(std::string_view text) {
  headers h;
  if (text.empty()) return h;
  // simdjson first; whatever it does not take as [[name, value], ...] is decided by the
  // reader below, so what is refused, and the error, are as without the fast path.
  if (auto doc = json_fast::parse(text, fast_headers_max_bytes)) {
    if (read_pairs(*doc, h)) return h;
    h.clear();
  }
  headers_reader reader(h);
  if (!nlohmann::json::sax_parse(text, &reader))
    throw std::runtime_error("bus: record headers are not [[name, value], ...]: " +
                             std::string(text.substr(0, 200)));
  return h;
}

class embedded_log::handle : public log::watch_handle {
 public:
  handle(embedded_log* l, std::string t, int32_t p, uint64_t id)
      : l_(l), t_(std::move(t)), p_(p), id_(id) {}
  ~handle() override { l_->unwatch(t_, p_, id_); }

 private:
  embedded_log* l_;
  std::string t_;
  int32_t p_;
  uint64_t id_;
};

embedded_log::embedded_log(store::database& db) : db_(db) {
  auto r = db_.reader();
  auto q = r->prepare("SELECT id, name, partitions FROM bus_topics");
  while (q.step()) meta_[q.text(1)] = topic_meta{q.int64(0), static_cast<int32_t>(q.int64(2))};
}

embedded_log::~embedded_log() = default;

embedded_log::topic_meta embedded_log::meta(const std::string& topic) {
  std::lock_guard<std::mutex> g{meta_mutex_};
  auto it = meta_.find(topic);
  if (it == meta_.end()) throw unknown_topic(topic);
  return it->second;
}

void embedded_log::create_topic(const std::string& name, int32_t partitions) {
  if (!valid_topic_name(name)) throw std::invalid_argument("invalid topic name " + name);
  if (partitions < 1) throw std::invalid_argument("a topic needs at least one partition");
  {
    std::lock_guard<std::mutex> g{meta_mutex_};
    auto it = meta_.find(name);
    if (it != meta_.end()) {
      if (it->second.partitions != partitions) throw topic_exists(name, it->second.partitions);
      return;
    }
  }
  db_.write().run([&](store::tx& t) {
    auto sel = t.conn.prepare("SELECT id, partitions FROM bus_topics WHERE name=?");
    sel.bind_all(name);
    if (sel.step()) {
      topic_meta m{sel.int64(0), static_cast<int32_t>(sel.int64(1))};
      if (m.partitions != partitions) throw topic_exists(name, m.partitions);
      std::lock_guard<std::mutex> g{meta_mutex_};
      meta_[name] = m;
      return;
    }
    auto ins = t.conn.prepare(
        "INSERT INTO bus_topics(name, partitions, created_at) VALUES (?, ?, ?) RETURNING id");
    ins.bind_all(name, partitions, clock::now_ms());
    if (!ins.step()) throw std::runtime_error("topic " + name + " was not created");
    topic_meta m{ins.int64(0), partitions};
    ins.exec();
    t.after_commit([this, name, m] {
      std::lock_guard<std::mutex> g{meta_mutex_};
      meta_[name] = m;
    });
  });
}

void embedded_log::delete_topic(const std::string& name) {
  auto m = meta(name);
  db_.write().run([&](store::tx& t) {
    {
      std::lock_guard<std::mutex> g{next_mutex_};
      next_.next.clear();
    }
    t.conn.prepare("DELETE FROM bus_records WHERE topic_id=?").bind_all(m.id).exec();
    t.conn.prepare("DELETE FROM bus_offsets WHERE topic=?").bind_all(name).exec();
    t.conn.prepare("DELETE FROM bus_topics WHERE id=?").bind_all(m.id).exec();
    t.after_commit([this, name] {
      std::lock_guard<std::mutex> g{meta_mutex_};
      meta_.erase(name);
    });
  });
}

std::optional<int32_t> embedded_log::partitions(const std::string& topic) {
  std::lock_guard<std::mutex> g{meta_mutex_};
  auto it = meta_.find(topic);
  if (it == meta_.end()) return std::nullopt;
  return it->second.partitions;
}

std::vector<topic_info> embedded_log::topics() {
  std::lock_guard<std::mutex> g{meta_mutex_};
  std::vector<topic_info> out;
  for (auto& [n, m] : meta_) out.push_back({n, m.partitions});
  return out;
}

std::optional<position> embedded_log::append_in(store::tx& t, const message& m) {
  auto at = write_records(t, &m, 1);
  notify_after_commit(t, &m, at);
  return at.front();
}

std::vector<std::optional<position>> embedded_log::append_all_in(
    store::tx& t, const std::vector<message>& msgs) {
  auto at = write_records(t, msgs.data(), msgs.size());
  notify_after_commit(t, msgs.data(), at);
  return {at.begin(), at.end()};
}

void embedded_log::notify_after_commit(store::tx& t, const message* ms,
                                       const std::vector<position>& at) {
  if (at.empty()) return;
  std::set<std::pair<std::string, int32_t>> touched;
  for (size_t i = 0; i < at.size(); ++i)
    if (i == 0 || ms[i].topic != ms[i - 1].topic || at[i].partition != at[i - 1].partition)
      touched.emplace(ms[i].topic, at[i].partition);
  t.after_commit([this, touched = std::move(touched)] {
    for (auto& [topic, p] : touched) notify(topic, p);
  });
}

std::vector<position> embedded_log::write_records(store::tx& t, const message* ms, size_t n) {
  // Every record's topic and partition first: an unknown one writes nothing.
  struct target {
    int64_t topic_id;
    int32_t partition;
  };
  std::vector<target> targets;
  targets.reserve(n);
  topic_meta tm{};
  for (size_t i = 0; i < n; ++i) {
    const message& m = ms[i];
    if (i == 0 || m.topic != ms[i - 1].topic) tm = meta(m.topic);  // a run of one topic: once
    int32_t p = choose_partition(m, tm.partitions);
    if (p < 0 || p >= tm.partitions) throw unknown_partition(m.topic, p);
    targets.push_back({tm.id, p});
  }
  std::vector<position> out;
  out.reserve(n);
  if (n == 0) return out;
  int64_t now = clock::now_ms();  // one timestamp for the records of one call
  // The newest record of a partition is never deleted (see delete_older_than), so max+1 is
  // the next offset even after retention; inside the transaction it sees earlier units' rows.
  std::lock_guard<std::mutex> g{next_mutex_};
  if (next_.conn != &t.conn || next_.rollbacks != t.conn.rollbacks()) {
    next_.next.clear();
    next_.conn = &t.conn;
    next_.rollbacks = t.conn.rollbacks();
  }
  auto ins = t.conn.prepare(
      "INSERT INTO bus_records(topic_id, part, off, ts, key, value, headers) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  std::string h;
  for (size_t i = 0; i < n; ++i) {
    const message& m = ms[i];
    auto [topic_id, p] = targets[i];
    auto [slot, fresh] = next_.next.try_emplace({topic_id, p}, 0);
    if (fresh) {
      auto last = t.conn.prepare("SELECT max(off) FROM bus_records WHERE topic_id=? AND part=?");
      last.bind_all(topic_id, p);
      if (last.step() && !last.is_null(0)) slot->second = last.int64(0) + 1;
    }
    int64_t off = slot->second;
    // Bound without copies: the message and `h` stay as they are until the reset below. A
    // run's records often carry the same headers (an HRI batch's batchId): encoded once.
    if (i == 0 || m.hdrs != ms[i - 1].hdrs) h = encode_headers(m.hdrs);
    ins.bind(1, topic_id).bind(2, p).bind(3, off).bind(4, now);
    if (m.key) ins.bind_blob_ref(5, *m.key);
    else ins.bind(5, nullptr);
    ins.bind_blob_ref(6, m.value);
    if (h.empty()) ins.bind(7, nullptr);
    else ins.bind_text_ref(7, h);
    try {
      ins.exec();
    } catch (...) {
      next_.next.erase(slot);  // not written: ask the database again next time
      throw;
    }
    ins.reset();
    slot->second = off + 1;
    out.push_back(position{p, off});
  }
  return out;
}

std::vector<position> embedded_log::append(const std::vector<message>& msgs) {
  // Validate everything first so a bad record writes nothing.
  for (auto& m : msgs) {
    auto tm = meta(m.topic);
    if (m.partition && (*m.partition < 0 || *m.partition >= tm.partitions))
      throw unknown_partition(m.topic, *m.partition);
  }
  return db_.write().run([&](store::tx& t) {
    auto out = write_records(t, msgs.data(), msgs.size());
    notify_after_commit(t, msgs.data(), out);
    return out;
  });
}

std::vector<record> embedded_log::fetch(const std::string& topic, int32_t partition,
                                        int64_t from, size_t max, size_t max_bytes) {
  auto tm = meta(topic);
  if (partition < 0 || partition >= tm.partitions) throw unknown_partition(topic, partition);
  std::vector<record> out;
  out.reserve(std::min<size_t>(max, 512));
  auto r = db_.reader();
  auto q = r->prepare(
      "SELECT off, ts, key, value, headers FROM bus_records "
      "WHERE topic_id=? AND part=? AND off>=? ORDER BY off LIMIT ?");
  q.bind_all(tm.id, partition, from, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
  size_t bytes = 0;
  std::optional<std::string> previous_headers;  // the previous row's headers' text
  while (q.step()) {
    record rec;
    rec.topic = topic;
    rec.partition = partition;
    rec.offset = q.int64(0);
    rec.timestamp_ms = q.int64(1);
    rec.key = q.opt_text(2);
    rec.value = q.text(3);
    if (q.is_null(4)) {
      previous_headers.reset();
    } else {
      // Consecutive records often carry the same headers (an HRI batch's batchId): decoded
      // once. (Every row read before this one is in `out`: a row past the cap ends the read.)
      auto text = q.text_view(4);
      if (previous_headers && text == *previous_headers) {
        rec.hdrs = out.back().hdrs;
      } else {
        rec.hdrs = decode_headers(text);
        if (previous_headers) previous_headers->assign(text);
        else previous_headers.emplace(text);
      }
    }
    // At the cap the rows stop: one record past it is read, none is kept.
    size_t n = record_bytes(rec);
    if (!within_byte_cap(out.size(), bytes, n, max_bytes)) break;
    bytes += n;
    out.push_back(std::move(rec));
  }
  return out;
}

int64_t embedded_log::end_offset(const std::string& topic, int32_t partition) {
  auto tm = meta(topic);
  if (partition < 0 || partition >= tm.partitions) throw unknown_partition(topic, partition);
  auto r = db_.reader();
  auto q = r->prepare("SELECT max(off) FROM bus_records WHERE topic_id=? AND part=?");
  q.bind_all(tm.id, partition);
  if (q.step() && !q.is_null(0)) return q.int64(0) + 1;
  return 0;
}

void embedded_log::commit_in(store::tx& t, const std::string& group, const std::string& topic,
                             int32_t partition, int64_t next) {
  t.conn
      .prepare(
          "INSERT INTO bus_offsets(grp, topic, part, next, updated_at) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT(grp, topic, part) DO UPDATE SET next=excluded.next, "
          "updated_at=excluded.updated_at WHERE excluded.next > bus_offsets.next")
      .bind_all(group, topic, partition, next, clock::now_ms())
      .exec();
}

void embedded_log::commit(const std::string& group, const std::string& topic, int32_t partition,
                          int64_t next) {
  db_.write().run([&](store::tx& t) { commit_in(t, group, topic, partition, next); });
}

void embedded_log::commit_async(const std::string& group, const std::string& topic,
                                int32_t partition, int64_t next,
                                done_fn done) {
  db_.write().submit(
      [this, group, topic, partition, next](store::tx& t) {
        commit_in(t, group, topic, partition, next);
      },
      std::move(done));
}

std::optional<int64_t> embedded_log::committed(const std::string& group, const std::string& topic,
                                               int32_t partition) {
  auto r = db_.reader();
  auto q = r->prepare("SELECT next FROM bus_offsets WHERE grp=? AND topic=? AND part=?");
  q.bind_all(group, topic, partition);
  if (q.step()) return q.int64(0);
  return std::nullopt;
}

std::unique_ptr<log::watch_handle> embedded_log::watch(const std::string& topic,
                                                       int32_t partition,
                                                       std::function<void()> wake) {
  std::lock_guard<std::mutex> g{watch_mutex_};
  uint64_t id = next_watch_id_++;
  watchers_[{topic, partition}].push_back({id, std::move(wake)});
  return std::make_unique<handle>(this, topic, partition, id);
}

void embedded_log::unwatch(const std::string& topic, int32_t partition, uint64_t id) {
  std::lock_guard<std::mutex> g{watch_mutex_};
  auto it = watchers_.find({topic, partition});
  if (it == watchers_.end()) return;
  auto& v = it->second;
  for (auto w = v.begin(); w != v.end(); ++w)
    if (w->id == id) {
      v.erase(w);
      break;
    }
  if (v.empty()) watchers_.erase(it);
}

void embedded_log::notify(const std::string& topic, int32_t partition) {
  std::vector<std::function<void()>> calls;
  {
    std::lock_guard<std::mutex> g{watch_mutex_};
    auto it = watchers_.find({topic, partition});
    if (it == watchers_.end()) return;
    for (auto& w : it->second) calls.push_back(w.wake);
  }
  for (auto& c : calls) c();
}

std::string embedded_log::check() { return db_.healthy() ? "" : "database not readable"; }

std::string embedded_log::verify() {
  std::vector<std::string> problems;
  auto r = db_.reader();
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  {
    std::lock_guard<std::mutex> g{meta_mutex_};
    for (auto& [name, m] : meta_) by_id[m.id] = {name, m.partitions};
  }
  // Distinct topic ids of the records, one seek each.
  int64_t after = INT64_MIN;
  for (;;) {
    auto q = r->prepare(
        "SELECT topic_id FROM bus_records WHERE topic_id>? ORDER BY topic_id LIMIT 1");
    q.bind_all(after);
    if (!q.step()) break;
    after = q.int64(0);
    auto it = by_id.find(after);
    if (it == by_id.end()) {
      problems.push_back("records of topic id " + std::to_string(after) + ", which is no topic");
      continue;
    }
    auto hi = r->prepare(
        "SELECT part FROM bus_records WHERE topic_id=? ORDER BY part DESC LIMIT 1");
    hi.bind_all(after);
    auto lo = r->prepare("SELECT part FROM bus_records WHERE topic_id=? ORDER BY part LIMIT 1");
    lo.bind_all(after);
    if ((hi.step() && hi.int64(0) >= it->second.second) || (lo.step() && lo.int64(0) < 0))
      problems.push_back("topic " + it->second.first + " has records outside its " +
                         std::to_string(it->second.second) + " partitions");
  }
  // Committed offsets against the partition ends (only topics of this log: Kafka's offsets
  // live in the same table and their records elsewhere).
  std::map<std::string, int32_t> parts;
  for (auto& [id, tp] : by_id) parts[tp.first] = tp.second;
  std::vector<std::tuple<std::string, std::string, int32_t, int64_t>> offsets;
  {
    auto q = r->prepare("SELECT grp, topic, part, next FROM bus_offsets");
    while (q.step())
      offsets.emplace_back(q.text(0), q.text(1), static_cast<int32_t>(q.int64(2)), q.int64(3));
  }
  for (auto& [grp, topic, part, next] : offsets) {
    auto it = parts.find(topic);
    if (it == parts.end() || part < 0 || part >= it->second) continue;
    auto end = end_offset(topic, part);
    if (next > end)
      problems.push_back("consumer group " + grp + " committed offset " + std::to_string(next) +
                         " of " + topic + "/" + std::to_string(part) + ", but the partition ends at " +
                         std::to_string(end) + " (records are missing)");
  }
  std::string out;
  for (size_t i = 0; i < problems.size() && i < 10; ++i) out += (i ? "; " : "") + problems[i];
  if (problems.size() > 10) out += "; and " + std::to_string(problems.size() - 10) + " more";
  return out;
}

int64_t embedded_log::delete_older_than(int64_t cutoff_ms) {
  // Timestamps grow with offsets within a partition, so the old records are a prefix of it:
  // find where the kept part starts (scanning only what goes) and cut before it. No index on
  // the timestamp is needed, which spares every append one index update.
  std::vector<topic_meta> all;
  {
    std::lock_guard<std::mutex> g{meta_mutex_};
    for (auto& [n, m] : meta_) all.push_back(m);
  }
  int64_t deleted = 0;
  for (auto& m : all)
    for (int32_t p = 0; p < m.partitions; ++p)
      deleted += db_.write().run([&](store::tx& t) -> int64_t {
        int64_t keep_from = -1;
        {
          auto q = t.conn.prepare(
              "SELECT off FROM bus_records WHERE topic_id=? AND part=? AND ts>=? ORDER BY off "
              "LIMIT 1");
          q.bind_all(m.id, p, cutoff_ms);
          if (q.step()) keep_from = q.int64(0);
        }
        if (keep_from < 0) {
          // Everything is old; the newest record stays so that offsets never repeat.
          auto q = t.conn.prepare("SELECT max(off) FROM bus_records WHERE topic_id=? AND part=?");
          q.bind_all(m.id, p);
          if (!q.step() || q.is_null(0)) return 0;
          keep_from = q.int64(0);
        }
        return t.conn.prepare("DELETE FROM bus_records WHERE topic_id=? AND part=? AND off<?")
            .bind_all(m.id, p, keep_from)
            .exec();
      });
  return deleted;
}

}  // namespace medflow::bus
