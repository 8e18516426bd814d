// The service manager's notification protocol (systemd's sd_notify), spoken directly: one
// datagram of "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading '@'). Without $NOTIFY_SOCKET every call does nothing,
// so medflowd runs the same under systemd, under another supervisor or from a shell.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace medflow::net {

class service_notify {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  service_notify();
  // For tests: explicit values instead of the environment's (empty socket: disabled).
  service_notify(std::string socket, std::optional<std::chrono::microseconds> watchdog);

  bool enabled() const { return !socket_.empty(); }
  // Sends `state` (e.g. "READY=1", "STOPPING=1", "WATCHDOG=1"); returns "" or why it failed.
  std::string send(const std::string& state) const;
  // The watchdog's interval when the manager asked for one (WATCHDOG_USEC set, and
  // WATCHDOG_PID absent or ours): send WATCHDOG=1 at least this often.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace medflow::net
