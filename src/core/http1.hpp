// HTTP/1.1 framing for a client (RFC 9112): a request serializer and an incremental response
// parser. No I/O and no allocation beyond the body and a partial head line, so the caller's
// event loop feeds it whatever each read returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medflow::http1 {

// Appends "METHOD target HTTP/1.1\r\nHost: host\r\n", each header "Name: value\r\n" ("Name:\r\n"
// when the value is empty),
// "Content-Length: N\r\n" when send_length (N = body.size()), "\r\n" and the body to `out`.
// Returns false, leaving `out` unchanged, when a part would break the framing: CR, LF or NUL
// anywhere (a caller must not be able to smuggle a header or a second request), an empty or
// space-containing method or target, or a header name that is empty or holds ':', SP or HT.
bool write_request(std::string& out, std::string_view method, std::string_view target,
                   std::string_view host,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   std::string_view body, bool send_length);

// Reads one response (after any 1xx interim ones) per reset(). We never pipeline, so bytes
// after the response are not the next response: they are ignored, the response stands (as
// with libcurl), and the connection is not reused (see excess()).
//
// Header lines are held to RFC 9112 only where the framing is at stake, i.e. in
// Content-Length, Transfer-Encoding and Connection: one of those with whitespace before its
// colon, a folded (obs-fold) continuation of one, or an unusable Content-Length or
// Transfer-Encoding value is an error. Other malformed lines are skipped, as libcurl does:
// a line without a colon, a name that is not a token (empty, or holding e.g. SP or '@'), and
// an obs-fold line (one starting with SP or HT) continuing any other header, or coming first
// after the status line. A NUL or CR anywhere in a header line, a malformed status line and a
// head beyond max_head stay errors.
class response_parser {
 public:
  enum class state { need_more, done, error };
  struct limits {
    size_t max_head = 64 * 1024;           // status line + headers; also trailers, chunk lines
    size_t max_body = 256 * 1024 * 1024;   // decoded body
  };

  response_parser() = default;
  explicit response_parser(limits l);

  // Starts a new response. `head_request`: the request was HEAD (no body whatever the headers
  // say).
  void reset(bool head_request);
  // Feeds received bytes: done once a whole final response has been read, need_more until
  // then, error on a malformed response (error() says what, a short stable English text).
  // Bytes left over after the end of the response (a body sent with a 204, 304 or HEAD
  // response, a stray CRLF after the body, more bytes than the Content-Length) are ignored:
  // the result is still done, but excess() turns true and keep_alive() false. After done or
  // error it returns that state again and ignores the bytes; after done, n > 0 also counts
  // as excess (the connection had more to say than the response).
  state feed(const char* data, size_t n);
  // The connection reached EOF: completes a close-delimited body (done); anything unfinished
  // is an error, "connection closed before any response" when not one byte was fed since
  // reset(), else "connection closed before the response was complete".
  state eof();

  bool received_any() const { return received_any_; }  // a byte fed since reset()
  int status() const { return status_; }  // valid once the status line has been parsed
  // After done: may the connection be reused? Not for "Connection: close", HTTP/1.0 without
  // "Connection: keep-alive", close-delimited bodies, Transfer-Encoding with Content-Length,
  // bytes after the response (excess()), nor after an error.
  bool keep_alive() const;
  // Bytes came after the end of the response, in the feed() that completed it or in a later
  // one (reset() clears it). The response is good, but the connection's framing is not to be
  // trusted: close it.
  bool excess() const { return excess_; }
  // The decoded body (de-chunked); the caller may std::move it out after done.
  std::string& body() { return body_; }
  const std::string& error() const { return error_; }

 private:
  enum class phase : uint8_t {
    status_line, headers, fixed_body, chunk_size, chunk_data, chunk_end, trailers,
    close_body, done, error,
  };
  enum class line_result : uint8_t { complete, partial, too_long };

  state fail(const char* why);
  line_result take_line(const char*& p, const char* end, size_t room, std::string_view& line,
                        size_t& raw);
  bool parse_status_line(std::string_view line);
  const char* parse_header(std::string_view line);
  const char* end_of_head();
  void start_head();

  limits limits_;
  phase phase_ = phase::status_line;
  bool head_request_ = false;
  bool received_any_ = false;
  // Per head (a 1xx head resets them).
  bool http10_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool has_te_ = false;
  bool te_chunked_ = false;
  bool has_cl_ = false;
  bool fold_framing_ = false;  // the last header line was a framing one: no folding it
  // Framing of the final response.
  bool close_delimited_ = false;
  bool excess_ = false;
  bool chunk_cr_ = false;
  int status_ = 0;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
  size_t section_bytes_ = 0;  // of the head or trailer section read so far
  std::string line_;  // a line split across feeds, only while incomplete
  std::string body_;
  std::string error_;
};

}  // namespace medflow::http1
