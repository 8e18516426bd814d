#include "flows/exams/local_inbox.hpp"

#include "core/log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace medflow::exams {

namespace {

constexpr uint32_t root_mask = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;
constexpr uint32_t month_mask = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;
constexpr uint32_t completed_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR;
constexpr size_t max_complete_names = 100000;

error io_error(const std::string& what, int err) {
  return error::internal(what + ": " + std::strerror(err));
}

struct dir_closer {
  void operator()(DIR* d) const { closedir(d); }
};

// Names in a directory ("." and ".." left out), at most `cap`; error "too_many_files" past it,
// ENOENT as an empty list when missing_ok.
result<std::vector<std::string>> entries(const std::string& dir, size_t cap, bool missing_ok) {
  std::unique_ptr<DIR, dir_closer> d{opendir(dir.c_str())};
  if (!d) {
    if (errno == ENOENT && missing_ok) return std::vector<std::string>{};
    return io_error("cannot open " + dir, errno);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d.get())) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (names.size() >= cap)
      return error{
          500, "too_many_files", dir + " holds more than " + std::to_string(cap) + " entries", {}};
    names.emplace_back(n);
  }
  if (errno != 0) return io_error("cannot read " + dir, errno);
  return names;
}

status fsync_dir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + dir, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return io_error("cannot fsync " + dir, err);
  return ok_status();
}

constexpr size_t max_dir_syncs = 256;  // directories with a group-commit state kept

bool exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

}  // namespace

local_inbox::local_inbox(local_inbox_options opts) : opts_(std::move(opts)) {
  if (auto v = opts_.folders.validate(); !v) throw std::invalid_argument(v.err().message);
  if (opts_.root.empty()) throw std::invalid_argument("inbox root is empty");
  if (opts_.rescan_interval_ms <= 0 || opts_.settle_ms < 0)
    throw std::invalid_argument("inbox intervals must be positive");
  std::error_code ec;
  std::filesystem::create_directories(opts_.root, ec);
  if (ec) throw std::runtime_error("cannot create inbox root " + opts_.root + ": " + ec.message());
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0) {
    int err = errno;
    if (inotify_fd_ >= 0) close(inotify_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    throw std::runtime_error(std::string("inbox: inotify/eventfd: ") + std::strerror(err));
  }
  std::lock_guard lock(mu_);
  if (inotify_add_watch(inotify_fd_, opts_.root.c_str(), root_mask) < 0) {
    int err = errno;
    close(inotify_fd_);
    close(wake_fd_);
    throw std::runtime_error("inbox: cannot watch " + opts_.root + ": " + std::strerror(err));
  }
  // Months that exist already; a month created meanwhile arrives as an event.
  if (auto names = entries(opts_.root, opts_.max_dir_entries, false); names.ok())
    for (auto& n : *names)
      if (is_month(n)) watch_month(n);
  next_rescan_ =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.rescan_interval_ms);
}

local_inbox::~local_inbox() {
  close(inotify_fd_);
  close(wake_fd_);
}

std::string local_inbox::path(const std::string& month, folder f) const {
  return opts_.root + "/" + month + "/" + opts_.folders.of(f);
}

void local_inbox::watch_month(const std::string& month) {
  if (month_watches_.size() >= opts_.max_months) return;  // the rescan still finds its files
  std::string dir = opts_.root + "/" + month;
  int wd = inotify_add_watch(inotify_fd_, dir.c_str(), month_mask);
  if (wd < 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      log::warn("exams", "inbox: cannot watch ", dir, ": ", std::strerror(errno),
                " (the rescan still finds its files)");
    return;
  }
  month_watches_[wd] = month;
  watch_completed(month);
}

void local_inbox::watch_completed(const std::string& month) {
  std::string dir = path(month, folder::completed);
  int wd = inotify_add_watch(inotify_fd_, dir.c_str(), completed_mask);
  if (wd < 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      log::warn("exams", "inbox: cannot watch ", dir, ": ", std::strerror(errno),
                " (the rescan still finds its files)");
    return;
  }
  completed_watches_[wd] = month;
}

