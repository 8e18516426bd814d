// Consumer groups' offsets: one consumer per group, used only to commit and read committed
// offsets. As in the embedded backend, commits never move a group backwards; commit_async()
// runs them in order on a worker thread.
#include "bus/kafka_log_impl.hpp"

#include "core/log.hpp"

namespace medflow::bus {

using namespace kafka;

kafka_log::impl::group_client& kafka_log::impl::group(const std::string& name) {
  std::lock_guard<std::mutex> g{groups_mutex};
  auto& slot = groups[name];
  if (slot) return *slot;
  client_config c{opts};
  c.set("group.id", name);
  auto client = std::make_unique<group_client>();
  client->rk = new_consumer(c);
  slot = std::move(client);
  return *slot;
}

std::optional<int64_t> kafka_log::impl::fetch_committed(group_client& g,
                                                        const std::string& group_name,
                                                        const std::string& topic,
                                                        int32_t partition) {
  auto l = one_partition(topic, partition, RD_KAFKA_OFFSET_INVALID);
  rd_kafka_resp_err_t err = rd_kafka_committed(g.rk, l.get(), opts.timeout_ms);
  if (!err) err = l->elems[0].err;
  if (err)
    throw std::runtime_error("cannot read the committed offset of group " + group_name + " for " +
                             topic + "[" + std::to_string(partition) + "]: " + err_text(err));
  int64_t off = l->elems[0].offset;
  if (off < 0) return std::nullopt;  // RD_KAFKA_OFFSET_INVALID: never committed
  g.committed[{topic, partition}] = off;
  return off;
}

std::optional<int64_t> kafka_log::impl::committed(const std::string& group_name,
                                                  const std::string& topic, int32_t partition) {
  auto& g = group(group_name);
  std::lock_guard<std::mutex> lk{g.mutex};
  return fetch_committed(g, group_name, topic, partition);
}

void kafka_log::impl::commit(const std::string& group_name, const std::string& topic,
                             int32_t partition, int64_t next, bool wait) {
  auto& g = group(group_name);
  std::lock_guard<std::mutex> lk{g.mutex};
  topic_partition tp{topic, partition};
  auto known = g.committed.find(tp);
  std::optional<int64_t> current = known != g.committed.end()
                                       ? std::optional<int64_t>(known->second)
                                       : fetch_committed(g, group_name, topic, partition);
  if (current && next <= *current) return;  // never move a group backwards

  auto l = one_partition(topic, partition, next);
  queue_ptr q{rd_kafka_queue_new(g.rk)};
  // Through a queue rather than rd_kafka_commit(): a synchronous commit waits without a
  // limit while the group coordinator is unknown. A group with members takes commits only
  // from a member (of the current generation): ours, when we joined it for this topic.
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string where = "group " + group_name + " at " + topic + "[" + std::to_string(partition) +
                      "]=" + std::to_string(next);
  auto m = member_of(group_name, topic);
  // A member commits only what it owns: a commit of a partition it gave up (or lost) would go
  // out with its generation of the moment, at best refused, at worst crossing an election.
  if (m && !m->owns(partition))
    throw std::runtime_error("cannot commit " + where + ": not assigned to this instance");
  if (!m || !commit_as_member(*m, l.get(), q.get(), err, wait))
    err = rd_kafka_commit_queue(g.rk, l.get(), q.get(), nullptr, nullptr);
  if (err) throw std::runtime_error("cannot commit " + where + ": " + err_text(err));
  event_ptr ev{rd_kafka_queue_poll(q.get(), opts.timeout_ms)};
  if (!ev) throw std::runtime_error("timed out committing " + where);
  err = rd_kafka_event_error(ev.get());
  if (!err)
    if (auto* res = rd_kafka_event_topic_partition_list(ev.get()))
      for (int i = 0; i < res->cnt && !err; ++i) err = res->elems[i].err;
  // The group is rebalancing (or has moved on to a generation this member has not joined
  // yet): hold the member's next commits until its rebalance callback.
  if (m && (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
            err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION))
    m->set_rebalancing(true);
  if (err) throw std::runtime_error("cannot commit " + where + ": " + err_text(err));
  g.committed[tp] = next;
}

void kafka_log::impl::commit_loop() {
  // A commit whose group is rebalancing is held back (see commit_as_member) while the others
  // go, for at most this long.
  const auto hold =
      std::chrono::milliseconds(std::max(opts.timeout_ms, 2 * opts.session_timeout_ms));
  std::unique_lock<std::mutex> lk{commit_mutex};
  for (;;) {
    commit_cv.wait(lk, [this] { return commit_stopping || !commit_queue.empty(); });
    if (commit_queue.empty()) return;  // stopping, and everything queued is done
    auto now = std::chrono::steady_clock::now();
    auto it = commit_queue.begin();
    bool expired = false;
    for (; it != commit_queue.end() && !commit_stopping; ++it) {
      auto m = member_of(it->group, it->topic);
      if (!m || m->steady()) break;
      if (it->hold_until == std::chrono::steady_clock::time_point{}) it->hold_until = now + hold;
      if ((expired = now >= it->hold_until)) break;
    }
    if (it == commit_queue.end()) {  // all held: look again soon (a rebalance callback ends it)
      commit_cv.wait_for(lk, std::chrono::milliseconds(20));
      continue;
    }
    commit_task t = std::move(*it);
    commit_queue.erase(it);
    lk.unlock();
    std::exception_ptr result;
    try {
      // Never sent while the group rebalances (it could cross the election): the caller's next
      // commit covers it.
      if (expired)
        throw std::runtime_error("cannot commit group " + t.group + " at " + t.topic + "[" +
                                 std::to_string(t.partition) + "]=" + std::to_string(t.next) +
                                 ": the group is still rebalancing after " +
                                 std::to_string(hold.count()) + " ms");
      commit(t.group, t.topic, t.partition, t.next, false);
    } catch (...) {
      result = std::current_exception();
    }
    try {
      if (t.done) t.done(result);
    } catch (const std::exception& e) {
      medflow::log::error(component, "a commit callback threw: ", e.what());
    } catch (...) {
      medflow::log::error(component, "a commit callback threw");
    }
    lk.lock();
  }
}

void kafka_log::impl::stop_commit_worker() {
  {
    std::lock_guard<std::mutex> g{commit_mutex};
    commit_stopping = true;
  }
  commit_cv.notify_one();
  if (commit_thread.joinable()) commit_thread.join();
}

// -- membership ---------------------------------------------------------------------------------

namespace {

std::vector<int32_t> partitions_of(const rd_kafka_topic_partition_list_t* parts,
                                   const std::string& topic) {
  std::vector<int32_t> out;
  for (int i = 0; i < parts->cnt; ++i)
    if (topic == parts->elems[i].topic) out.push_back(parts->elems[i].partition);
  return out;
}

std::string describe(const std::vector<int32_t>& ps) {
  std::string s;
  for (auto p : ps) s += (s.empty() ? "" : ",") + std::to_string(p);
  return "[" + s + "]";
}

bool cooperative(rd_kafka_t* rk) {
  const char* p = rd_kafka_rebalance_protocol(rk);  // NULL once the member left the group
  return p && std::string(p) == "COOPERATIVE";
}

void log_error(rd_kafka_error_t* e, const std::string& what) {
  if (!e) return;
  error_ptr owned{e};
  medflow::log::error(component, what, ": ", rd_kafka_error_string(e));
}

}  // namespace

void kafka_log::impl::member::set_rebalancing(bool on) {
  {
    std::lock_guard<std::mutex> g{steady_mutex};
    if (on && !rebalancing) rebalancing_since = std::chrono::steady_clock::now();
    rebalancing = on;
  }
  if (!on) steady_cv.notify_all();
}

void kafka_log::impl::member::set_revoking(bool on) {
  {
    std::lock_guard<std::mutex> g{steady_mutex};
    revoking = on;
  }
  if (on) steady_cv.notify_all();
}

bool kafka_log::impl::member::owns(int32_t partition) {
  std::lock_guard<std::mutex> g{steady_mutex};
  return owned.count(partition) > 0;
}

bool kafka_log::impl::member::steady() {
  std::lock_guard<std::mutex> g{steady_mutex};
  return !rebalancing || revoking || stopping ||
         std::chrono::steady_clock::now() - rebalancing_since > std::chrono::milliseconds(stuck_ms);
}

bool kafka_log::impl::member::wait_steady(int timeout_ms) {
  std::unique_lock<std::mutex> g{steady_mutex};
  return steady_cv.wait_for(g, std::chrono::milliseconds(timeout_ms),
                            [this] { return !rebalancing || revoking || stopping; });
}

void kafka_log::impl::member::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* m = static_cast<member*>(opaque);
  // A rebalance callback runs in a generation the member belongs to: commits are valid again
  // (the revocation's own last commits included), unless the member rejoins right after it.
  switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: {
      bool rejoin;
      {
        std::lock_guard<std::mutex> g{m->steady_mutex};
        rejoin = std::exchange(m->assign_then_rejoin, false);
      }
      m->set_rebalancing(rejoin);
      m->assigned_once = true;
      m->assign(parts);
      break;
    }
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
      m->set_rebalancing(false);
      m->revoke(parts);
      break;
    default:
      medflow::log::error(component, "group ", m->group, " rebalance failed: ", err_text(err));
      if (cooperative(rk))
        log_error(rd_kafka_incremental_unassign(rk, parts), "unassign");
      else
        rd_kafka_assign(rk, nullptr);
  }
}

