#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "loopback_server.hpp"

namespace mgit::test_support {

/// A git "remote" on loopback that misbehaves the way real ones do, for the stall tests.
///   kSilent:  accepts and never answers;
///   kTrickle: answers an HTTP status line one byte every 500 ms, forever (below any
///             progress threshold: libgit2 never gets a whole response to report on);
///   kMidPack: forwards to a real git server, but stops forwarding the answer to the pack
///             request (the POST) after `pack_budget` bytes and holds the connection open.
/// Threads per connection; the destructor closes everything and joins them.
class StallingRemote {
 public:
  enum class Mode { kSilent, kTrickle, kMidPack };

  /// `upstream_port` is the real server's (kMidPack only).
  explicit StallingRemote(Mode mode, std::uint16_t upstream_port = 0,
                          std::size_t pack_budget = 4096);
  ~StallingRemote() = default;
  StallingRemote(const StallingRemote&) = delete;
  StallingRemote& operator=(const StallingRemote&) = delete;

  std::uint16_t port() const { return server_.port(); }
  /// kMidPack: how many bytes of each pack answer pass before the stall (from the next
  /// chunk on); a huge value makes it a plain proxy.
  void set_pack_budget(std::size_t bytes) { pack_budget_ = bytes; }
  /// kMidPack: answers to pack requests that reached the budget and are now held.
  int stalled_packs() const { return stalled_packs_.load(); }
  /// Connections accepted so far.
  int connections() const { return server_.connections(); }

 private:
  void serve(int client);
  void proxy(int client);

  Mode mode_;
  std::uint16_t upstream_port_;
  std::atomic<std::size_t> pack_budget_;
  std::atomic<int> stalled_packs_{0};
  LoopbackServer server_;  ///< last: its threads stop before the members they use go
};

}  // namespace mgit::test_support
