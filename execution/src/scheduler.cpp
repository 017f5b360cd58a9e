#include "mgit/execution/scheduler.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <exception>

#include "mgit/jobs/repository_key.hpp"
#include "mgit/observability/log.hpp"
#include "scheduler_entry.hpp"

namespace mgit::execution {

namespace asio = boost::asio;
using observability::LogLevel;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t epoch_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds millis_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from);
}

/// Whether one execution of `leader` answers `other` as well as its own: the same work
/// (operation, repository, credential, ref, options) and the same limits. A clone is never
/// shared: the second clone of a target is a `conflict` of its own.
bool same_request(const jobs::Job& leader, const jobs::Job& other) {
  const auto& a = leader.options;
  const auto& b = other.options;
  return leader.operation != jobs::Operation::kClone && other.operation == leader.operation &&
         other.repository_url == leader.repository_url &&
         other.repository_key == leader.repository_key && other.credential == leader.credential &&
         other.ref == leader.ref && other.target == leader.target && a.prune == b.prune &&
         a.bare == b.bare && a.depth == b.depth && a.timeout_seconds == b.timeout_seconds &&
         a.submodules == b.submodules && a.ref_backup == b.ref_backup &&
         other.not_after == leader.not_after;
}

jobs::Status status_of(const tl::expected<jobs::ExecutionReport, jobs::JobError>& outcome) {
  if (outcome) return jobs::Status::kSucceeded;
  return jobs::is_rejection(outcome.error().code) ? jobs::Status::kRejected : jobs::Status::kFailed;
}

}  // namespace

Scheduler::Scheduler(asio::io_context& io, Executor& executor, const SchedulerSettings& settings)
    : io_(io),
      executor_(executor),
      settings_(settings),
      pool_(static_cast<std::size_t>(std::max(1, settings.workers))),
      limiter_(settings.hosts) {}

Scheduler::~Scheduler() { join(); }

void Scheduler::join() {
  cancel_running();
  pool_.join();
}

void Scheduler::submit(jobs::Job job, observability::JobContext ctx, std::uint64_t tag,
                       JobCompletion done) {
  auto entry = std::make_shared<Entry>();
  entry->job = std::move(job);
  entry->ctx = std::move(ctx);
  entry->tag = tag;
  entry->done = std::move(done);
  entry->host = jobs::host_of_repository_key(entry->job.repository_key);
  entry->submitted_at = Clock::now();
  if (!accepting_) {
    entry->withdrawn = true;
    complete(
        entry,
        JobRun{tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kInternal, "shutting down"}),
               jobs::Status::kFailed,
               0,
               {},
               {},
               true,
               {},
               {}});
    return;
  }
  const auto& target = entry->job.target;
  auto& queue = waiting_by_target_[target];
  queue.push_back(entry);
  if (queue.size() == 1 && !busy_targets_.contains(target)) ready_targets_.push_back(target);
  dispatch();
}

void Scheduler::dispatch() {
  while (running_.size() < static_cast<std::size_t>(settings_.workers) && !ready_targets_.empty()) {
    const std::string target = ready_targets_.front();
    ready_targets_.pop_front();
    // A withdraw can leave a stale entry behind; a busy target is pushed again when it is
    // released, so skipping it here keeps one job per target.
    if (busy_targets_.contains(target)) continue;
    auto found = waiting_by_target_.find(target);
    if (found == waiting_by_target_.end() || found->second.empty()) continue;
    auto entry = found->second.front();
    found->second.pop_front();
    if (found->second.empty()) waiting_by_target_.erase(found);
    busy_targets_.insert(target);
    start(entry);
  }
}

void Scheduler::answer_at_turn(const EntryPtr& entry, jobs::JobError error, jobs::Status status) {
  // first_started_at is set by start(): for a job answered while it waited to retry, the
  // queue time ends at its first attempt and the run time covers the attempts and backoff.
  const auto now = Clock::now();
  JobRun run{tl::make_unexpected(std::move(error)),
             status,
             entry->attempts,
             millis_between(entry->submitted_at, *entry->first_started_at),
             millis_between(*entry->first_started_at, now),
             false,
             std::move(entry->attempt_log),
             {}};
  complete(entry, std::move(run));
  asio::post(io_, [this, target = entry->job.target] { release_target(target); });
}