void kafka_log::impl::member::assign(rd_kafka_topic_partition_list_t* parts) {
  if (cooperative(rk)) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
      log_error(e, "group " + group + ": incremental assign");
      return;
    }
  } else if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts)) {
    medflow::log::error(component, "group ", group, ": assign: ", err_text(e));
    return;
  }
  // The member never reads: the reader consumers do (fetch()).
  rd_kafka_pause_partitions(rk, parts);
  auto ps = partitions_of(parts, topic);
  {
    std::lock_guard<std::mutex> g{steady_mutex};
    owned.insert(ps.begin(), ps.end());
  }
  medflow::log::info(component, "group ", group, ": ", topic, describe(ps), " assigned");
  if (!ps.empty() && listener.assigned) listener.assigned(ps);
}

void kafka_log::impl::member::revoke(rd_kafka_topic_partition_list_t* parts) {
  set_revoking(true);
  auto ps = partitions_of(parts, topic);
  bool lost = rd_kafka_assignment_lost(rk);
  bool coop = cooperative(rk);
  medflow::log::info(component, "group ", group, ": ", topic, describe(ps),
                     lost ? " lost" : " revoked", ", releasing");
  if (!ps.empty() && listener.revoked) {
    // The listener's last copy of `released` may be dropped uncalled (an actor gone): that
    // counts as released, so the wait below never outlives the listener's side.
    struct signal {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
      void set() {
        std::lock_guard<std::mutex> g{m};
        done = true;
        cv.notify_all();
      }
    };
    auto sig = std::make_shared<signal>();
    struct release_once {
      std::shared_ptr<signal> sig;
      ~release_once() { sig->set(); }
    };
    std::shared_ptr<release_once> token{new release_once{sig}};
    listener.revoked(ps, [token]() mutable { token->sig->set(); });
    token.reset();
    std::unique_lock<std::mutex> g{sig->m};
    if (!sig->cv.wait_for(g, std::chrono::milliseconds(release_timeout_ms),
                          [&] { return sig->done; }))
      medflow::log::error(component, "group ", group, ": ", topic, describe(ps),
                          " not released within ", release_timeout_ms,
                          " ms; handing them over anyway");
  }
  if (coop)
    log_error(rd_kafka_incremental_unassign(rk, parts), "unassign");
  else
    rd_kafka_assign(rk, nullptr);
  {
    std::lock_guard<std::mutex> g{steady_mutex};
    if (coop)
      for (auto p : ps) owned.erase(p);
    else
      owned.clear();
    // A cooperative revocation of a rebalance is followed by that rebalance's assignment
    // callback, then a rejoin (librdkafka: "rejoining group to redistribute previously owned
    // partitions"); after a loss the next assignment callback ends the rebalance.
    assign_then_rejoin = coop && !lost;
  }
  // A cooperative member rejoins after giving partitions up (and after losing them): a new
  // generation is being formed until its next rebalance callback.
  set_rebalancing(true);
  set_revoking(false);
}

