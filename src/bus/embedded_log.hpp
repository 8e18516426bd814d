// The embedded bus backend: topics, records and consumer offsets in SQLite tables of the
// daemon's own database. Needs no server; durable across restarts. Appends go through the
// group-commit writer, so a record and the domain rows written with it commit together.
#pragma once

#include "bus/log.hpp"
#include "store/database.hpp"

#include <map>
#include <mutex>

namespace medflow::bus {

class embedded_log : public log {
 public:
  explicit embedded_log(store::database& db);
  ~embedded_log() override;

  static std::vector<store::migration> migrations();

  const char* backend() const override { return "embedded"; }
  void create_topic(const std::string& name, int32_t partitions) override;
  void delete_topic(const std::string& name) override;
  std::optional<int32_t> partitions(const std::string& topic) override;
  std::vector<topic_info> topics() override;
  std::vector<position> append(const std::vector<message>& msgs) override;
  std::optional<position> append_in(store::tx& t, const message& m) override;
  std::vector<std::optional<position>> append_all_in(store::tx& t,
                                                     const std::vector<message>& msgs) override;
  std::vector<record> fetch(const std::string& topic, int32_t partition, int64_t from,
                            size_t max, size_t max_bytes = no_byte_cap) override;
  int64_t end_offset(const std::string& topic, int32_t partition) override;
  void commit(const std::string& group, const std::string& topic, int32_t partition,
              int64_t next) override;
  void commit_async(const std::string& group, const std::string& topic, int32_t partition,
                    int64_t next, done_fn done) override;
  std::optional<int64_t> committed(const std::string& group, const std::string& topic,
                                   int32_t partition) override;
  std::unique_ptr<watch_handle> watch(const std::string& topic, int32_t partition,
                                      std::function<void()> wake) override;
  std::string check() override;

  // The log's own consistency, checked at start (cheap: index seeks per topic and partition):
  // no record of an unknown topic or outside its topic's partitions, and no consumer offset
  // past the end of its partition (records it had read are gone). "" when consistent, else
  // the problems found.
  std::string verify();
  // Deletes records older than `cutoff_ms`; returns how many.
  int64_t delete_older_than(int64_t cutoff_ms);
  // Commits inside an open store transaction (writer thread).
  void commit_in(store::tx& t, const std::string& group, const std::string& topic,
                 int32_t partition, int64_t next);

 private:
  struct topic_meta {
    int64_t id;
    int32_t partitions;
  };
  struct watcher {
    uint64_t id;
    std::function<void()> wake;
  };
  class handle;

  topic_meta meta(const std::string& topic);
  // Writes n records in order in the transaction; their positions.
  std::vector<position> write_records(store::tx& t, const message* ms, size_t n);
  // After the commit, the readers of every partition written are woken.
  void notify_after_commit(store::tx& t, const message* ms, const std::vector<position>& at);
  void notify(const std::string& topic, int32_t partition);
  void unwatch(const std::string& topic, int32_t partition, uint64_t id);

  store::database& db_;
  std::mutex meta_mutex_;
  std::map<std::string, topic_meta> meta_;
  std::mutex watch_mutex_;
  std::map<std::pair<std::string, int32_t>, std::vector<watcher>> watchers_;
  uint64_t next_watch_id_ = 1;
  // The next offset of each partition written through `next_.conn`, so an append does not ask
  // SQLite for max(off) each time: filled from the database on first use, advanced by each
  // write, dropped whole when that connection rolls anything back (a unit's savepoint, a
  // nested savepoint, a failed transaction: `connection::rollbacks` moved) or a topic is
  // deleted (its id may come back). Only appends write bus_records rows that can be the newest.
  struct next_offsets {
    const store::connection* conn = nullptr;
    uint64_t rollbacks = 0;
    std::map<std::pair<int64_t, int32_t>, int64_t> next;
  };
  std::mutex next_mutex_;
  next_offsets next_;
};

// Headers as stored and sent over HTTP: a JSON array of [name, value] pairs keeps order and
// repeated names.
std::string encode_headers(const headers& h);
headers decode_headers(std::string_view text);

}  // namespace medflow::bus
