#include "net/s3_client.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"
#include "net/curl_easy.hpp"

#include <expat.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>

namespace medflow::s3 {

namespace curl = medflow::net::curl;

namespace {

constexpr size_t max_key_bytes = 1024;
constexpr size_t max_xml_depth = 16;
constexpr size_t max_header_bytes = 64 * 1024;

error invalid(std::string message) {
  return {0, "invalid_argument", std::move(message), {}};
}
error malformed(std::string message) {
  return {0, "malformed_response", std::move(message), {}};
}

// --- XML: expat, streaming, with a stack of element names ----------------------------------

struct xml_events {
  // Called with the names of the open elements, outermost first (prefixes stripped).
  std::function<bool(const std::vector<std::string>&)> on_start;
  // Called when the innermost element closes, with the text directly inside it.
  std::function<bool(const std::vector<std::string>&, const std::string&)> on_end;
};

struct xml_state {
  XML_Parser parser = nullptr;
  xml_events* events = nullptr;
  std::vector<std::string> stack;
  std::string text;
  std::string failure;  // why a handler stopped the parser

  void stop(std::string why) {
    if (failure.empty()) failure = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }
};

std::string local_name(const XML_Char* name) {
  std::string_view n(name);
  auto colon = n.rfind(':');
  return std::string(colon == std::string_view::npos ? n : n.substr(colon + 1));
}

void XMLCALL on_start_element(void* data, const XML_Char* name, const XML_Char**) {
  auto* s = static_cast<xml_state*>(data);
  if (!s->failure.empty()) return;  // expat may call on after a stop
  if (s->stack.size() >= max_xml_depth) return s->stop("XML nested deeper than 16 elements");
  s->stack.push_back(local_name(name));
  s->text.clear();
  if (s->events->on_start && !s->events->on_start(s->stack)) s->stop("unexpected XML document");
}

void XMLCALL on_end_element(void* data, const XML_Char*) {
  auto* s = static_cast<xml_state*>(data);
  if (!s->failure.empty() || s->stack.empty()) return;
  if (s->events->on_end && !s->events->on_end(s->stack, s->text))
    return s->stop("invalid value in XML element " + s->stack.back());
  s->stack.pop_back();
  s->text.clear();
}

void XMLCALL on_text(void* data, const XML_Char* chars, int len) {
  auto* s = static_cast<xml_state*>(data);
  if (s->failure.empty()) s->text.append(chars, static_cast<size_t>(len));
}

void XMLCALL on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  static_cast<xml_state*>(data)->stop("XML with a document type declaration is refused");
}

void XMLCALL on_entity_decl(void* data, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                            const XML_Char*, const XML_Char*, const XML_Char*) {
  static_cast<xml_state*>(data)->stop("XML with an entity declaration is refused");
}

struct parser_free {
  void operator()(XML_Parser p) const { XML_ParserFree(p); }
};

// An empty string when the whole document was read and every handler agreed; else why not.
std::string parse_xml(std::string_view xml, size_t max_bytes, xml_events& events) {
  if (xml.size() > max_bytes || xml.size() > static_cast<size_t>(INT_MAX))
    return "XML answer larger than " + std::to_string(max_bytes) + " bytes";
  std::unique_ptr<XML_ParserStruct, parser_free> p{XML_ParserCreate("UTF-8")};
  if (!p) throw std::bad_alloc();
  xml_state state;
  state.parser = p.get();
  state.events = &events;
  XML_SetUserData(p.get(), &state);
  XML_SetElementHandler(p.get(), on_start_element, on_end_element);
  XML_SetCharacterDataHandler(p.get(), on_text);
  XML_SetStartDoctypeDeclHandler(p.get(), on_doctype);
  XML_SetEntityDeclHandler(p.get(), on_entity_decl);
  XML_SetParamEntityParsing(p.get(), XML_PARAM_ENTITY_PARSING_NEVER);
  if (XML_Parse(p.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE) != XML_STATUS_OK) {
    if (!state.failure.empty()) return state.failure;
    return std::string("XML error at line ") + std::to_string(XML_GetCurrentLineNumber(p.get())) +
           ": " + XML_ErrorString(XML_GetErrorCode(p.get()));
  }
  return {};
}

bool parse_u64(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool is_path(const std::vector<std::string>& stack, std::initializer_list<const char*> names) {
  if (stack.size() != names.size()) return false;
  size_t i = 0;
  for (const char* n : names)
    if (stack[i++] != n) return false;
  return true;
}

// Reads <Error><Code/><Message/>...</Error>, also out of a 200 answer of CopyObject.
std::optional<s3_error_body> read_error(std::string_view xml, size_t max_bytes) {
  s3_error_body body;
  xml_events ev;
  ev.on_start = [](const std::vector<std::string>& st) {
    return st.size() > 1 || st[0] == "Error";
  };
  ev.on_end = [&](const std::vector<std::string>& st, const std::string& text) {
    if (is_path(st, {"Error", "Code"})) body.code = text;
    if (is_path(st, {"Error", "Message"})) body.message = text;
    return true;
  };
  if (!parse_xml(xml, max_bytes, ev).empty() || body.code.empty()) return std::nullopt;
  return body;
}

// --- requests --------------------------------------------------------------------------------

struct answer {
  long status = 0;
  std::string body;
  std::string etag;
  uint64_t content_length = 0;
};

struct header_sink {
  std::string etag;
  size_t total = 0;
  static size_t write(char* ptr, size_t size, size_t nmemb, void* self) {
    auto* h = static_cast<header_sink*>(self);
    size_t n = size * nmemb;
    h->total += n;
    if (h->total > max_header_bytes) return 0;
    std::string_view line(ptr, n);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && strings::iequals(line.substr(0, colon), "etag")) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
      h->etag = std::string(v);
    }
    return n;
  }
};

