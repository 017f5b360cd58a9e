#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"

namespace mgit::execution {

/// Counters a running execution reports, so a supervisor can tell a slow job from a stalled
/// one: any counter that grows is progress.
struct Progress {
  std::uint64_t received_bytes = 0;
  std::uint64_t received_objects = 0;
  std::uint64_t indexed_objects = 0;
  std::uint64_t indexed_deltas = 0;
  std::uint64_t sideband_messages = 0;  ///< remote's progress text ("Counting objects …")
  std::uint64_t checkout_steps = 0;
  std::uint64_t waiting_polls = 0;  ///< waiting for a lock another process holds is not a stall

  friend bool operator==(const Progress&, const Progress&) = default;
};

/// Receives an execution's progress reports. Called on the executing thread, from inside
/// libgit2 callbacks, possibly thousands of times a second: implementations throttle.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void report(const Progress& progress) = 0;
};

/// Lets a running execution notice that it should stop (deadline passed, shutdown).
struct ExecutionControl {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;
  ProgressSink* progress = nullptr;  ///< null: nobody watches

  void report(const Progress& counters) const {
    if (progress != nullptr) progress->report(counters);
  }

  [[nodiscard]] bool should_stop() const {
    return std::chrono::steady_clock::now() >= deadline || cancel_requested();
  }

  /// Whether the owner asked the execution to stop (shutdown, revoke), as opposed to its
  /// deadline passing.
  [[nodiscard]] bool cancel_requested() const {
    return cancelled != nullptr && cancelled->load(std::memory_order_relaxed);
  }

  /// The error for an execution that stopped because of `should_stop()`, so every executor
  /// words it alike: cancelled → `internal` "cancelled <when>" (a stop the job did not
  /// cause), else `timeout` "deadline passed <when>". `when` completes the sentence:
  /// "during fetch", "while waiting for the target lock".
  [[nodiscard]] jobs::JobError stop_error(std::string_view when) const;
};

/// Runs one job against its target. The scheduler guarantees that no two calls for the
/// same target overlap within this process; implementations add a cross-process lock.
/// Called on a worker thread; blocking; must be thread-safe across different targets.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const observability::JobContext& ctx,
      const ExecutionControl& control) = 0;
};

}  // namespace mgit::execution
