#include "stalling_remote.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string_view>

namespace mgit::test_support {
namespace {

int listen_loopback(std::uint16_t port, std::uint16_t* bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0) {
    throw std::runtime_error("stalling remote: cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *bound = ntohs(address.sin_port);
  return fd;
}

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Waits up to 200 ms for `fd` to be readable, so loops notice `stopping`.
bool readable(int fd) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, 200) > 0;
}

}  // namespace

StallingRemote::StallingRemote(Mode mode, std::uint16_t upstream_port, std::size_t pack_budget)
    : mode_(mode), upstream_port_(upstream_port), pack_budget_(pack_budget) {
  listener_ = listen_loopback(0, &port_);
  acceptor_ = std::thread([this] { accept_loop(); });
}

StallingRemote::~StallingRemote() {
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

void StallingRemote::track(int fd) {
  const std::lock_guard lock(mutex_);
  open_fds_.push_back(fd);
}

void StallingRemote::accept_loop() {
  while (!stopping_) {
    if (!readable(listener_)) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    track(client);
    const std::lock_guard lock(mutex_);
    threads_.emplace_back([this, client] {
      if (mode_ == Mode::kMidPack) {
        proxy(client);
      } else {
        serve(client);
      }
    });
  }
}

void StallingRemote::serve(int client) {
  constexpr std::string_view kStatus = "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-";
  std::size_t sent = 0;
  auto next_byte = std::chrono::steady_clock::now();
  char sink[4096];
  while (!stopping_) {
    if (readable(client) && ::recv(client, sink, sizeof sink, 0) <= 0) return;
    if (mode_ != Mode::kTrickle || std::chrono::steady_clock::now() < next_byte) continue;
    // The status line and headers, a byte at a time, never reaching the body.
    ::send(client, &kStatus[sent % kStatus.size()], 1, MSG_NOSIGNAL);
    ++sent;
    next_byte += std::chrono::milliseconds(500);
  }
}

void StallingRemote::proxy(int client) {
  const int upstream = connect_loopback(upstream_port_);
  if (upstream < 0) return;
  track(upstream);
  std::atomic<bool> pack_requested{false};
  std::thread requests([&] {
    char buffer[65536];
    while (!stopping_) {
      if (!readable(client)) continue;
      const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      if (std::string_view(buffer, static_cast<std::size_t>(got)).find("POST ") !=
          std::string_view::npos) {
        pack_requested = true;
      }
      if (::send(upstream, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL) != got) break;
    }
  });
  char buffer[65536];
  std::size_t forwarded_after_post = 0;
  bool counted_stall = false;
  while (!stopping_) {
    if (!readable(upstream)) continue;
    std::size_t room = sizeof buffer;
    if (pack_requested) {
      const std::size_t budget = pack_budget_;
      if (forwarded_after_post >= budget) {  // stall: hold everything
        if (!counted_stall) ++stalled_packs_;
        counted_stall = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      room = std::min(room, budget - forwarded_after_post);
    }
    const ssize_t got = ::recv(upstream, buffer, room, 0);
    if (got <= 0) break;
    if (pack_requested) forwarded_after_post += static_cast<std::size_t>(got);
    if (::send(client, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL) != got) break;
  }
  // Hold the client until the test ends, as a stalled server would.
  while (!stopping_ && readable(client) == false) {
  }
  requests.join();
}

}  // namespace mgit::test_support
