// HTTP/1.1 framing (RFC 9112): for a client, a request serializer and an incremental response
// parser; for a server, an incremental request parser. No I/O and no allocation beyond the
// body, the parsed head and a partial line, so the caller's event loop feeds them whatever
// each read returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medflow::http1 {

// A token (RFC 9110 5.6.2): not empty, tchar only; what a method and a field name must be.
bool is_token(std::string_view s);
// A CR, LF or NUL in s: written into a message's line, it would break the framing.
bool has_line_break(std::string_view s);

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
  state fail(const char* why);
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

struct request {
  std::string method;  // as received (case-sensitive token)
  std::string target;  // request-target as received, e.g. "/a/b?x=1"
  int minor_version = 1;  // HTTP/1.<minor>: 0 or 1 (a higher 1.x is read as 1.1)
  // Names as received, values trimmed of OWS, in order. Trailer fields are not kept.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // decoded (de-chunked)
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" (and no
  // close). Meaningless after an error: the server closes then.
  bool keep_alive = true;
  bool expect_continue = false;  // HTTP/1.1 and "Expect: 100-continue"; other expectations: false
};

// Reads one request per reset(), for a server (RFC 9112). Stricter than response_parser: any
// malformed line is an error, since a server that skips lines another hop reads differently
// invites request smuggling. Each error comes with the status to answer before closing.
//
// Empty lines before the request line are skipped (RFC 9112 2.2). Lines end with LF, CRLF
// counting as one; a CR elsewhere or a NUL in any line is an error. No Content-Length and no
// Transfer-Encoding means an empty body, whatever the method.
class request_parser {
 public:
  enum class state { need_more, done, error };
  struct limits {
    size_t max_request_line = 8 * 1024;  // bytes before its line end; longer: 414. Also bounds
                                         // each chunk-size line (longer: 400).
    size_t max_head = 64 * 1024;  // all head lines with their line ends, the leading empty
                                  // lines and the final one too: 431. Again for the trailers.
    size_t max_body = 1 << 20;    // decoded body: 413
  };

  request_parser() = default;
  explicit request_parser(limits l);

  // Ready for the next request: clears req(), the state and any partial line.
  void reset();
  // Consumes bytes up to the end of one request and no further, so that a pipelined request
  // after it stays with the caller. Returns how many of the n bytes it consumed; current()
  // says what happened. After done or error it consumes nothing (returns 0).
  size_t feed(const char* data, size_t n);
  state current() const;
  // The request line and headers are parsed (the body may still be coming): the server can
  // route, or answer 100 Continue.
  bool head_complete() const { return head_complete_; }
  // A byte was fed since reset() while the request was open (leading empty lines count, and
  // bytes refused at once for an error): a connection closing now is not merely idle.
  bool received_any() const { return received_any_; }
  // Valid once head_complete(); the caller may std::move the body out after done.
  request& req() { return req_; }
  // After error: the status to answer (400, 413, 414, 431, 501 or 505), and a short stable
  // English text, e.g. "malformed request line". 0 and empty otherwise.
  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }

 private:
  enum class phase : uint8_t {
    request_line, headers, fixed_body, chunk_size, chunk_data, chunk_end, trailers, done, error,
  };

  void step(const char*& p, const char* end);
  void fail(int status, const char* why);
  void parse_request_line(std::string_view line);
  void parse_header(std::string_view line);
  void end_of_head();
  void parse_chunk_size(std::string_view line);

  limits limits_;
  phase phase_ = phase::request_line;
  bool head_complete_ = false;
  bool received_any_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool expect_ = false;  // "Expect: 100-continue" seen
  bool has_cl_ = false;
  bool has_te_ = false;
  bool te_chunked_last_ = false;   // the last coding so far is chunked
  bool te_chunked_early_ = false;  // a chunked followed by another coding
  bool te_other_ = false;          // a coding other than chunked
  bool chunk_cr_ = false;
  int error_status_ = 0;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
  size_t section_bytes_ = 0;  // of the head or trailer section read so far
  std::string line_;  // a line split across feeds, only while incomplete
  request req_;
  std::string error_;
};

}  // namespace medflow::http1
