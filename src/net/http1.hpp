// HTTP/1.1 framing (RFC 9112) for medflowd's server and client, by Boost.Beast: for the server
// an incremental request reader and the answer writer; for the client the request writer and
// an incremental response reader. No I/O: an event loop feeds them whatever each read
// returned. This header is Beast-free (Beast is heavy to compile): net/http1.cpp is the one
// file that includes it.
//
// Beast frames the messages; the readers add what Beast leaves open and request smuggling
// needs closed (RFC 9112 6.1, 6.3): a request with both Content-Length and Transfer-Encoding,
// with a transfer coding other than a single final "chunked", with Transfer-Encoding in
// HTTP/1.0, or with an obs-fold line is refused; the request line (414) and the whole head
// (431) have limits of their own, as do a chunk-size line and the trailers.
#pragma once

#include "net/byte_budget.hpp"
#include "net/message.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace medflow::net {

// A token (RFC 9110 5.6.2): not empty, tchar only; what a method and a field name must be.
bool is_token(std::string_view s);
// A CR, LF or NUL in s: written into a message's line, it would break the framing.
bool has_line_break(std::string_view s);

// Reads one request per reset(), for a server. Each error comes with the status to answer
// before closing (400, 413, 414, 431, 501, 503 or 505) and a short stable English text. Empty
// lines before the request line are skipped (RFC 9112 2.2). Lines end with CRLF. No
// Content-Length and no Transfer-Encoding means an empty body, whatever the method. Host (RFC
// 9112 3.2): an HTTP/1.1 request without one, any request with two, or one whose value is not
// a host[:port] is refused (400).
class request_reader {
 public:
  enum class state { need_more, done, error };
  struct limits {
    size_t max_request_line = 8 * 1024;  // bytes before its CRLF: longer is 414. Also bounds a
                                         // chunk-size line (longer: 400).
    size_t max_head = 64 * 1024;  // request line, headers and empty lines before them: 431.
                                  // Again for the trailers.
    size_t max_body = 1 << 20;    // decoded body: 413
    // Shared by every reader of a server (nullptr: none): a body leases its announced
    // Content-Length, or each chunk's size, before it is read; one that does not fit is
    // refused with 503. The lease is the reader's until take_lease().
    byte_budget* body_budget = nullptr;
  };

  request_reader();
  explicit request_reader(limits l);
  ~request_reader();
  request_reader(request_reader&&) noexcept;
  request_reader& operator=(request_reader&&) noexcept;

  // Ready for the next request: clears req(), the state and the flags.
  void reset();
  // Consumes bytes up to the end of one request and no further, so that a pipelined request
  // after it stays with the caller; bytes of an incomplete line may be left unconsumed too
  // (the caller offers them again with what follows). Returns how many of the n it consumed;
  // current() says what happened. After done or error it consumes nothing.
  size_t feed(const char* data, size_t n);
  state current() const;
  // The request line and headers are parsed (the body may still be coming): the server can
  // route, or answer 100 Continue.
  bool head_complete() const;
  // A byte was offered since reset(): a connection closing now is not merely idle.
  bool received_any() const;
  // method, target, version, headers and body; valid once head_complete() (the body once
  // done). The caller may move out of it after done.
  request& req();
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const;
  // HTTP/1.1 and "Expect: 100-continue" (other expectations are ignored).
  bool expect_continue() const;
  // After error: the status to answer and why, e.g. 400 "malformed request line".
  int error_status() const;
  const std::string& error() const;
  // After done: the body's lease on limits::body_budget, for whoever keeps the body (it is
  // released by reset() otherwise).
  budget_lease take_lease();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Writes an answer: "HTTP/1.1 <status> <reason>", the response's headers, Content-Type, the
// Date given, Content-Length (unless 1xx, 204 or 304), "Connection: close" when !keep_alive
// ("Connection: keep-alive" when kept for an HTTP/1.0 client), and the body unless `head` or a
// status without one. Headers the engine owns (Content-Length, Transfer-Encoding, Connection,
// Date) are replaced by these; a header that would break the framing (a name that is not a
// token, a CR, LF or NUL in its value) is dropped and logged. A status outside 100-999 is
// answered 500. Appends to `out`.
void write_answer(std::string& out, const response& res, bool head, bool keep_alive, bool http10,
                  std::string_view date);

// The head of a streamed answer (net/http_server's answer_stream), whose body follows piece by
// piece: as write_answer's head, without Content-Length. `chunked` (HTTP/1.1): with
// "Transfer-Encoding: chunked", the body is write_chunk()s ended by write_last_chunk(), and the
// connection may stay open after it (`keep_alive`); otherwise (HTTP/1.0) the body ends with
// the connection ("Connection: close"). A status without a body (1xx, 204, 304) is answered 500.
void write_stream_head(std::string& out, const response& res, bool chunked, bool keep_alive,
                       std::string_view date);
// Appends `data` as one chunk of a chunked body, by Beast's chunk encoder; nothing for empty
// data (a chunk of size 0 would end the body).
void write_chunk(std::string& out, std::string_view data);
// Appends the last chunk, which ends a chunked body (no trailers).
void write_last_chunk(std::string& out);

// Appends "METHOD target HTTP/1.1", "Host: host", each header, "Content-Length: N" when
// send_length (N = body.size()), an empty line and the body to `out`. Returns false, leaving
// `out` unchanged, when a part would break the framing: CR, LF or NUL anywhere (a caller must
// not be able to smuggle a header or a second request), a method or header name that is not a
// token, an empty target or one with a space, or a framing header (Content-Length,
// Transfer-Encoding) among `headers`: the framing is ours.
bool write_request(std::string& out, std::string_view method, std::string_view target,
                   std::string_view host, const fields& headers, std::string_view body,
                   bool send_length);

// Reads one response (after any 1xx interim ones) per reset(), for a client. We never
// pipeline, so bytes after the response are not the next response: they are ignored, the
// response stands (as with libcurl), and the connection is not reused (see excess()).
class response_reader {
 public:
  enum class state { need_more, done, error };
  struct limits {
    size_t max_head = 64 * 1024;          // status line + headers; also trailers, chunk lines
    size_t max_body = 256 * 1024 * 1024;  // decoded body
  };

  response_reader();
  explicit response_reader(limits l);
  ~response_reader();
  response_reader(response_reader&&) noexcept;
  response_reader& operator=(response_reader&&) noexcept;

  // Starts a new response. `head_request`: the request was HEAD (no body whatever the headers
  // say).
  void reset(bool head_request);
  // Feeds received bytes (all of them: what the parser cannot take yet it keeps): done once a
  // whole final response has been read, need_more until then, error on a malformed response
  // (error() says what, a short stable English text). Bytes after the end of the response
  // (in the same feed or a later one) are ignored: still done, but excess() turns true and
  // keep_alive() false.
  state feed(const char* data, size_t n);
  // The connection reached EOF: completes a close-delimited body (done); anything unfinished
  // is an error, "connection closed before any response" when not one byte was fed since
  // reset(), else "connection closed before the response was complete".
  state eof();

  bool received_any() const;  // a byte fed since reset()
  int status() const;         // valid once the final status line has been parsed
  // After done: may the connection be reused? Not for "Connection: close", HTTP/1.0 without
  // "Connection: keep-alive", close-delimited bodies, bytes after the response, nor after an
  // error.
  bool keep_alive() const;
  bool excess() const;
  // The decoded body (de-chunked); the caller may move it out after done.
  std::string& body();
  const std::string& error() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace medflow::net
