#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "mgit/basics/file_descriptor.hpp"

namespace mgit::test_support {

/// A TCP listener on `address` (an IPv4 or IPv6 literal, port chosen by the kernel) that
/// accepts and closes every connection and counts them: the proof that a denied job made no
/// connection is that `accepted()` stays 0. Accepts on its own thread until destroyed.
class CountingListener {
 public:
  explicit CountingListener(const std::string& address);
  ~CountingListener();
  CountingListener(const CountingListener&) = delete;
  CountingListener& operator=(const CountingListener&) = delete;

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  std::uint16_t port_ = 0;  // before listener_: set while listener_ is initialized
  basics::FileDescriptor listener_;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
};

/// A port on `address` with nothing listening (bound, then closed), for "closed port" probes.
std::uint16_t closed_port(const std::string& address);

}  // namespace mgit::test_support
