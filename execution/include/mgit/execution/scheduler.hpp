#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
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
#include <string_view>
#include <tl/expected.hpp>
#include <unordered_map>
#include <vector>

#include "mgit/execution/executor.hpp"
#include "mgit/execution/host_limiter.hpp"
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
  /// Per git host caps, token buckets and cool-downs (docs/rate-limits.md); the defaults
  /// limit nothing but cool down a host that answers 429/503.
  HostLimitSettings hosts;
  /// Burst coalescing: when a target's job is dispatched, the jobs queued right behind it
  /// that ask for the same thing (docs/delivery.md, "Burst coalescing") are answered by its
  /// execution instead of each running its own. Off: every job runs on its own.
  bool coalesce = true;
  /// Most jobs one execution answers besides its own; the target's record keeps the last
  /// 256 served ids, so a group must fit in it with room for the next one.
  std::size_t max_coalesced = 127;
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
  /// The job whose execution answered this one (coalesced); empty when it ran itself.
  std::string served_by;
};

using JobCompletion = std::function<void(JobRun)>;

/// Why a job was answered `rate_limited` by the scheduler itself, without running (again).
enum class RateLimitAnswer {
  kDeadline,  ///< its host would not take it before its deadline (or not_after)
  kShare,     ///< its host's waiting jobs already fill their share of the buffers
  kAttempts,  ///< its host answered every attempt with throttling (max_attempts)
};

std::string_view to_string(RateLimitAnswer answer);

struct RateLimitedJob {
  const jobs::Job& job;
  const observability::JobContext& ctx;
  const std::string& host;
  RateLimitAnswer answer;
  HostWait wait;  ///< what the host was waiting for
};

/// Told about rate-limit trips (for metrics, logs and the audit log). Called on the
/// io_context; must not call back into the scheduler.
class RateLimitObserver {
 public:
  virtual ~RateLimitObserver() = default;
  /// `host` entered a cool-down; `ctx` is the job whose answer tripped it.
  virtual void host_cooling_down(const HostCoolDown& cool_down,
                                 const observability::JobContext& ctx) = 0;
  /// A job is answered `rate_limited` (its result follows): by the scheduler without running,
  /// or after its last attempt was throttled.
  virtual void job_rate_limited(const RateLimitedJob& job) = 0;
};

/// Runs jobs on a worker pool: different targets in parallel (up to `workers`), one
/// target's jobs one at a time in submission order. With `coalesce`, a dispatched job also
/// answers the jobs queued right behind it for the same target that ask for the same thing:
/// each still completes on its own, with `served_by` naming the job that ran. Retryable failures
/// are retried with exponential backoff and jitter while the target's later jobs wait, but other
/// targets go on. Before each attempt the job's git host must admit it (HostLimiter): a job whose
/// host is at its cap, out of tokens or cooling down waits without a worker while other hosts' jobs
/// go on, and is answered `rate_limited` when its deadline would pass first or its host's waiting
/// jobs fill their share of the buffers. Not thread-safe: every method and every completion runs on
/// the io_context.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  Scheduler(boost::asio::io_context& io, Executor& executor, const SchedulerSettings& settings);
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
  /// Jobs waiting for their host (cap, tokens, cool-down), holding no worker.
  std::size_t waiting_for_hosts() const { return parked_count_; }
  /// Hosts in a cool-down now; also forgets idle hosts' state.
  std::size_t throttled_hosts();
  /// May be null; outlives the scheduler's use of it (set before jobs are submitted).
  void set_rate_limit_observer(RateLimitObserver* observer) { observer_ = observer; }
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
  /// Completes the entry and every job coalesced into it (each with its own queue time).
  void complete(const EntryPtr& entry, JobRun run);
  /// Moves the jobs queued behind `leader` that its execution can answer into its group.
  void coalesce_behind(const EntryPtr& leader);
  /// Answers a job at its turn without another attempt (expired, rate limited), then frees
  /// its target from a posted handler: dispatch() is on the stack and must not recurse.
  void answer_at_turn(const EntryPtr& entry, jobs::JobError error, jobs::Status status);
  void release_target(const std::string& target);
  std::chrono::milliseconds backoff_for(int attempt);

  // The host gate (scheduler_host_gate.cpp).
  /// Takes a host slot for the entry's next attempt; false: it is parked or already answered.
  bool admit_to_host(const EntryPtr& entry, Clock::time_point now);
  void park(const EntryPtr& entry, const HostAdmission& admission, Clock::time_point limit);
  void unpark(const EntryPtr& entry);
  void wake_host(const std::string& host);
  void release_host(const EntryPtr& entry,
                    const tl::expected<jobs::ExecutionReport, jobs::JobError>& outcome);
  void answer_rate_limited(const EntryPtr& entry, RateLimitAnswer answer, HostWait wait,
                           std::string message);
  std::vector<EntryPtr> parked_with_tag(std::uint64_t tag) const;

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

  HostLimiter limiter_;
  RateLimitObserver* observer_ = nullptr;
  std::unordered_map<std::string, std::deque<EntryPtr>> parked_by_host_;
  std::size_t parked_count_ = 0;
  /// One timer per host with parked jobs that wait for a time (cool-down end, a token).
  struct HostWake {
    std::shared_ptr<boost::asio::steady_timer> timer;
    Clock::time_point at;
  };
  std::unordered_map<std::string, HostWake> host_wakes_;
};

}  // namespace mgit::execution
