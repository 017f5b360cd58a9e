#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace mgit::test_support {

struct HttpResult {
  unsigned status = 0;  ///< 0: no answer (refused, timeout, reset)
  std::string body;
  std::string content_type;
  std::string allow;
  std::chrono::microseconds elapsed{0};
  std::string error;
};

/// One HTTP/1.1 request on a fresh connection to 127.0.0.1:port, with a deadline.
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5),
                        const std::string& body = "");

/// The port a daemon logged in its "http listening" line (it binds port 0 in tests).
class DaemonProcess;
std::optional<std::uint16_t> wait_for_http_port(const DaemonProcess& daemon,
                                                std::chrono::milliseconds timeout);

}  // namespace mgit::test_support