bool local_inbox::drain_events() {
  alignas(inotify_event) char buf[64 * 1024];
  bool arrived = false;
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing more pending
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      std::string name = e->len ? std::string(e->name) : std::string();
      if (e->mask & IN_Q_OVERFLOW) {
        // Events were lost: watch every month again; the caller lists everything.
        if (auto names = entries(opts_.root, opts_.max_dir_entries, false); names.ok())
          for (auto& m : *names)
            if (is_month(m)) watch_month(m);
        arrived = true;
        continue;
      }
      if (e->mask & IN_IGNORED) {  // the directory went away
        month_watches_.erase(e->wd);
        completed_watches_.erase(e->wd);
        continue;
      }
      if (auto c = completed_watches_.find(e->wd); c != completed_watches_.end()) {
        if (e->mask & IN_ISDIR) continue;
        std::string key = c->second + "/" + name;
        if (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
          if (complete_.size() < max_complete_names) complete_.insert(key);
          if (!name.empty() && name[0] != '.') arrived = true;
        } else {
          complete_.erase(key);
        }
      } else if (auto m = month_watches_.find(e->wd); m != month_watches_.end()) {
        if ((e->mask & IN_ISDIR) && name == opts_.folders.completed) {
          watch_completed(m->second);
          arrived = true;  // files may have been put in before the watch
        }
      } else if ((e->mask & IN_ISDIR) && is_month(name)) {  // the root
        watch_month(name);
        arrived = true;
      }
    }
  }
  return arrived;
}

