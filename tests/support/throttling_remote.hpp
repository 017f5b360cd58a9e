#pragma once

#include <atomic>
#include <cstdint>

#include "loopback_server.hpp"

namespace mgit::test_support {

/// An HTTP proxy on loopback in front of the real git server that throttles like a busy git
/// host: while told to, it answers each new connection's first request with `status` (429 Too
/// Many Requests by default) and closes; otherwise it forwards the connection to the server
/// byte for byte. Real sockets, a thread per connection; the destructor closes and joins all.
class ThrottlingRemote {
 public:
  explicit ThrottlingRemote(std::uint16_t upstream_port, int status = 429);
  ~ThrottlingRemote() = default;
  ThrottlingRemote(const ThrottlingRemote&) = delete;
  ThrottlingRemote& operator=(const ThrottlingRemote&) = delete;

  std::uint16_t port() const { return server_.port(); }
  /// Throttle every request from now on (true) or none (false).
  void set_throttling(bool on) { throttling_ = on; }
  /// Requests answered with the throttling status, and connections forwarded, so far.
  int throttled() const { return throttled_.load(); }
  int forwarded() const { return forwarded_.load(); }

 private:
  void serve(int client);

  std::uint16_t upstream_port_;
  int status_;
  std::atomic<bool> throttling_{false};
  std::atomic<int> throttled_{0};
  std::atomic<int> forwarded_{0};
  LoopbackServer server_;  ///< last: its threads stop before the members they use go
};

}  // namespace mgit::test_support
