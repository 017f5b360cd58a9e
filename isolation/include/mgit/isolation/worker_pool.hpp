#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mgit/execution/executor.hpp"
#include "mgit/isolation/worker.hpp"
#include "mgit/security/credentials.hpp"

namespace mgit::isolation {

class WorkerProcess;

struct WorkerPoolSettings {
  /// The program a worker runs, and its arguments: the daemon's own binary in worker mode.
  std::filesystem::path executable{"/proc/self/exe"};
  std::vector<std::string> arguments{"worker-process"};
  /// Handed to every worker; `supervisor_pid` is filled in by the pool.
  WorkerSetup setup;
  /// The worker's HOME: an empty private directory (libgit2's ssh wants one), created 0700.
  std::filesystem::path home;
  /// Where the job's credential is read, by the supervisor; null: no job may name one.
  const security::CredentialSource* credentials = nullptr;
  /// A worker that reports no progress for this long is killed; its job ends `timeout`.
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(60)};
  /// A worker is replaced after this many jobs, so no slow leak outlives it.
  int max_jobs_per_worker = 1000;
  /// How long a retiring worker may take to exit before it is killed.
  std::chrono::milliseconds retire_wait{std::chrono::seconds(2)};
  /// Told why a worker was replaced: deadline, stall, crash, protocol, cancel (shutdown, revoke),
  /// recycle, spawn_failure. Called on the executing thread.
  std::function<void(std::string_view reason)> on_worker_replaced;
};

/// Runs each job in a long-lived worker process, one job per worker at a time, and never
/// calls libgit2 itself. The calling thread supervises its job's worker: it kills the worker
/// when the job passes its deadline or reports no progress for `stall_timeout` (the job ends
/// `timeout`, retryable), when the owner cancels (shutdown: the job ends as cancelled, and
/// the scheduler gives no result), and answers `internal` when the worker dies on its own.
/// A killed or dead worker is replaced on the next job. Spawning backs off while spawns fail
/// or workers keep dying on their own (a broken binary or library must not become a tight
/// respawn loop); a worker that answers a job resets that.
/// Thread-safe: the scheduler calls `execute` from several threads.
class WorkerPool final : public execution::Executor {
 public:
  explicit WorkerPool(WorkerPoolSettings settings);
  /// Asks idle workers to exit and reaps them (killing those that linger).
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const observability::JobContext& ctx,
      const execution::ExecutionControl& control) override;

  /// Starts `count` workers now (they initialise in parallel) and keeps them idle, so the first
  /// jobs of a fresh daemon do not each wait for a process to start (exec, sandbox, libgit2, CA
  /// file). One that fails to start is started with a job later, as without this. Call it from a
  /// thread that lives as long as the pool: the workers die with the thread that spawned them.
  void start_workers(std::size_t count);

 private:
  using WorkerPtr = std::unique_ptr<WorkerProcess>;

  tl::expected<WorkerPtr, jobs::JobError> acquire(const observability::JobContext& ctx,
                                                  const execution::ExecutionControl& control);
  tl::expected<WorkerPtr, std::string> start_worker();
  /// The two halves of start_worker: spawn and send the setup, then wait for `ready` until
  /// `deadline`.
  tl::expected<WorkerPtr, std::string> spawn_worker();
  tl::expected<WorkerPtr, std::string> await_ready(WorkerPtr worker,
                                                   std::chrono::steady_clock::time_point deadline);
  void release(WorkerPtr worker);
  void replaced(std::string_view reason) const;
  void died();

  WorkerPoolSettings settings_;
  std::mutex mutex_;
  std::vector<WorkerPtr> idle_;
  int spawn_failures_ = 0;  ///< consecutive failed spawns and deaths; guarded by mutex_
  bool sandbox_logged_ = false;
};

}  // namespace mgit::isolation
