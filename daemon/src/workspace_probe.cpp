#include "workspace_probe.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "state_file.hpp"

namespace mgit::daemon {

WorkspaceProbe::WorkspaceProbe(std::filesystem::path workspace,
                               observability::HealthMonitor& health,
                               std::chrono::milliseconds interval)
    : workspace_(std::move(workspace)), health_(health), interval_(interval) {
  check_now();
  thread_ = std::thread([this] { run(); });
}

WorkspaceProbe::~WorkspaceProbe() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WorkspaceProbe::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    check_now();
    lock.lock();
  }
}

void WorkspaceProbe::check_now() {
  // Under .mgitd/ (the daemon's own state), never where a target could live.
  const auto probe = workspace_ / ".mgitd" / "health-probe";
  bool writable = false;
  std::string detail;
  std::error_code ec;
  std::filesystem::create_directories(probe.parent_path(), ec);
  // Workers may write beneath the workspace: a FIFO planted at the probe's name must not hang
  // the health check (state_file.hpp).
  if (auto fd = create_state_file(probe); !fd) {
    detail = probe.string() + ": " + fd.error();
  } else {
    if (!write_all(fd->get(), "x")) {
      detail = "cannot write " + probe.string() + ": " + std::strerror(errno);
    } else {
      writable = true;
    }
    fd->reset();
    remove_state_file(probe);
  }

  std::optional<double> free_percent;
  struct statvfs stats {};
  if (::statvfs(workspace_.c_str(), &stats) == 0 && stats.f_blocks > 0) {
    // f_bavail: what an unprivileged writer (mgitd's user) can still use.
    free_percent =
        100.0 * static_cast<double>(stats.f_bavail) / static_cast<double>(stats.f_blocks);
  } else if (detail.empty()) {
    detail = "cannot stat the workspace filesystem: " + std::string(std::strerror(errno));
  }
  health_.report_workspace(writable, free_percent, detail);
  // Also from this thread: transitions (event_loop above all) are logged even when the event
  // loop, which logs them once a second, is the thing that stopped.
  health_.log_transitions(std::chrono::steady_clock::now());
}

}  // namespace mgit::daemon