void Scheduler::start(const EntryPtr& entry) {
  const auto now = Clock::now();
  if (!entry->first_started_at) {
    entry->first_started_at = now;
    const auto timeout = std::min(entry->job.options.timeout_seconds
                                      ? std::chrono::seconds(*entry->job.options.timeout_seconds)
                                      : settings_.default_timeout,
                                  settings_.max_timeout);
    entry->deadline = now + timeout;
  }
  if (entry->job.not_after && std::chrono::system_clock::now() > *entry->job.not_after) {
    answer_at_turn(entry,
                   jobs::JobError{jobs::ErrorCode::kTimeout, "not_after passed before the job ran"},
                   jobs::Status::kExpired);
    return;
  }
  if (!admit_to_host(entry, now)) return;
  // Decided at dispatch, once: only jobs already consumed join, so none is answered with a
  // state older than its own request. Retries keep the group they started with.
  if (entry->attempts == 0 && settings_.coalesce) coalesce_behind(entry);
  ++entry->attempts;
  entry->attempt_started_at = now;
  entry->attempt_wall_start = std::chrono::system_clock::now();
  running_.insert(entry);
  if (cancelled_.load()) entry->cancelled = true;
  observability::log(LogLevel::kInfo, entry->ctx, "job started",
                     {{"target", entry->job.target},
                      {"operation", jobs::to_string(entry->job.operation)},
                      {"attempt", entry->attempts},
                      {"started_at_us", epoch_micros()}});
  asio::post(pool_, [this, entry] {
    const ExecutionControl control{entry->deadline, &entry->cancelled};
    tl::expected<jobs::ExecutionReport, jobs::JobError> outcome = tl::make_unexpected(
        jobs::JobError{jobs::ErrorCode::kInternal, "execution did not complete"});
    try {
      outcome = executor_.execute(entry->job, entry->ctx, control);
    } catch (const std::exception& e) {
      // An executor bug must cost one job, not the daemon.
      outcome = tl::make_unexpected(
          jobs::JobError{jobs::ErrorCode::kInternal, std::string("executor: ") + e.what()});
    }
    const auto finished = std::chrono::system_clock::now();
    const auto finished_us =
        std::chrono::duration_cast<std::chrono::microseconds>(finished.time_since_epoch()).count();
    asio::post(io_, [this, entry, outcome = std::move(outcome), finished, finished_us]() mutable {
      observability::log(LogLevel::kInfo, entry->ctx, "job attempt finished",
                         {{"target", entry->job.target},
                          {"attempt", entry->attempts},
                          {"finished_at_us", finished_us},
                          {"ok", outcome.has_value()}});
      finish_attempt(entry, std::move(outcome), finished);
    });
  });
}

