#pragma once

#include <atomic>
#include <chrono>
#include <tl/expected.hpp>

#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"

namespace mgit::execution {

/// Lets a running execution notice that it should stop (deadline passed, shutdown).
struct ExecutionControl {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;

  [[nodiscard]] bool should_stop() const {
    return std::chrono::steady_clock::now() >= deadline ||
           (cancelled != nullptr && cancelled->load(std::memory_order_relaxed));
  }
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
