#include "stalling_remote.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string_view>

namespace mgit::test_support {

StallingRemote::StallingRemote(Mode mode, std::uint16_t upstream_port, std::size_t pack_budget)
    : mode_(mode),
      upstream_port_(upstream_port),
      pack_budget_(pack_budget),
      server_([this](int client) {
        if (mode_ == Mode::kMidPack) {
          proxy(client);
        } else {
          serve(client);
        }
      }) {}

void StallingRemote::serve(int client) {
  constexpr std::string_view kStatus = "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-";
  std::size_t sent = 0;
  auto next_byte = std::chrono::steady_clock::now();
  char sink[4096];
  while (!server_.stopping()) {
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
  server_.track(upstream);
  std::atomic<bool> pack_requested{false};
  std::thread requests([&] {
    char buffer[65536];
    while (!server_.stopping()) {
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
  while (!server_.stopping()) {
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
  while (!server_.stopping() && readable(client) == false) {
  }
  requests.join();
}

}  // namespace mgit::test_support
