#pragma once

// Private to the scheduler: one submitted job, shared by scheduler.cpp and the host gate
// (scheduler_host_gate.cpp).

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mgit/execution/scheduler.hpp"

namespace mgit::execution {

struct Scheduler::Entry {
  jobs::Job job;
  observability::JobContext ctx;
  std::uint64_t tag = 0;
  JobCompletion done;
  std::string host;  ///< jobs::host_of_repository_key(job.repository_key)
  Clock::time_point submitted_at;
  std::optional<Clock::time_point> first_started_at;
  Clock::time_point attempt_started_at;
  std::chrono::system_clock::time_point attempt_wall_start;
  std::vector<AttemptRecord> attempt_log;
  Clock::time_point deadline = Clock::time_point::max();
  int attempts = 0;
  bool withdrawn = false;
  bool holds_host_slot = false;  ///< acquired from the limiter, released when the attempt ends
  bool parked = false;           ///< waiting for its host, in parked_by_host_
  /// Read by the executing thread (ExecutionControl::cancelled), set on the io_context.
  std::atomic<bool> cancelled{false};
  std::unique_ptr<boost::asio::steady_timer> backoff_timer;
  /// While parked: answers the job `rate_limited` when its deadline comes first.
  std::unique_ptr<boost::asio::steady_timer> wait_timer;
  /// Jobs this entry's execution also answers, oldest first (burst coalescing). They hold
  /// no worker and no host slot, and complete with the entry.
  std::vector<std::shared_ptr<Entry>> followers;
};

}  // namespace mgit::execution