void kafka_log::impl::member::poll_loop() {
  while (!stopping)
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100)) {
      message_ptr owned{m};
      if (m->err) medflow::log::warn(component, "group ", group, ": ", rd_kafka_message_errstr(m));
    }
}

void kafka_log::impl::member::close() {
  std::lock_guard<std::mutex> once{close_mutex};
  if (closed || !rk) return;
  stopping = true;
  if (thread.joinable()) thread.join();
  // Runs the revocation of what is still assigned (the rebalance callback, on this thread),
  // then leaves the group. Commits may still go through `rk` meanwhile.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
  if (err) medflow::log::warn(component, "group ", group, ": leaving: ", err_text(err));
  std::lock_guard<std::shared_mutex> g{life};
  closed = true;
  if (!assigned_once && rd_kafka_version() < 0x020300ff) {
    // librdkafka before 2.3.0 aborts the process when a cooperative-sticky member that never
    // got its first assignment is destroyed (rd_kafka_sticky_assignor_state_destroy asserts
    // on the state it has not created yet: confluentinc/librdkafka#4312, fixed in 2.3.0;
    // Debian 12 ships 2.0.2). Such a member owns nothing and has left the group above; its
    // handle is kept, reachable, until the process exits instead.
    static std::mutex kept_mutex;
    static std::vector<rd_kafka_t*>* kept = new std::vector<rd_kafka_t*>();
    std::lock_guard<std::mutex> k{kept_mutex};
    kept->push_back(rk);
    medflow::log::info(component, "group ", group, ": left before its first assignment; its "
                       "client is released at exit (librdkafka #4312)");
  } else {
    rd_kafka_destroy(rk);
  }
  rk = nullptr;
}

