#include "flows/exams/s3_inbox.hpp"

#include <algorithm>
#include <stdexcept>

namespace medflow::exams {

namespace {

// U+10FFFF in UTF-8: the greatest valid code point, so "<p>" + this sorts after every key that
// starts with "<p>" (S3 orders keys by their UTF-8 bytes).
const std::string beyond = "\xF4\x8F\xBF\xBF";

// S3's error as the inbox reports it: a missing object as not_found, the rest as they are.
error inbox_error(const error& e) {
  if (e.status == 404 && (e.code == "NoSuchKey" || e.code == "NotFound"))
    return error::not_found(e.message.empty() ? "no such object" : e.message);
  return e;
}

}  // namespace

s3_inbox::s3_inbox(s3_inbox_options opts) : opts_(std::move(opts)), client_(opts_.s3) {
  if (auto v = opts_.folders.validate(); !v) throw std::invalid_argument(v.err().message);
  if (opts_.poll_interval_ms <= 0 || opts_.max_requests_per_page < 2)
    throw std::invalid_argument("s3 inbox: poll interval and request budget must be positive");
  next_poll_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.poll_interval_ms);
}

std::string s3_inbox::key_of(const inbox_file& f) const {
  return f.month + "/" + opts_.folders.of(f.in) + "/" + f.name;
}

result<inbox_page> s3_inbox::list_completed(const std::string& cursor, size_t max_files) {
  if (max_files < 1 || max_files > max_page_files)
    return error::bad_request("max_files must be 1 to " + std::to_string(max_page_files));
  // The cursor is the S3 key the walk stopped after.
  std::string pos = cursor;
  const std::string& completed = opts_.folders.completed;
  inbox_page page;
  int requests = 0;
  while (page.files.size() < max_files) {
    if (requests + 2 > opts_.max_requests_per_page) {
      page.next = pos;  // budget spent: go on from here next time
      return page;
    }
    // The first key after pos names the next month to look at.
    s3::list_request probe;
    probe.start_after = pos;
    probe.max_keys = 1;
    auto first = client_.list_objects_v2(probe);
    ++requests;
    if (!first) return first.err();
    if (first->objects.empty()) return page;  // the walk is over
    const std::string& key = first->objects[0].key;
    auto slash = key.find('/');
    std::string month = key.substr(0, slash);
    // Skips past every key of the top-level folder `top`. A server that orders keys otherwise
    // than by bytes (s3rver compares UTF-16) may still answer a key beyond the skip: then step
    // past that key, so the walk always moves on.
    auto skip = [&](const std::string& top) {
      std::string past = top + "/" + beyond;
      pos = past > key ? past : key;
    };
    if (slash == std::string::npos) {
      pos = key;  // a lone key at the root
      continue;
    }
    if (!is_month(month)) {
      skip(month);  // not the inbox layout
      continue;
    }
    std::string prefix = month + "/" + completed + "/";
    if (key.compare(0, prefix.size(), prefix) != 0 && key > prefix) {
      skip(month);  // this month's completed/ is behind us
      continue;
    }
    // List completed/ of this month from pos on, until the page is full or it is exhausted.
    s3::list_request req;
    req.prefix = prefix;
    req.start_after = std::max(pos, prefix);
    bool exhausted = false;
    while (page.files.size() < max_files) {
      if (requests + 1 > opts_.max_requests_per_page) {
        page.next = pos;
        return page;
      }
      req.max_keys = static_cast<int>(max_files - page.files.size());
      auto r = client_.list_objects_v2(req);
      ++requests;
      if (!r) return r.err();
      for (auto& o : r->objects) {
        pos = o.key;
        auto name = o.key.substr(prefix.size());
        if (!is_file_name(name)) continue;  // a deeper key or a folder marker
        page.files.push_back({month, name, folder::completed, o.size});
      }
      if (!r->is_truncated) {
        exhausted = true;
        break;
      }
      req.start_after.clear();
      req.continuation_token = r->next_continuation_token;
    }
    if (!exhausted) {
      page.next = pos;
      return page;
    }
    pos = month + "/" + beyond;
  }
  page.next = pos;
  return page;
}

result<std::string> s3_inbox::read(const inbox_file& f, size_t max_bytes) {
  if (auto c = check_file(f); !c) return c.err();
  auto r = client_.get_object(key_of(f), max_bytes);
  if (!r) {
    if (r.err().code == "too_large")
      return error{413,
                   "too_large",
                   key_of(f) + " is larger than " + std::to_string(max_bytes) + " bytes",
                   {}};
    return inbox_error(r.err());
  }
  return std::move(*r);
}

status s3_inbox::move(const inbox_file& f, folder to) {
  if (auto c = check_file(f); !c) return c.err();
  if (f.in == to) return ok_status();
  inbox_file dest = f;
  dest.in = to;
  std::string src_key = key_of(f), dst_key = key_of(dest);
  auto src = client_.head_object(src_key);
  auto dst = client_.head_object(dst_key);
  bool src_missing = !src && src.err().status == 404;
  bool dst_missing = !dst && dst.err().status == 404;
  if (!src && !src_missing) return src.err();
  if (!dst && !dst_missing) return dst.err();
  if (src_missing) {
    if (!dst_missing) return ok_status();  // moved before: a repeat
    return error::not_found("no object " + src_key);
  }
  if (!dst_missing) {
    // Either the copy of an interrupted move (finish it) or another file of that name.
    if (dst->size != src->size || dst->etag != src->etag)
      return error{
          409, "destination_exists", "another " + f.name + " is already at " + dst_key, {}};
  } else if (auto cp = client_.copy_object(src_key, dst_key); !cp) {
    return inbox_error(cp.err());
  }
  if (auto del = client_.delete_object(src_key); !del) return del.err();
  return ok_status();
}

wake_reason s3_inbox::wait_for_files(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto until = std::min(deadline, next_poll_);
  cv_.wait_until(lock, until, [&] { return woken_; });
  if (woken_) {
    woken_ = false;
    return wake_reason::woken;
  }
  auto now = std::chrono::steady_clock::now();
  if (now >= next_poll_) {
    next_poll_ = now + std::chrono::milliseconds(opts_.poll_interval_ms);
    return wake_reason::rescan_due;
  }
  return wake_reason::timed_out;
}

void s3_inbox::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace medflow::exams
