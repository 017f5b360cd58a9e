#include "throttling_remote.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

namespace mgit::test_support {

ThrottlingRemote::ThrottlingRemote(std::uint16_t upstream_port, int status)
    : upstream_port_(upstream_port),
      status_(status),
      server_([this](int client) { serve(client); }) {}

void ThrottlingRemote::serve(int client) {
  // The first request's head decides; what was read of it is forwarded when not throttled.
  std::string head;
  char buffer[65536];
  while (!server_.stopping() && head.find("\r\n\r\n") == std::string::npos) {
    if (!readable(client)) continue;
    const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    head.append(buffer, static_cast<std::size_t>(got));
  }
  if (server_.stopping()) return;
  if (throttling_) {
    ++throttled_;
    const auto answer = fmt::format(
        "HTTP/1.1 {} Throttled\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        status_);
    send_all(client, answer.data(), answer.size());
    ::shutdown(client, SHUT_WR);
    return;
  }
  const int upstream = connect_loopback(upstream_port_);
  if (upstream < 0) return;
  server_.track(upstream);
  ++forwarded_;
  if (!send_all(upstream, head.data(), head.size())) return;
  // Both directions until either side closes.
  while (!server_.stopping()) {
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        ::shutdown(client, SHUT_RDWR);
        ::shutdown(upstream, SHUT_RDWR);
        return;
      }
      if (!send_all(fds[1 - i].fd, buffer, static_cast<std::size_t>(got))) return;
    }
  }
}

}  // namespace mgit::test_support