result<inbox_page> local_inbox::list_completed(const std::string& cursor, size_t max_files) {
  if (max_files < 1 || max_files > max_page_files)
    return error::bad_request("max_files must be 1 to " + std::to_string(max_page_files));
  std::string after_month, after_name;
  if (!cursor.empty()) {
    auto slash = cursor.find('/');
    if (slash == std::string::npos || !is_month(cursor.substr(0, slash)))
      return error::bad_request("invalid inbox cursor");
    after_month = cursor.substr(0, slash);
    after_name = cursor.substr(slash + 1);
  }
  std::lock_guard lock(mu_);
  drain_events();
  auto months = entries(opts_.root, opts_.max_dir_entries, false);
  if (!months) return months.err();
  std::vector<std::string> sorted;
  for (auto& m : *months)
    if (is_month(m) && m >= after_month) sorted.push_back(m);
  std::sort(sorted.begin(), sorted.end());

  auto settled_before =
      std::chrono::system_clock::now() - std::chrono::milliseconds(opts_.settle_ms);
  inbox_page page;
  for (auto& month : sorted) {
    std::string dir = path(month, folder::completed);
    auto names = entries(dir, opts_.max_dir_entries, true);
    if (!names) return names.err();
    std::sort(names->begin(), names->end());
    for (auto& name : *names) {
      if (name[0] == '.' || !is_file_name(name)) continue;
      if (month == after_month && name <= after_name) continue;
      struct stat st;
      if (lstat((dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      auto mtime = std::chrono::system_clock::time_point(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
      bool complete = complete_.count(month + "/" + name) > 0 || mtime <= settled_before;
      if (!complete) continue;
      page.files.push_back({month, name, folder::completed, static_cast<uint64_t>(st.st_size)});
      if (page.files.size() == max_files) {
        page.next = month + "/" + name;
        return page;
      }
    }
  }
  return page;
}

result<std::string> local_inbox::read(const inbox_file& f, size_t max_bytes) {
  if (auto c = check_file(f); !c) return c.err();
  std::string p = path(f.month, f.in) + "/" + f.name;
  int fd = open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return error::not_found("no file " + f.month + "/" + f.name);
    return io_error("cannot open " + p, errno);
  }
  std::string data;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return error::bad_request(p + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    close(fd);
    return error{
        413, "too_large", p + " is larger than " + std::to_string(max_bytes) + " bytes", {}};
  }
  data.resize(static_cast<size_t>(st.st_size) + 1);  // one more: a file that grew is seen
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return io_error("cannot read " + p, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got > max_bytes)
    return error{
        413, "too_large", p + " is larger than " + std::to_string(max_bytes) + " bytes", {}};
  data.resize(got);
  return data;
}

status local_inbox::move(const inbox_file& f, folder to) {
  if (auto c = check_file(f); !c) return c.err();
  if (f.in == to) return ok_status();
  std::string from_dir = path(f.month, f.in), to_dir = path(f.month, to);
  std::string src = from_dir + "/" + f.name, dst = to_dir + "/" + f.name;
  std::string month_dir = opts_.root + "/" + f.month;
  auto rename_no_replace = [&] {
    return renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE);
  };
  int rc = rename_no_replace();
  if (rc != 0 && errno == ENOENT && !exists(to_dir)) {  // the month's first file for that folder
    if (mkdir(to_dir.c_str(), 0755) != 0 && errno != EEXIST)
      return io_error("cannot create " + to_dir, errno);
    if (auto s = sync_dir(month_dir); !s) return s;
    rc = rename_no_replace();
  }
  if (rc != 0) {
    int err = errno;
    if (err == EEXIST)
      return error{409, "destination_exists", "another " + f.name + " is already in " + to_dir, {}};
    if (err == ENOENT) {
      if (!exists(dst)) return error::not_found("no file " + src);
      // Moved before: a repeat, perhaps after a crash or a failed fsync, so the directories
      // are made durable again before this says done.
      if (auto s = sync_dir(month_dir); !s) return s;
      if (auto s = sync_dir(to_dir); !s) return s;
      return sync_dir(from_dir);
    }
    return io_error("cannot move " + src + " to " + to_dir, err);
  }
  {
    std::lock_guard lock(mu_);
    complete_.erase(f.month + "/" + f.name);
  }
  if (auto s = sync_dir(to_dir); !s) return s;
  return sync_dir(from_dir);
}

// Group commit of a directory's fsyncs. A caller joins the pending round (made after its
// rename returned); when no fsync of that directory is running, one of the round's callers
// starts it and the round closes: later callers join the next one. So every rename is covered
// by an fsync that began after it, and the renames that finish while one fsync runs share the
// next.
struct local_inbox::dir_sync {
  struct round {
    bool done = false;
    status outcome = ok_status();  // the fsync's, for every caller it covered
  };
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<round> pending;  // callers waiting for an fsync not started yet
  bool running = false;            // an fsync is under way
};

status local_inbox::sync_dir(const std::string& dir) {
  std::shared_ptr<dir_sync> ds;
  {
    std::lock_guard lock(syncs_mu_);
    auto& slot = syncs_[dir];
    if (!slot) {
      slot = std::make_shared<dir_sync>();
      if (syncs_.size() > max_dir_syncs)  // forget an idle one (a caller keeps its own alive)
        for (auto it = syncs_.begin(); it != syncs_.end(); ++it)
          if (it->first != dir && it->second.use_count() == 1) {
            syncs_.erase(it);
            break;
          }
    }
    ds = syncs_[dir];
  }
  std::unique_lock lock(ds->mu);
  if (!ds->pending) ds->pending = std::make_shared<dir_sync::round>();
  auto r = ds->pending;
  while (!r->done) {
    if (!ds->running && ds->pending == r) {  // this caller runs the round's fsync
      ds->running = true;
      ds->pending.reset();
      lock.unlock();
      auto s = fsync_dir(dir);
      dir_fsyncs_.fetch_add(1);
      lock.lock();
      r->outcome = std::move(s);
      r->done = true;
      ds->running = false;
      ds->cv.notify_all();
      break;
    }
    ds->cv.wait(lock);
  }
  return r->outcome;
}

wake_reason local_inbox::wait_for_files(std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (drain_events()) return wake_reason::files_arrived;
    }
    auto now = clock::now();
    if (now >= next_rescan_) {
      next_rescan_ = now + std::chrono::milliseconds(opts_.rescan_interval_ms);
      return wake_reason::rescan_due;
    }
    if (now >= deadline) return wake_reason::timed_out;
    auto until = std::min(deadline, next_rescan_);
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, static_cast<int>(std::min<int64_t>(wait_ms, 60000)));
    if (rc < 0 && errno != EINTR) throw std::runtime_error("inbox: poll failed");
    if (rc > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof v);
      (void)n;
      return wake_reason::woken;
    }
  }
}

void local_inbox::wake() {
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
}

}  // namespace medflow::exams