std::string query_string(std::vector<std::pair<std::string, std::string>> params) {
  // SigV4 signs the query sorted by name, each part encoded: sent the same way, whatever
  // curl's own canonicalisation does, the signature matches.
  std::sort(params.begin(), params.end());
  std::string q;
  for (auto& [k, v] : params) {
    if (!q.empty()) q += '&';
    q += uri_encode(k, false) + "=" + uri_encode(v, false);
  }
  return q;
}

status check_key(std::string_view key) {
  if (key.empty() || key.size() > max_key_bytes)
    return invalid("an object key must be 1 to 1024 bytes, got " + std::to_string(key.size()));
  return ok_status();
}

}  // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

result<list_page> parse_list_result(std::string_view xml, size_t max_bytes) {
  list_page page;
  object_entry entry;
  bool has_key = false;
  xml_events ev;
  ev.on_start = [&](const std::vector<std::string>& st) {
    if (st.size() == 1) return st[0] == "ListBucketResult";
    if (is_path(st, {"ListBucketResult", "Contents"})) {
      entry = {};
      has_key = false;
    }
    return true;
  };
  ev.on_end = [&](const std::vector<std::string>& st, const std::string& text) {
    if (is_path(st, {"ListBucketResult", "Contents", "Key"})) {
      entry.key = text;
      has_key = true;
    } else if (is_path(st, {"ListBucketResult", "Contents", "Size"})) {
      if (!parse_u64(text, entry.size)) return false;
    } else if (is_path(st, {"ListBucketResult", "Contents", "ETag"})) {
      entry.etag = text;
    } else if (is_path(st, {"ListBucketResult", "Contents", "LastModified"})) {
      entry.last_modified = text;
    } else if (is_path(st, {"ListBucketResult", "Contents"})) {
      if (!has_key || entry.key.empty()) return false;
      page.objects.push_back(std::move(entry));
    } else if (is_path(st, {"ListBucketResult", "CommonPrefixes", "Prefix"})) {
      page.common_prefixes.push_back(text);
    } else if (is_path(st, {"ListBucketResult", "IsTruncated"})) {
      if (text != "true" && text != "false") return false;
      page.is_truncated = text == "true";
    } else if (is_path(st, {"ListBucketResult", "NextContinuationToken"})) {
      page.next_continuation_token = text;
    }
    return true;
  };
  auto failure = parse_xml(xml, max_bytes, ev);
  if (!failure.empty()) return malformed("ListObjectsV2 answer: " + failure);
  // Following an empty token would start over at the first page, forever.
  if (page.is_truncated && page.next_continuation_token.empty())
    return malformed("ListObjectsV2 answer: truncated without a NextContinuationToken");
  return page;
}

