// "http://host:port" of a running medflowd, split for cpp-httplib's client (the load tools).
#pragma once

#include <string>

namespace medflow::test {

struct endpoint {
  std::string host;
  int port;
};

inline endpoint parse_url(const std::string& url) {
  auto rest = url.substr(url.find("//") + 2);
  auto colon = rest.find(':');
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

}  // namespace medflow::test
