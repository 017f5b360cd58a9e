#include "support/counting_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace mgit::test_support {
namespace {

/// A bound socket on `address`:0; its port in `port`.
basics::FileDescriptor bind_any_port(const std::string& address, std::uint16_t& port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    length = sizeof *v6;
  } else {
    throw std::runtime_error("not an address literal: " + address);
  }
  basics::FileDescriptor fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    throw std::runtime_error("cannot bind " + address + ": " + std::strerror(errno));
  }
  port = ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

}  // namespace

CountingListener::CountingListener(const std::string& address)
    : listener_(bind_any_port(address, port_)) {
  if (::listen(listener_.get(), 64) != 0) throw std::runtime_error("listen failed");
  acceptor_ = std::thread([this] {
    while (!stop_.load()) {
      pollfd ready{listener_.get(), POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      basics::FileDescriptor connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (connection) accepted_.fetch_add(1);
    }
  });
}

CountingListener::~CountingListener() {
  stop_.store(true);
  acceptor_.join();
}

std::uint16_t closed_port(const std::string& address) {
  std::uint16_t port = 0;
  bind_any_port(address, port);  // closed again at once: nothing listens there
  return port;
}

}  // namespace mgit::test_support