std::optional<s3_error_body> parse_error_body(std::string_view xml, size_t max_bytes) {
  return read_error(xml, max_bytes);
}

client::client(options opts) : opts_(std::move(opts)) {
  std::string_view ep = opts_.endpoint;
  std::string scheme;
  if (ep.rfind("http://", 0) == 0)
    scheme = "http://";
  else if (ep.rfind("https://", 0) == 0)
    scheme = "https://";
  else
    throw std::invalid_argument("s3 endpoint must start with http:// or https://");
  auto host = ep.substr(scheme.size());
  if (!host.empty() && host.back() == '/') host.remove_suffix(1);
  if (host.empty() || host.find_first_of("/?#@ ") != std::string_view::npos)
    throw std::invalid_argument("s3 endpoint must be scheme://host[:port], got " + opts_.endpoint);
  if (opts_.bucket.empty() || opts_.bucket.size() > 63 ||
      opts_.bucket.find_first_of("/?#% ") != std::string::npos)
    throw std::invalid_argument("s3 bucket name is empty or invalid");
  if (opts_.region.empty() || !std::all_of(opts_.region.begin(), opts_.region.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      }))
    throw std::invalid_argument("s3 region must be lowercase letters, digits and '-'");
  if (opts_.access_key.empty() || opts_.secret_key.empty())
    throw std::invalid_argument("s3 access key and secret key are required");
  if (opts_.timeout_ms <= 0 || opts_.connect_timeout_ms <= 0)
    throw std::invalid_argument("s3 timeouts must be positive");
  base_url_ = opts_.path_style ? scheme + std::string(host) + "/" + uri_encode(opts_.bucket, false)
                               : scheme + opts_.bucket + "." + std::string(host);
  curl::global_init();
}

namespace {

struct call_spec {
  const char* method = "GET";
  std::string path;   // "/" + encoded key, or "" for the bucket
  std::string query;  // encoded, without '?'
  std::string_view body;
  std::vector<std::string> headers;
  size_t max_body = 0;  // cap of a 2xx body
};

result<answer> perform(const options& o, const std::string& base_url, const call_spec& spec) {
  auto h = curl::make_easy("http,https", static_cast<long>(o.timeout_ms),
                           static_cast<long>(o.connect_timeout_ms));
  CURL* c = h.get();
  std::string url = base_url + spec.path;
  if (!spec.query.empty()) url += "?" + spec.query;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  // Keys such as "a/../b" or "a//b" are names, not paths to normalise.
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  std::string sigv4 = "aws:amz:" + o.region + ":s3";
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, o.access_key.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, o.secret_key.c_str());

  std::string method = spec.method;
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, spec.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body.size()));
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, spec.method);
  }

  curl::slist headers;
  // libcurl 7.88 signs this header's value as the payload hash; S3 requires it. (No "Expect:"
  // to switch 100-continue off: libcurl would sign the removed header.)
  bool ok = curl::append(headers, "x-amz-content-sha256: " + crypto::sha256_hex(spec.body));
  for (auto& line : spec.headers) ok = ok && curl::append(headers, line);
  if (!ok) throw std::bad_alloc();
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  curl::capped_sink sink;
  sink.cap = spec.max_body;
  sink.error_cap = o.max_xml_bytes;
  sink.handle = c;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &curl::capped_sink::write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  header_sink head;
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &header_sink::write);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return curl::transfer_error(rc, errbuf, sink.overflowed);
  answer a;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
  curl_off_t length = -1;
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  a.content_length = length > 0 ? static_cast<uint64_t>(length) : 0;
  a.body = std::move(sink.data);
  a.etag = std::move(head.etag);
  return a;
}

