#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "mgit/observability/health.hpp"

namespace mgit::daemon {

/// Checks every few seconds that the workspace takes a write and how much disk is free,
/// on its own thread: a hung volume (NFS, a dying disk) must stall this probe, not the
/// event loop or the HTTP thread that reports it.
class WorkspaceProbe {
 public:
  WorkspaceProbe(std::filesystem::path workspace, observability::HealthMonitor& health,
                 std::chrono::milliseconds interval);
  ~WorkspaceProbe();
  WorkspaceProbe(const WorkspaceProbe&) = delete;
  WorkspaceProbe& operator=(const WorkspaceProbe&) = delete;

  /// One check, synchronously (also used once before the thread starts).
  void check_now();

 private:
  void run();

  std::filesystem::path workspace_;
  observability::HealthMonitor& health_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mgit::daemon
