// libFuzzer target: S3's XML answers (ListObjectsV2 pages and error bodies) as read by
// s3::parse_list_result and s3::parse_error_body. Any input must give a page or an error value:
// never a crash, a leak, undefined behaviour, or a page the reader should have refused.
#include "net/s3_client.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  constexpr size_t cap = 64 * 1024;
  auto page = medflow::s3::parse_list_result(xml, cap);
  if (page.ok()) {
    if (size > cap) std::abort();
    if (page->is_truncated && page->next_continuation_token.empty()) std::abort();
    for (auto& o : page->objects)
      if (o.key.empty()) std::abort();
  }
  auto err = medflow::s3::parse_error_body(xml, cap);
  if (err && err->code.empty()) std::abort();
  return 0;
}