void Scheduler::finish_attempt(const EntryPtr& entry,
                               tl::expected<jobs::ExecutionReport, jobs::JobError> outcome,
                               std::chrono::system_clock::time_point finished) {
  running_.erase(entry);
  release_host(entry, outcome);
  if (!outcome && entry->cancelled.load()) {
    // Stopped by shutdown, not by anything the job did: it belongs to the next owner of its
    // partition, so it gets no answer here.
    entry->withdrawn = true;
    complete(entry, JobRun{std::move(outcome),
                           jobs::Status::kFailed,
                           entry->attempts,
                           {},
                           {},
                           true,
                           std::move(entry->attempt_log),
                           {}});
    release_target(entry->job.target);
    return;
  }
  entry->attempt_log.push_back(
      AttemptRecord{entry->attempt_wall_start, finished,
                    outcome ? std::nullopt : std::optional<jobs::JobError>(outcome.error())});
  const auto now = Clock::now();
  const bool may_retry = !outcome && outcome.error().retryable() &&
                         entry->attempts < settings_.max_attempts && accepting_ &&
                         !cancelled_.load();
  if (may_retry) {
    const auto delay = backoff_for(entry->attempts);
    if (now + delay < entry->deadline) {
      observability::log(LogLevel::kWarn, entry->ctx, "job attempt failed, retrying",
                         {{"error_code", jobs::to_string(outcome.error().code)},
                          {"error", outcome.error().message},
                          {"attempt", entry->attempts},
                          {"backoff_ms", static_cast<std::int64_t>(delay.count())}});
      // The target stays busy so its later jobs keep their order; the worker slot is free.
      entry->backoff_timer = std::make_unique<asio::steady_timer>(io_, delay);
      backing_off_.insert(entry);
      entry->backoff_timer->async_wait([this, entry](const boost::system::error_code&) {
        backing_off_.erase(entry);
        if (entry->withdrawn) {
          release_target(entry->job.target);
          return;
        }
        // Back to the front of its target's queue: it is still the oldest.
        auto& queue = waiting_by_target_[entry->job.target];
        queue.push_front(entry);
        busy_targets_.erase(entry->job.target);
        ready_targets_.push_front(entry->job.target);
        dispatch();
      });
      dispatch();
      return;
    }
  }
  if (!outcome && outcome.error().code == jobs::ErrorCode::kRateLimited && observer_ != nullptr) {
    observer_->job_rate_limited(RateLimitedJob{entry->job, entry->ctx, entry->host,
                                               RateLimitAnswer::kAttempts, HostWait::kCoolDown});
  }
  JobRun run;
  run.status = status_of(outcome);
  run.outcome = std::move(outcome);
  run.attempts = entry->attempts;
  run.queue_time = millis_between(entry->submitted_at, *entry->first_started_at);
  run.run_time = millis_between(*entry->first_started_at, now);
  run.attempt_log = std::move(entry->attempt_log);
  complete(entry, std::move(run));
  release_target(entry->job.target);
}

void Scheduler::coalesce_behind(const EntryPtr& leader) {
  const auto found = waiting_by_target_.find(leader->job.target);
  if (found == waiting_by_target_.end()) return;
  auto& queue = found->second;
  // Only the run right behind it: a job that asks for something else keeps its place, and
  // so does every job after it.
  while (!queue.empty() && leader->followers.size() < settings_.max_coalesced) {
    const auto& next = queue.front();
    if (next->tag != leader->tag || !same_request(leader->job, next->job)) break;
    // The same job id twice (a producer's retry) is never one group: its result would name
    // itself in `served_by`. Left queued, it runs next and the target's record answers it.
    const auto& ids = leader->job.coalesced_job_ids;
    if (next->job.job_id == leader->job.job_id ||
        std::find(ids.begin(), ids.end(), next->job.job_id) != ids.end()) {
      break;
    }
    next->first_started_at = Clock::now();  // its wait ends with the execution that answers it
    leader->job.coalesced_job_ids.push_back(next->job.job_id);
    observability::log(LogLevel::kInfo, next->ctx, "job coalesced",
                       {{"target", next->job.target}, {"served_by", leader->job.job_id}});
    leader->followers.push_back(next);
    queue.pop_front();
  }
  if (queue.empty()) waiting_by_target_.erase(found);
}

void Scheduler::complete(const EntryPtr& entry, JobRun run) {
  auto followers = std::move(entry->followers);
  entry->followers.clear();
  std::vector<JobRun> follower_runs;
  follower_runs.reserve(followers.size());
  for (const auto& follower : followers) {
    JobRun copy = run;
    copy.served_by = entry->job.job_id;
    if (follower->first_started_at && !run.withdrawn) {
      copy.queue_time = millis_between(follower->submitted_at, *follower->first_started_at);
    }
    follower_runs.push_back(std::move(copy));
  }
  auto done = std::move(entry->done);
  entry->done = nullptr;
  if (done) done(std::move(run));
  // After the job that ran, in the order they were submitted.
  for (std::size_t i = 0; i < followers.size(); ++i) {
    followers[i]->withdrawn = entry->withdrawn;
    auto follower_done = std::move(followers[i]->done);
    followers[i]->done = nullptr;
    if (follower_done) follower_done(std::move(follower_runs[i]));
  }
}

