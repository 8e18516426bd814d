// medflowd's own HTTP request and answer, what routes read and write. The engine (net/
// http_server) fills a request from the wire and writes an answer back; nothing here knows a
// socket or a parser.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medflow::net {

// Header fields or query parameters in the order received; names keep their spelling.
using fields = std::vector<std::pair<std::string, std::string>>;

// The first value of `name` (ASCII case-insensitive, as header names are), or nullptr.
const std::string* find_field(const fields& fs, std::string_view name);

struct request {
  std::string method;    // as received, e.g. "GET" (a token; case matters)
  std::string target;    // the request-target as received, e.g. "/a%20b?x=1"
  std::string raw_path;  // the target up to '?', as received: "/a%20b"
  std::string path;      // raw_path percent-decoded: "/a b"
  int version = 11;      // 10 or 11 (HTTP/1.0, HTTP/1.1)
  fields headers;
  fields params;         // the query, decoded ('+' is a space)
  std::string body;      // decoded (de-chunked)
  std::string remote_addr;
  int remote_port = -1;

  bool has_header(std::string_view name) const { return find_field(headers, name) != nullptr; }
  // The first value of the header, "" when absent.
  std::string header(std::string_view name) const;
  bool has_param(std::string_view name) const;  // exact name
  // The first value of the query parameter, "" when absent.
  std::string param(std::string_view name) const;
};

struct response {
  int status = 200;
  fields headers;  // Content-Length, Transfer-Encoding, Connection and Date are the engine's
  std::string body;
  std::string content_type;  // written as Content-Type when not empty

  // Sets a header, replacing any of the same name.
  void set_header(std::string name, std::string value);
  bool has_header(std::string_view name) const { return find_field(headers, name) != nullptr; }
  std::string header(std::string_view name) const;
  void set_content(std::string body_text, std::string type) {
    body = std::move(body_text);
    content_type = std::move(type);
  }
};

}  // namespace medflow::net