std::shared_ptr<kafka_log::impl::member> kafka_log::impl::join(const std::string& group,
                                                               const std::string& topic,
                                                               group_listener listener) {
  require_topic(topic);
  auto m = std::make_shared<member>();
  m->group = group;
  m->topic = topic;
  m->listener = std::move(listener);
  m->release_timeout_ms = opts.release_timeout_ms;
  m->stuck_ms = std::max(opts.timeout_ms, 2 * opts.session_timeout_ms);
  client_config c{opts};
  c.set("group.id", group)
      .set("partition.assignment.strategy", "cooperative-sticky")
      .set("session.timeout.ms", std::to_string(opts.session_timeout_ms))
      .set("heartbeat.interval.ms", std::to_string(std::max(100, opts.session_timeout_ms / 3)))
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("enable.partition.eof", "false");
  rd_kafka_conf_set_rebalance_cb(c.get(), &member::on_rebalance);
  rd_kafka_conf_set_opaque(c.get(), m.get());
  m->rk = c.create(RD_KAFKA_CONSUMER);
  rd_kafka_poll_set_consumer(m->rk);
  partition_list l{rd_kafka_topic_partition_list_new(1)};
  rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk, l.get())) {
    rd_kafka_destroy(m->rk);
    m->rk = nullptr;
    throw std::runtime_error("cannot join group " + group + " for " + topic + ": " + err_text(err));
  }
  {
    std::lock_guard<std::mutex> g{members_mutex};
    auto& slot = members[{group, topic}];
    if (slot) {
      rd_kafka_consumer_close(m->rk);
      rd_kafka_destroy(m->rk);
      m->rk = nullptr;
      throw std::logic_error("group " + group + " already joined for " + topic);
    }
    slot = m;
  }
  auto* raw = m.get();
  m->thread = std::thread([raw] { raw->poll_loop(); });
  medflow::log::info(component, "joined group ", group, " for ", topic);
  return m;
}

