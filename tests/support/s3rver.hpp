// s3rver (the npm package, installed into tests/node_modules by scripts/setup.sh): a real S3
// API server on loopback, on a free port, with its data in a temporary directory and one
// bucket created at start. Its credentials are S3RVER / S3RVER. It checks access key ids but
// not Signature V4 signatures (its source says SigV4 verification is unimplemented). It makes
// its continuation tokens with DES, which OpenSSL 3 only offers in its legacy provider, hence
// node's --openssl-legacy-provider.
#pragma once

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>

namespace medflow::test {

#ifndef MEDFLOW_SOURCE_DIR
#error "tests using s3rver need MEDFLOW_SOURCE_DIR"
#endif

class s3rver {
 public:
  explicit s3rver(std::string bucket = "medflow-test") : bucket_(std::move(bucket)) {
    std::string program =
        std::string(MEDFLOW_SOURCE_DIR) + "/tests/node_modules/s3rver/bin/s3rver.js";
    std::string env = "/usr/bin/env";
    std::filesystem::create_directories(dir_.file("data"));
    proc_ = std::make_unique<child_process>(
        std::vector<std::string>{env, "node", "--openssl-legacy-provider", program, "-d",
                                 dir_.file("data"), "-a", "127.0.0.1", "-p", "0", "--silent",
                                 "--configure-bucket", bucket_},
        dir_.file("s3rver.log"));
    auto port = proc_->wait_for_log(std::regex("listening on 127\\.0\\.0\\.1:([0-9]+)"),
                                    std::chrono::seconds(30));
    if (!port)
      throw std::runtime_error("s3rver did not start (run scripts/setup.sh); its log: " +
                               proc_->log());
    port_ = std::stoi(*port);
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& bucket() const { return bucket_; }
  int port() const { return port_; }
  static constexpr const char* access_key = "S3RVER";
  static constexpr const char* secret_key = "S3RVER";

 private:
  std::string bucket_;
  temp_dir dir_;
  std::unique_ptr<child_process> proc_;  // declared after dir_: stopped before it is removed
  int port_ = 0;
};

}  // namespace medflow::test
