#include "net/curl_easy.hpp"

#include <mutex>
#include <stdexcept>

namespace medflow::net::curl {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
      throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  });
}

easy make_easy(const char* protocols, long timeout_ms, long connect_timeout_ms) {
  global_init();
  easy h{curl_easy_init()};
  if (!h) throw std::runtime_error("curl_easy_init failed");
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  return h;
}

size_t capped_sink::write(char* ptr, size_t size, size_t nmemb, void* self) {
  auto* s = static_cast<capped_sink*>(self);
  size_t n = size * nmemb;
  size_t cap = s->cap;
  if (s->handle) {
    long code = 0;
    curl_easy_getinfo(s->handle, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) cap = s->error_cap;
  }
  if (s->data.size() + n > cap) {
    s->overflowed = true;
    return 0;  // curl aborts with CURLE_WRITE_ERROR
  }
  s->data.append(ptr, n);
  return n;
}

bool append(slist& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (!next) return false;
  list.release();
  list.reset(next);
  return true;
}

error transfer_error(CURLcode rc, const char* errbuf, bool sink_overflowed) {
  std::string text = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
  if (sink_overflowed && rc == CURLE_WRITE_ERROR)
    return {0, "too_large", "the answer is larger than its byte cap", {}};
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return {0, "timeout", text, {}};
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return {0, "connect_failed", text, {}};
    default:
      return {0, "transport_failed", text, {}};
  }
}

}  // namespace medflow::net::curl
