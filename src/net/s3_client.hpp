// A small, blocking S3 client over libcurl, signed with AWS Signature V4 (CURLOPT_AWS_SIGV4).
//
// One bucket per client. Every call opens its own curl handle, so a client may be used from
// several threads at once; every call is bounded by options::timeout_ms. Errors are values:
// a failed call returns a medflow::error whose
//   status  is S3's HTTP status (0 when no HTTP answer came),
//   code    is S3's error code ("NoSuchKey", "NoSuchBucket", "InvalidAccessKeyId",
//           "SignatureDoesNotMatch", ...), else "HttpStatus<N>" for an answer without an error
//           body, or one of ours: "timeout", "connect_failed", "transport_failed",
//           "too_large" (an answer over its byte cap), "malformed_response" (XML we refuse),
//           "invalid_argument" (a key or option S3 cannot take),
//   message is S3's message or curl's text.
//
// Object keys are any UTF-8 text of 1 to 1,024 bytes: spaces, '+', '%', unicode and '/'
// round-trip (the path is percent-encoded with SigV4's rules, '/' kept, and sent as is).
// S3's XML answers (ListObjectsV2, errors, CopyObject results) are read with expat under a
// size cap and a depth limit, and a document type declaration is refused, so no entity is
// ever expanded.
#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medflow::s3 {

struct options {
  std::string endpoint;  // scheme://host[:port], e.g. http://127.0.0.1:4568
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key;
  std::string secret_key;
  // Path-style URLs (endpoint/bucket/key), what s3rver and most S3-compatible servers need;
  // false puts the bucket in the host name (bucket.host/key).
  bool path_style = true;
  int64_t timeout_ms = 10000;  // one whole call
  int64_t connect_timeout_ms = 3000;
  // Largest XML answer read (a ListObjectsV2 page of 1,000 keys is ~300 KiB).
  size_t max_xml_bytes = 4 * 1024 * 1024;
};

struct object_entry {
  std::string key;
  uint64_t size = 0;
  std::string etag;           // as S3 gives it, quotes included
  std::string last_modified;  // ISO 8601, as S3 gives it
};

struct list_page {
  std::vector<object_entry> objects;
  std::vector<std::string> common_prefixes;  // with a delimiter: the "folders" at this level
  bool is_truncated = false;
  std::string next_continuation_token;  // set when is_truncated
};

struct list_request {
  std::string prefix;
  std::string delimiter;           // e.g. "/" to list one level; empty: every key under prefix
  std::string continuation_token;  // from the previous page; empty for the first
  std::string start_after;         // keys after this one (first page only)
  int max_keys = 1000;             // 1..1000
};

struct object_info {
  uint64_t size = 0;
  std::string etag;
};

class client {
 public:
  // Throws std::invalid_argument when the endpoint is not http(s)://host[:port] or the bucket,
  // region or keys are empty: a configuration error, found at start-up.
  explicit client(options opts);

  const options& opts() const { return opts_; }

  status put_object(std::string_view key, std::string_view body,
                    std::string_view content_type = "application/octet-stream") const;
  // The object's bytes; an object larger than max_bytes is error "too_large" (the transfer is
  // cut at the cap, nothing more is read).
  result<std::string> get_object(std::string_view key, size_t max_bytes) const;
  // Size and ETag; error "NotFound" (status 404) when there is no such object (a HEAD answer
  // has no body to say more).
  result<object_info> head_object(std::string_view key) const;
  // S3 answers success also for a key that does not exist (and so does this).
  status delete_object(std::string_view key) const;
  // Server-side copy within the bucket (x-amz-copy-source); S3 may report a failed copy in the
  // body of a 200 answer, which is an error here too.
  status copy_object(std::string_view source_key, std::string_view destination_key) const;
  // One page of ListObjectsV2; follow next_continuation_token for the rest.
  result<list_page> list_objects_v2(const list_request& req) const;

 private:
  options opts_;
  std::string base_url_;  // scheme://[bucket.]host[:port][/bucket]
};

// --- the parts below are public for tests and the fuzz target ----------------------------

// SigV4 URI encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) as they are, every other
// byte as %XX (uppercase hex); '/' kept when keep_slash (object key paths).
std::string uri_encode(std::string_view s, bool keep_slash);

// Parses a ListBucketResult document (ListObjectsV2's answer). Refuses documents over
// max_bytes, deeper than 16 elements, with a DOCTYPE, another root, a Contents without Key,
// a bad Size or IsTruncated, or a truncated page without a continuation token.
result<list_page> parse_list_result(std::string_view xml, size_t max_bytes);

// S3's <Error><Code/><Message/></Error>; nullopt when the body is not such a document.
struct s3_error_body {
  std::string code;
  std::string message;
};
std::optional<s3_error_body> parse_error_body(std::string_view xml, size_t max_bytes);

}  // namespace medflow::s3