std::shared_ptr<kafka_log::impl::member> kafka_log::impl::member_of(const std::string& group,
                                                                    const std::string& topic) {
  std::lock_guard<std::mutex> g{members_mutex};
  auto it = members.find({group, topic});
  return it == members.end() ? nullptr : it->second;
}

bool kafka_log::impl::commit_as_member(member& m, rd_kafka_topic_partition_list_t* offsets,
                                       rd_kafka_queue_t* q, rd_kafka_resp_err_t& err, bool wait) {
  // librdkafka sends a commit at once, in any join state, with the generation the member has
  // then. Sent while the member's JoinGroup is pending, it reaches the coordinator behind it,
  // after the election, and is answered ILLEGAL_GENERATION; librdkafka then takes the member's
  // whole assignment for lost and rejoins (rdkafka_cgrp.c, OffsetCommit's error handling),
  // which starts the rebalance over. With every partition consumer committing as it works,
  // some commit always crossed an election: the group never settled (issue 18's three-node
  // test). So a member's commits wait while its group rebalances.
  if (wait && !m.wait_steady(opts.timeout_ms))
    throw std::runtime_error("cannot commit group " + m.group + ": still rebalancing after " +
                             std::to_string(opts.timeout_ms) + " ms");
  std::shared_lock<std::shared_mutex> g{m.life};
  if (m.closed) return false;
  err = rd_kafka_commit_queue(m.rk, offsets, q, nullptr, nullptr);
  return true;
}

// -- kafka_log: consumer groups --------------------------------------------------------------

void kafka_log::commit(const std::string& group, const std::string& topic, int32_t partition,
                       int64_t next) {
  auto g = impl_->enter();
  impl_->commit(group, topic, partition, next);
}

void kafka_log::commit_async(const std::string& group, const std::string& topic, int32_t partition,
                             int64_t next, done_fn done) {
  auto g = impl_->enter();
  {
    std::lock_guard<std::mutex> lk{impl_->commit_mutex};
    if (impl_->commit_stopping) throw closed_error();
    impl_->commit_queue.push_back({group, topic, partition, next, std::move(done)});
  }
  impl_->commit_cv.notify_one();
}

std::optional<int64_t> kafka_log::committed(const std::string& group, const std::string& topic,
                                            int32_t partition) {
  auto g = impl_->enter();
  return impl_->committed(group, topic, partition);
}

namespace {

// Leaves the group when the owner lets go (the log may have closed it already).
class kafka_membership : public log::membership {
 public:
  explicit kafka_membership(std::function<void()> leave) : leave_(std::move(leave)) {}
  ~kafka_membership() override { leave_(); }

 private:
  std::function<void()> leave_;
};

}  // namespace

std::unique_ptr<log::membership> kafka_log::join(const std::string& group,
                                                 const std::string& topic,
                                                 group_listener listener) {
  auto g = impl_->enter();
  auto m = impl_->join(group, topic, std::move(listener));
  // The handle may outlive the log (flows are destroyed after the bus): it touches the log's
  // list of members only while the log is open.
  auto* i = impl_.get();
  auto alive = impl_->alive;
  return std::make_unique<kafka_membership>([m, i, alive] {
    m->close();
    std::lock_guard<std::mutex> lk{alive->mutex};
    if (!alive->yes) return;
    std::lock_guard<std::mutex> g{i->members_mutex};
    auto it = i->members.find({m->group, m->topic});
    if (it != i->members.end() && it->second == m) i->members.erase(it);
  });
}

}  // namespace medflow::bus
