// aiosmtpd (Debian python3-aiosmtpd) through tests/support/smtp_sink.py: a real SMTP server on
// loopback that keeps every message it accepts, so a test can read the envelope and the exact
// bytes received. Also makes a self-signed certificate for 127.0.0.1 for its TLS modes.
#pragma once

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace medflow::test {

#ifndef MEDFLOW_SOURCE_DIR
#error "tests using smtp_sink need MEDFLOW_SOURCE_DIR"
#endif

struct received_mail {
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  bool tls = false;
  bool auth = false;
  std::string data;  // as received (dot-unstuffed by the server)
};

class smtp_sink {
 public:
  // mode: "plain", "starttls" or "implicit"; user/password: AUTH required when set.
  explicit smtp_sink(const std::string& mode = "plain", const std::string& user = "",
                     const std::string& password = "") {
    std::filesystem::create_directories(out_dir());
    std::vector<std::string> argv{"/usr/bin/python3",
                                  std::string(MEDFLOW_SOURCE_DIR) + "/tests/support/smtp_sink.py",
                                  "--out",
                                  out_dir(),
                                  "--mode",
                                  mode};
    if (mode != "plain") {
      std::string cmd =
          "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
          "-addext subjectAltName=IP:127.0.0.1 -keyout " +
          dir_.file("key.pem") + " -out " + cert_file() + " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
      argv.insert(argv.end(), {"--cert", cert_file(), "--key", dir_.file("key.pem")});
    }
    if (!user.empty()) argv.insert(argv.end(), {"--user", user, "--password", password});
    proc_ = std::make_unique<child_process>(argv, dir_.file("smtp.log"));
    auto port = proc_->wait_for_log(std::regex("listening on 127\\.0\\.0\\.1:([0-9]+)"),
                                    std::chrono::seconds(20));
    if (!port)
      throw std::runtime_error("aiosmtpd did not start (run scripts/setup.sh); its log: " +
                               proc_->log());
    port_ = std::stoi(*port);
  }

  int port() const { return port_; }
  std::string cert_file() const { return dir_.file("cert.pem"); }

  // Messages received so far, in order.
  std::vector<received_mail> received() const {
    std::vector<received_mail> out;
    for (int n = 1;; ++n) {
      char base[16];
      std::snprintf(base, sizeof base, "%04d", n);
      std::ifstream env(out_dir() + "/" + base + ".json"), eml(out_dir() + "/" + base + ".eml");
      if (!env || !eml) return out;
      auto j = nlohmann::json::parse(env);
      std::stringstream data;
      data << eml.rdbuf();
      out.push_back({j["mail_from"], j["rcpt_tos"], j["tls"], j["auth"], data.str()});
    }
  }

 private:
  std::string out_dir() const { return dir_.file("mail"); }
  temp_dir dir_;
  std::unique_ptr<child_process> proc_;  // after dir_: stopped before the directory goes
  int port_ = 0;
};

}  // namespace medflow::test
