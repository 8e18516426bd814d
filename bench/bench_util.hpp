// What every load generator in bench/ needs: its command line (positional arguments, then
// --name value pairs), the host and port of a base URL, a kept-alive client, a check of an
// HTTP answer, and percentiles.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace medflow::bench {

struct endpoint {
  std::string host;
  int port = 0;
};

// "http://127.0.0.1:8080" -> {"127.0.0.1", 8080}; std::invalid_argument for anything else.
inline endpoint parse_url(const std::string& url) {
  auto scheme = url.find("//");
  auto colon = url.rfind(':');
  if (scheme == std::string::npos || colon == std::string::npos || colon < scheme + 2)
    throw std::invalid_argument("not a URL like http://127.0.0.1:8080: " + url);
  size_t used = 0;
  std::string port = url.substr(colon + 1);
  int p = 0;
  try {
    p = std::stoi(port, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != port.size() || p <= 0 || p > 65535)
    throw std::invalid_argument("not a URL like http://127.0.0.1:8080: " + url);
  return {url.substr(scheme + 2, colon - scheme - 2), p};
}

// A load generator's command line. A missing positional argument, an unknown --name, a name
// without a value or a number that is not one prints the usage and exits 2.
class command_line {
 public:
  command_line(int argc, char** argv, size_t positionals, std::set<std::string> names,
               std::string usage)
      : usage_(std::move(usage)) {
    if (argc < 1 || static_cast<size_t>(argc - 1) < positionals) fail("");
    for (size_t i = 1; i <= positionals; ++i) positional_.emplace_back(argv[i]);
    for (int i = static_cast<int>(positionals) + 1; i < argc; i += 2) {
      std::string name = argv[i];
      if (!names.count(name)) fail("unknown argument " + name);
      if (i + 1 >= argc) fail(name + " needs a value");
      values_[name] = argv[i + 1];
    }
  }

  const std::string& positional(size_t i) const { return positional_.at(i); }
  // A positional argument that is a base URL.
  endpoint url(size_t i) const {
    try {
      return parse_url(positional_.at(i));
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
  }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string text(const std::string& name, std::string def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  int integer(const std::string& name, int def) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    try {
      size_t used = 0;
      int v = std::stoi(it->second, &used);
      if (used == it->second.size()) return v;
    } catch (const std::exception&) {
    }
    fail(name + " needs an integer, got \"" + it->second + "\"");
  }

  [[noreturn]] void fail(const std::string& why) const {
    if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
    std::fprintf(stderr, "usage: %s\n", usage_.c_str());
    std::exit(2);
  }

 private:
  std::string usage_;
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
};

// A kept-alive connection with TCP_NODELAY: the load is requests, not handshakes.
inline httplib::Client keep_alive_client(const std::string& host, int port) {
  httplib::Client cli(host, port);
  cli.set_keep_alive(true);
  cli.set_tcp_nodelay(true);
  return cli;
}

// Stops the load generator (exit 1) when a setup request did not get the status it needs.
inline void must(const httplib::Result& r, int want, const char* what) {
  if (r && r->status == want) return;
  std::fprintf(stderr, "%s failed: %s\n", what,
               r ? (std::to_string(r->status) + " " + r->body).c_str()
                 : httplib::to_string(r.error()).c_str());
  std::exit(1);
}

// The p-quantile (0..1) of the values; sorts them.
inline double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace medflow::bench
