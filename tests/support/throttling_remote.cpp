#include "throttling_remote.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace mgit::test_support {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

/// Waits up to 200 ms for `fd` to be readable, so loops notice `stopping`.
bool readable(int fd) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, 200) > 0;
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

}  // namespace

ThrottlingRemote::ThrottlingRemote(std::uint16_t upstream_port, int status)
    : upstream_port_(upstream_port), status_(status) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = loopback(0);
  if (listener_ < 0 ||
      ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0) {
    throw std::runtime_error("throttling remote: cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ThrottlingRemote::~ThrottlingRemote() {
  stopping_ = true;
  acceptor_.join();
  ::close(listener_);
  {
    const std::lock_guard lock(mutex_);
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& thread : threads_) thread.join();
  for (const int fd : open_fds_) ::close(fd);
}

void ThrottlingRemote::track(int fd) {
  const std::lock_guard lock(mutex_);
  open_fds_.push_back(fd);
}

void ThrottlingRemote::accept_loop() {
  while (!stopping_) {
    if (!readable(listener_)) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    track(client);
    const std::lock_guard lock(mutex_);
    threads_.emplace_back([this, client] { serve(client); });
  }
}

void ThrottlingRemote::serve(int client) {
  // The first request's head decides; what was read of it is forwarded when not throttled.
  std::string head;
  char buffer[65536];
  while (!stopping_ && head.find("\r\n\r\n") == std::string::npos) {
    if (!readable(client)) continue;
    const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    head.append(buffer, static_cast<std::size_t>(got));
  }
  if (stopping_) return;
  if (throttling_) {
    ++throttled_;
    const auto answer = fmt::format(
        "HTTP/1.1 {} Throttled\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        status_);
    send_all(client, answer.data(), answer.size());
    ::shutdown(client, SHUT_WR);
    return;
  }
  const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = loopback(upstream_port_);
  if (upstream < 0) return;
  track(upstream);
  if (::connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
  ++forwarded_;
  if (!send_all(upstream, head.data(), head.size())) return;
  // Both directions until either side closes.
  while (!stopping_) {
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