void Scheduler::release_target(const std::string& target) {
  busy_targets_.erase(target);
  const auto found = waiting_by_target_.find(target);
  if (found != waiting_by_target_.end() && !found->second.empty()) ready_targets_.push_back(target);
  dispatch();
}

void Scheduler::withdraw(std::uint64_t tag) {
  std::vector<EntryPtr> withdrawn;
  for (auto it = waiting_by_target_.begin(); it != waiting_by_target_.end();) {
    auto& queue = it->second;
    for (auto q = queue.begin(); q != queue.end();) {
      if ((*q)->tag == tag) {
        withdrawn.push_back(*q);
        q = queue.erase(q);
      } else {
        ++q;
      }
    }
    it = queue.empty() ? waiting_by_target_.erase(it) : std::next(it);
  }
  for (const auto& entry : backing_off_) {
    if (entry->tag == tag && !entry->withdrawn) withdrawn.push_back(entry);
  }
  // Parked jobs hold their target like backing-off ones: released once answered.
  const auto parked = parked_with_tag(tag);
  for (const auto& entry : parked) unpark(entry);
  withdrawn.insert(withdrawn.end(), parked.begin(), parked.end());
  for (const auto& entry : withdrawn) {
    entry->withdrawn = true;
    if (entry->backoff_timer) entry->backoff_timer->cancel();
    complete(entry,
             JobRun{tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kInternal, "withdrawn"}),
                    jobs::Status::kFailed,
                    entry->attempts,
                    {},
                    {},
                    true,
                    {},
                    {}});
  }
  for (const auto& entry : parked) {
    // Posted: withdraw runs inside the pipeline's revoke handling, which must finish first.
    asio::post(io_, [this, target = entry->job.target] { release_target(target); });
  }
}

void Scheduler::stop_accepting() {
  accepting_ = false;
  std::set<std::uint64_t> tags;
  for (const auto& [target, queue] : waiting_by_target_) {
    for (const auto& entry : queue) tags.insert(entry->tag);
  }
  for (const auto& entry : backing_off_) tags.insert(entry->tag);
  for (const auto& [host, queue] : parked_by_host_) {
    for (const auto& entry : queue) tags.insert(entry->tag);
  }
  for (const auto tag : tags) withdraw(tag);
}

void Scheduler::cancel_running() {
  cancelled_.store(true);
  for (const auto& entry : running_) entry->cancelled = true;
}

void Scheduler::cancel_running(std::uint64_t tag) {
  for (const auto& entry : running_) {
    if (entry->tag == tag) entry->cancelled = true;
  }
}

std::optional<Clock::duration> Scheduler::oldest_running_age() const {
  std::optional<Clock::time_point> oldest;
  for (const auto& entry : running_) {
    if (!oldest || *entry->first_started_at < *oldest) oldest = *entry->first_started_at;
  }
  if (!oldest) return std::nullopt;
  return Clock::now() - *oldest;
}

std::optional<Clock::duration> Scheduler::longest_overrun() const {
  const auto now = Clock::now();
  std::optional<Clock::duration> longest;
  for (const auto& entry : running_) {
    if (entry->deadline >= now) continue;
    const auto overrun = now - entry->deadline;
    if (!longest || overrun > *longest) longest = overrun;
  }
  return longest;
}

std::chrono::milliseconds Scheduler::backoff_for(int attempt) {
  const auto exponent = std::min(attempt - 1, 16);
  const auto base = settings_.backoff_base * (1LL << exponent);
  const auto capped = std::min<std::chrono::milliseconds>(base, settings_.backoff_max);
  // Full jitter in [capped/2, capped] spreads retries of many jobs hitting one remote.
  std::uniform_int_distribution<std::int64_t> spread(capped.count() / 2, capped.count());
  return std::chrono::milliseconds(spread(jitter_));
}

}  // namespace mgit::execution
