#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mgit::test_support {

/// A TCP server on 127.0.0.1 (port chosen by the kernel) that hands each accepted connection
/// to `handler` on a thread of its own: the listening, accepting and teardown the test
/// remotes (StallingRemote, ThrottlingRemote) share. Destruction stops accepting, shuts down
/// every tracked descriptor so handlers blocked on them return, joins every thread, then
/// closes the descriptors. Handlers poll `stopping()` in their loops. An owner declares its
/// server after everything its handler uses, so the server goes first.
class LoopbackServer {
 public:
  using Handler = std::function<void(int client)>;

  explicit LoopbackServer(Handler handler);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] int connections() const { return connections_.load(); }
  [[nodiscard]] bool stopping() const { return stopping_.load(); }
  /// A descriptor a handler opened (an upstream connection) that teardown must shut down
  /// and close too.
  void track(int fd);

 private:
  void accept_loop();

  Handler handler_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

/// A connection to 127.0.0.1:`port`, -1 when refused.
int connect_loopback(std::uint16_t port);
/// Waits up to 200 ms for `fd` to be readable, so loops notice `stopping()`.
bool readable(int fd);
/// Sends all of `data`; false when the peer is gone.
bool send_all(int fd, const char* data, std::size_t size);

}  // namespace mgit::test_support
