// What every load generator in bench/ needs: the host and port of a base URL, a kept-alive
// client, and percentiles.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <string>
#include <vector>

namespace medflow::bench {

struct endpoint {
  std::string host;
  int port = 0;
};

// "http://127.0.0.1:8080" -> {"127.0.0.1", 8080}
inline endpoint parse_url(const std::string& url) {
  auto rest = url.substr(url.find("//") + 2);
  return {rest.substr(0, rest.find(':')), std::stoi(rest.substr(rest.find(':') + 1))};
}

// A kept-alive connection with TCP_NODELAY: the load is requests, not handshakes.
inline httplib::Client keep_alive_client(const std::string& host, int port) {
  httplib::Client cli(host, port);
  cli.set_keep_alive(true);
  cli.set_tcp_nodelay(true);
  return cli;
}

// The p-quantile (0..1) of the values; sorts them.
inline double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace medflow::bench
