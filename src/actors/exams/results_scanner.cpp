#include "actors/exams/results_scanner.hpp"

#include "actors/exams/result_worker.hpp"
#include "core/log.hpp"

namespace medflow::actors {

inbox_watch::inbox_watch(std::shared_ptr<exams::inbox> in, caf::actor scanner)
    : inbox_(std::move(in)) {
  thread_ = std::thread([this, scanner] {
    while (!stop_.load()) {
      auto why = inbox_->wait_for_files(std::chrono::hours(1));
      if (stop_.load()) break;
      if (why != exams::wake_reason::timed_out) caf::anon_send(scanner, wake_atom::value);
    }
  });
}

inbox_watch::~inbox_watch() {
  stop_.store(true);
  inbox_->wake();
  thread_.join();
}

results_scanner_state::~results_scanner_state() = default;

namespace {

using self_ptr = caf::stateful_actor<results_scanner_state>*;

const char* folder_label(exams::folder f) {
  switch (f) {
    case exams::folder::completed: return "completed";
    case exams::folder::processed: return "processed";
    case exams::folder::stuck: return "stuck";
    case exams::folder::denied: return "denied";
    case exams::folder::deleted: break;
  }
  return "deleted";
}

void finish_drain(self_ptr self) {
  auto& st = self->state;
  if (st.idle.size() < st.workers.size()) return;  // files still in a worker's hands
  for (auto& w : st.workers) self->send_exit(w, caf::exit_reason::user_shutdown);
  st.workers.clear();
  if (st.settings.unclaim) st.settings.unclaim();  // nothing in hand: another may scan now
  self->quit();
}

// Lists the next page of the pass; false when it failed (a retry is scheduled).
bool list_next(self_ptr self) {
  auto& st = self->state;
  auto page = st.inbox->list_completed(st.cursor, st.settings.page_files);
  if (!page) {
    st.m_list_failures->inc();
    st.retry_delay = st.retry_delay.count() == 0
                         ? st.settings.list_retry_initial
                         : std::min(st.retry_delay * 2, st.settings.list_retry_max);
    log::warn("exams", "listing the results inbox failed (", page.err().message,
              "); retrying in ", st.retry_delay.count(), " ms");
    st.retry_scheduled = true;
    self->delayed_send(self, st.retry_delay, restart_atom::value);
    return false;
  }
  st.retry_delay = std::chrono::milliseconds{0};
  for (auto& f : page->files)
    if (st.in_hand.insert(exams::result_key(f)).second) st.queue.push_back(f);
  st.cursor = page->next;
  if (st.cursor.empty()) st.passing = false;  // every page of this pass is listed
  return true;
}

void start_pass(self_ptr self) {
  auto& st = self->state;
  st.passing = true;
  st.pass_again = false;
  st.cursor.clear();
  ++st.passes;
}

// Hands queued files to idle workers, listing pages as the queue runs dry.
void dispatch(self_ptr self) {
  auto& st = self->state;
  if (st.draining) return finish_drain(self);
  for (;;) {
    while (!st.idle.empty() && !st.queue.empty()) {
      self->send(st.idle.front(), result_file_atom::value, std::move(st.queue.front()));
      st.idle.pop_front();
      st.queue.pop_front();
    }
    if (!st.queue.empty() || st.retry_scheduled) return;
    if (!st.passing) {
      if (!st.pass_again) return;
      if (st.settings.claim && !st.settings.claim()) {
        st.pass_again = false;  // another instance scans; the next wake-up asks again
        return;
      }
      start_pass(self);
    }
    if (!list_next(self)) return;
  }
}

}  // namespace

caf::behavior results_scanner(caf::stateful_actor<results_scanner_state>* self,
                              std::shared_ptr<exams::inbox> inbox, exams::apply_fn apply,
                              results_settings settings) {
  auto& st = self->state;
  st.inbox = std::move(inbox);
  st.settings = settings;
  auto& reg = metrics::registry::global();
  for (auto f : {exams::folder::processed, exams::folder::stuck, exams::folder::denied,
                 exams::folder::deleted})
    st.m_moved[static_cast<int>(f)] =
        &reg.get_counter("medflow_exam_result_files_moved_total",
                         "result files moved out of completed/, by destination folder",
                         {{"folder", folder_label(f)}});
  st.m_left = &reg.get_counter("medflow_exam_result_files_left_total",
                               "result files left in completed/ for a later pass");
  st.m_list_failures = &reg.get_counter("medflow_exam_result_files_list_failures_total",
                                        "failed listings of the results inbox");
  size_t n = std::max<size_t>(1, settings.workers);
  for (size_t i = 0; i < n; ++i) {
    auto w = settings.detached_workers
                 ? self->spawn<caf::linked + caf::detached>(result_worker, st.inbox, apply,
                                                            settings.max_file_bytes)
                 : self->spawn<caf::linked>(result_worker, st.inbox, apply,
                                            settings.max_file_bytes);
    st.workers.push_back(w);
    st.idle.push_back(w);
  }
  if (settings.watch)
    st.watch = std::make_unique<inbox_watch>(st.inbox, caf::actor_cast<caf::actor>(self));
  // Files left by an earlier run (or that arrived while medflowd was down).
  st.pass_again = true;
  self->send(self, wake_atom::value);
  return {
      [self](wake_atom) {
        self->state.pass_again = true;
        dispatch(self);
      },
      [self](restart_atom) {
        self->state.retry_scheduled = false;
        dispatch(self);
      },
      [self](result_done_atom, const exams::inbox_file& f, const exams::file_outcome& out) {
        auto& st = self->state;
        using kind = exams::file_outcome::kind;
        st.in_hand.erase(exams::result_key(f));
        if (out.what == kind::left) {
          ++st.left;
          st.m_left->inc();
          log::warn("exams", "result file ", exams::result_key(f),
                    " stays in completed/ for a later pass: ", out.why);
        } else {
          ++st.handled;
          if (out.what == kind::moved) st.m_moved[static_cast<int>(out.to)]->inc();
        }
        if (auto w = caf::actor_cast<caf::actor>(self->current_sender())) st.idle.push_back(w);
        dispatch(self);
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        st.watch.reset();
        st.queue.clear();
        finish_drain(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return std::map<std::string, std::string>{
            {"handled", std::to_string(st.handled)},
            {"left", std::to_string(st.left)},
            {"passes", std::to_string(st.passes)},
            {"in_hand", std::to_string(st.in_hand.size())}};
      },
  };
}

}  // namespace medflow::actors
