// An in-memory bus::log for actor tests: everything happens synchronously on the calling
// thread, so it works under CAF's deterministic scheduler. It is also used from several
// threads at once (a real actor system, the store's writer thread appending after commit), so
// every member is guarded by one mutex; wakers run outside it. (Both real backends are tested
// against the same behaviour in tests/bus/.)
#pragma once

#include "bus/log.hpp"
#include "store/writer.hpp"
#include "core/murmur2.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

namespace medflow::test {

class memory_log : public bus::log {
 public:
  const char* backend() const override { return "memory"; }
  void create_topic(const std::string& name, int32_t partitions) override {
    std::lock_guard<std::mutex> g{mu_};
    parts_[name].resize(static_cast<size_t>(partitions));
  }
  void delete_topic(const std::string& name) override {
    std::lock_guard<std::mutex> g{mu_};
    parts_.erase(name);
  }
  std::optional<int32_t> partitions(const std::string& t) override {
    std::lock_guard<std::mutex> g{mu_};
    auto it = parts_.find(t);
    if (it == parts_.end()) return std::nullopt;
    return static_cast<int32_t>(it->second.size());
  }
  std::vector<bus::topic_info> topics() override {
    std::lock_guard<std::mutex> g{mu_};
    std::vector<bus::topic_info> out;
    for (auto& [n, p] : parts_) out.push_back({n, static_cast<int32_t>(p.size())});
    return out;
  }
  std::vector<bus::position> append(const std::vector<bus::message>& msgs) override {
    std::vector<bus::position> out;
    std::vector<std::function<void()>> wake;
    std::unique_lock<std::mutex> g{mu_};
    for (auto& m : msgs) {
      auto& ps = parts(m.topic);
      int32_t p = choose_partition(m, static_cast<int32_t>(ps.size()));
      bus::record r;
      r.topic = m.topic;
      r.partition = p;
      r.offset = static_cast<int64_t>(ps[static_cast<size_t>(p)].size());
      r.key = m.key;
      r.value = m.value;
      r.hdrs = m.hdrs;
      ps[static_cast<size_t>(p)].push_back(r);
      out.push_back({p, r.offset});
      for (auto& [id, w] : watchers_)
        if (w.topic == m.topic && w.partition == p) wake.push_back(w.wake);
    }
    g.unlock();
    for (auto& w : wake) w();
    return out;
  }
  // Appended once the store transaction commits (as the Kafka log's outbox is relayed), so
  // a unit rolled back publishes nothing; the position is not known yet, as with Kafka.
  std::optional<bus::position> append_in(store::tx& t, const bus::message& m) override {
    {
      std::lock_guard<std::mutex> g{mu_};
      parts(m.topic);  // an unknown topic fails the unit now
    }
    t.after_commit([this, m] { append({m}); });
    return std::nullopt;
  }
  std::vector<bus::record> fetch(const std::string& topic, int32_t partition, int64_t from,
                                 size_t max, size_t max_bytes = bus::no_byte_cap) override {
    std::lock_guard<std::mutex> g{mu_};
    ++fetches;
    if (fail_fetch) throw std::runtime_error("bus down");
    auto& p = parts(topic).at(static_cast<size_t>(partition));
    std::vector<bus::record> out;
    size_t bytes = 0;
    for (auto i = static_cast<size_t>(from); i < p.size() && out.size() < max; ++i) {
      size_t n = bus::record_bytes(p[i]);
      if (!bus::within_byte_cap(out.size(), bytes, n, max_bytes)) break;
      bytes += n;
      out.push_back(p[i]);
    }
    return out;
  }
  int64_t end_offset(const std::string& topic, int32_t partition) override {
    std::lock_guard<std::mutex> g{mu_};
    return static_cast<int64_t>(parts(topic).at(static_cast<size_t>(partition)).size());
  }
  void commit(const std::string& g, const std::string& t, int32_t p, int64_t next) override {
    std::lock_guard<std::mutex> lock{mu_};
    auto& c = commits_[{g, t, p}];
    c = std::max(c, next);
    commit_log.push_back(next);
  }
  void commit_async(const std::string& g, const std::string& t, int32_t p, int64_t next,
                    std::function<void(std::exception_ptr)> done) override {
    commit(g, t, p, next);
    done(nullptr);
  }
  std::optional<int64_t> committed(const std::string& g, const std::string& t,
                                   int32_t p) override {
    std::lock_guard<std::mutex> lock{mu_};
    auto it = commits_.find({g, t, p});
    if (it == commits_.end()) return std::nullopt;
    return it->second;
  }
  class handle : public watch_handle {
   public:
    handle(memory_log* l, int id) : l_(l), id_(id) {}
    ~handle() override {
      std::lock_guard<std::mutex> g{l_->mu_};
      l_->watchers_.erase(id_);
    }

   private:
    memory_log* l_;
    int id_;
  };
  std::unique_ptr<watch_handle> watch(const std::string& topic, int32_t partition,
                                      std::function<void()> wake) override {
    std::lock_guard<std::mutex> g{mu_};
    int id = next_id_++;
    watchers_[id] = {topic, partition, std::move(wake)};
    return std::make_unique<handle>(this, id);
  }
  std::string check() override { return ""; }

  std::vector<int64_t> commit_log;
  size_t fetches = 0;
  bool fail_fetch = false;

 private:
  std::vector<std::vector<bus::record>>& parts(const std::string& t) {
    auto it = parts_.find(t);
    if (it == parts_.end()) throw bus::unknown_topic(t);
    return it->second;
  }
  struct watcher {
    std::string topic;
    int32_t partition;
    std::function<void()> wake;
  };
  std::map<std::string, std::vector<std::vector<bus::record>>> parts_;
  std::map<std::tuple<std::string, std::string, int32_t>, int64_t> commits_;
  std::map<int, watcher> watchers_;
  std::mutex mu_;
  int next_id_ = 1;
};

}  // namespace medflow::test
