// What the blocking libcurl clients of net/ (s3_client, smtp_client) share: one easy handle
// per call, a response sink with a byte cap, and curl's outcome as an error value.
#pragma once

#include "core/error.hpp"

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>

namespace medflow::net::curl {

// curl_global_init, once per process, before the first handle.
void global_init();

struct easy_free {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using easy = std::unique_ptr<CURL, easy_free>;

struct slist_free {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using slist = std::unique_ptr<curl_slist, slist_free>;

// A fresh handle with what every call wants: no signals (threads), no redirects, only the
// given protocols (e.g. "http,https"), and both timeouts.
easy make_easy(const char* protocols, long timeout_ms, long connect_timeout_ms);

// Collects a response body; past its cap the transfer is aborted and `overflowed` set. With
// `handle` set, a 2xx answer is held to `cap` and any other to `error_cap` (an error body may
// be larger than a tiny object that was asked for).
struct capped_sink {
  std::string data;
  size_t cap = 0;
  size_t error_cap = 0;
  CURL* handle = nullptr;
  bool overflowed = false;
  static size_t write(char* ptr, size_t size, size_t nmemb, void* self);
};

// Appends `line` to a header list, keeping ownership in `list`; false when curl is out of memory.
bool append(slist& list, const std::string& line);

// The error value of a failed transfer: status 0 and code
//   "timeout"         the call's timeout passed first
//   "connect_failed"  no connection (refused, unresolvable, connect timeout)
//   "too_large"       the answer passed its byte cap (only when sink_overflowed)
//   "transport_failed" anything else (TLS, broken connection, protocol violation)
// with curl's own text (its error buffer when set) as message.
error transfer_error(CURLcode rc, const char* errbuf, bool sink_overflowed);

}  // namespace medflow::net::curl