// The error value of a non-2xx answer.
error answer_error(const answer& a, size_t max_xml_bytes) {
  int status = static_cast<int>(a.status);
  if (auto body = read_error(a.body, max_xml_bytes)) return {status, body->code, body->message, {}};
  if (status == 404 && a.body.empty()) return {status, "NotFound", "HTTP 404 Not Found", {}};
  return {status, "HttpStatus" + std::to_string(status), "HTTP " + std::to_string(status), {}};
}

bool success(const answer& a) {
  return a.status >= 200 && a.status <= 299;
}

}  // namespace

status client::put_object(std::string_view key, std::string_view body,
                          std::string_view content_type) const {
  if (auto k = check_key(key); !k) return k.err();
  if (content_type.find_first_of("\r\n") != std::string_view::npos)
    return invalid("content type with a line break");
  call_spec spec{"PUT",
                 "/" + uri_encode(key, true),
                 "",
                 body,
                 {"Content-Type: " + std::string(content_type)},
                 opts_.max_xml_bytes};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  return ok_status();
}

result<std::string> client::get_object(std::string_view key, size_t max_bytes) const {
  if (auto k = check_key(key); !k) return k.err();
  call_spec spec{"GET", "/" + uri_encode(key, true), "", {}, {}, max_bytes};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  return std::move(a->body);
}

result<object_info> client::head_object(std::string_view key) const {
  if (auto k = check_key(key); !k) return k.err();
  call_spec spec{"HEAD", "/" + uri_encode(key, true), "", {}, {}, 0};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  return object_info{a->content_length, a->etag};
}

status client::delete_object(std::string_view key) const {
  if (auto k = check_key(key); !k) return k.err();
  call_spec spec{"DELETE", "/" + uri_encode(key, true), "", {}, {}, opts_.max_xml_bytes};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  return ok_status();
}

status client::copy_object(std::string_view source_key, std::string_view destination_key) const {
  if (auto k = check_key(source_key); !k) return k.err();
  if (auto k = check_key(destination_key); !k) return k.err();
  call_spec spec{"PUT",
                 "/" + uri_encode(destination_key, true),
                 "",
                 {},
                 {"x-amz-copy-source: /" + uri_encode(opts_.bucket, false) + "/" +
                  uri_encode(source_key, true)},
                 opts_.max_xml_bytes};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  // A copy that fails after S3 has sent 200 is reported in the body.
  if (auto body = read_error(a->body, opts_.max_xml_bytes))
    return error{static_cast<int>(a->status), body->code, body->message, {}};
  return ok_status();
}

result<list_page> client::list_objects_v2(const list_request& req) const {
  if (req.max_keys < 1 || req.max_keys > 1000) return invalid("max_keys must be 1 to 1000");
  std::vector<std::pair<std::string, std::string>> params{
      {"list-type", "2"}, {"max-keys", std::to_string(req.max_keys)}};
  if (!req.prefix.empty()) params.emplace_back("prefix", req.prefix);
  if (!req.delimiter.empty()) params.emplace_back("delimiter", req.delimiter);
  if (!req.continuation_token.empty())
    params.emplace_back("continuation-token", req.continuation_token);
  if (!req.start_after.empty()) params.emplace_back("start-after", req.start_after);
  call_spec spec{"GET", "/", query_string(std::move(params)), {}, {}, opts_.max_xml_bytes};
  auto a = perform(opts_, base_url_, spec);
  if (!a) return a.err();
  if (!success(*a)) return answer_error(*a, opts_.max_xml_bytes);
  return parse_list_result(a->body, opts_.max_xml_bytes);
}

}  // namespace medflow::s3
