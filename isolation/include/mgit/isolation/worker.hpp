#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mgit/execution/executor.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::isolation {

/// The descriptor a worker finds its end of the socket pair at.
constexpr int kWorkerSocketFd = 3;

/// What the supervisor tells a new worker before its first job.
struct WorkerSetup {
  std::string workspace;
  int min_free_disk_percent = 10;
  std::uint64_t memory_limit_bytes = 0;     ///< RLIMIT_DATA; 0 = none
  std::uint64_t file_size_limit_bytes = 0;  ///< RLIMIT_FSIZE; 0 = none
  std::uint64_t max_received_bytes = 0;     ///< per job; 0 = none
  std::uint64_t max_checkout_bytes = 0;     ///< per job; 0 = none
  std::uint64_t max_pack_objects = 0;       ///< 0 = libgit2's default
  std::string ca_file;                      ///< `git_ca_file`, readable inside Landlock; "" = none
  bool landlock = true;                     ///< confine file access where the kernel can
  std::string log_level = "info";
  std::int64_t supervisor_pid = 0;  ///< a worker whose parent is not this exits at once
  // The network policy, as configured (validated by the daemon's config).
  std::vector<std::string> network_allow;
  bool allow_plain_http = false;
  std::string follow_redirects = "none";
  std::string git_proxy;
  int connect_timeout_seconds = 10;
  int socket_timeout_seconds = 300;
  // The force-push safety net (git::RefBackupSettings), as configured.
  bool ref_backup = true;
  std::vector<std::string> ref_backup_namespaces{"refs/heads/", "refs/tags/"};
  int ref_backup_keep = 10;
  int ref_backup_max_age_days = 90;
};

/// Builds the worker's executor once its sandbox is in place. `credentials` answers only
/// the credential the supervisor sent with the current job, and lives as long as the worker.
using WorkerExecutorFactory = std::function<std::unique_ptr<execution::Executor>(
    const WorkerSetup& setup, const security::CredentialSource& credentials)>;

/// The worker side: hardens the process (parent-death signal, no new privileges, not
/// dumpable, rlimits, Landlock), then runs one job at a time as the supervisor asks over
/// `fd`, reporting progress, until the supervisor closes its end. Returns the exit code.
/// Runs in a process of its own, started by `WorkerPool` with the socket as `fd`.
int run_worker(int fd, const WorkerExecutorFactory& make_executor);

}  // namespace mgit::isolation
