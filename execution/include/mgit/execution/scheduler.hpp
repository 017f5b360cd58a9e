#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tl/expected.hpp>
#include <unordered_map>
#include <vector>

#include "mgit/execution/executor.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"

namespace mgit::execution {

struct SchedulerSettings {
  int workers = 4;
  int max_attempts = 3;
  std::chrono::seconds default_timeout{600};
  /// Caps every job's deadline, whatever its `timeout_seconds` asks.
  std::chrono::seconds max_timeout{3600};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
};

/// One execution of a job, for its `git.<operation>` span and the retry counter.
struct AttemptRecord {
  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;
  std::optional<jobs::JobError> error;  ///< unset when the attempt succeeded
};

/// How one submitted job ended.
struct JobRun {
  tl::expected<jobs::ExecutionReport, jobs::JobError> outcome;
  jobs::Status status = jobs::Status::kFailed;
  int attempts = 0;
  std::chrono::milliseconds queue_time{0};  ///< submit -> first start
  std::chrono::milliseconds run_time{0};    ///< first start -> end, retries included
  bool withdrawn = false;                   ///< removed before it ran (revoke, shutdown)
  std::vector<AttemptRecord> attempt_log;   ///< in order; empty when it never ran
};

using JobCompletion = std::function<void(JobRun)>;

/// Runs jobs on a worker pool: different targets in parallel (up to `workers`), one
/// target's jobs one at a time in submission order. Retryable failures are retried with
/// exponential backoff and jitter while the target's later jobs wait, but other targets
/// go on. Not thread-safe: every method and every completion runs on the io_context.
class Scheduler {
 public:
  Scheduler(boost::asio::io_context& io, Executor& executor, SchedulerSettings settings);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Queues a job. `tag` groups jobs for `withdraw` (the pipeline uses the partition).
  /// `done` is called exactly once, on the io_context.
  void submit(jobs::Job job, observability::JobContext ctx, std::uint64_t tag, JobCompletion done);

  /// Completes every queued or backing-off (not running) job with this tag as withdrawn.
  void withdraw(std::uint64_t tag);
  /// Withdraws everything not running and stops starting jobs (shutdown).
  void stop_accepting();
  /// Asks running executions to stop (a worker process is killed). A run that then ends in
  /// an error completes as withdrawn: no result, so its record is redelivered.
  void cancel_running();
  /// The same for the running jobs of one tag (a partition revoked past its grace, or lost).
  void cancel_running(std::uint64_t tag);

  std::size_t running() const { return running_.size(); }
  /// Time since the oldest running job first started (its deadline counts from then).
  std::optional<std::chrono::steady_clock::duration> oldest_running_age() const;
  /// How far the most overdue running job is past its deadline; nothing when none is.
  /// A job can overrun because libgit2 only checks the deadline in progress callbacks.
  std::optional<std::chrono::steady_clock::duration> longest_overrun() const;

  /// Waits for running executions (blocking) and joins the pool.
  void join();

 private:
  struct Entry;
  using EntryPtr = std::shared_ptr<Entry>;

  void dispatch();
  void start(const EntryPtr& entry);
  void finish_attempt(const EntryPtr& entry,
                      tl::expected<jobs::ExecutionReport, jobs::JobError> outcome,
                      std::chrono::system_clock::time_point finished);
  void complete(const EntryPtr& entry, JobRun run);
  void release_target(const std::string& target);
  std::chrono::milliseconds backoff_for(int attempt);

  boost::asio::io_context& io_;
  Executor& executor_;
  SchedulerSettings settings_;
  boost::asio::thread_pool pool_;
  std::atomic<bool> cancelled_{false};
  bool accepting_ = true;

  std::unordered_map<std::string, std::deque<EntryPtr>> waiting_by_target_;
  std::set<std::string> busy_targets_;  ///< running or backing off
  std::deque<std::string> ready_targets_;
  std::set<EntryPtr> running_;
  std::set<EntryPtr> backing_off_;
  std::mt19937_64 jitter_{std::random_device{}()};
};

}  // namespace mgit::execution
