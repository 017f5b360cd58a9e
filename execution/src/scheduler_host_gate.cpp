// The scheduler's host gate: before each attempt a job's git host must admit it. A job the
// host cannot take now is parked (no worker held, its target kept busy so its later jobs keep
// their order) until the host's cool-down ends, a token refills or one of its running jobs
// ends; it is answered `rate_limited` instead when its deadline would pass first or its
// host's parked jobs already fill their share of the buffers. docs/rate-limits.md.

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "mgit/execution/scheduler.hpp"
#include "mgit/observability/log.hpp"
#include "scheduler_entry.hpp"

namespace mgit::execution {

namespace asio = boost::asio;
using observability::LogLevel;

namespace {

std::string_view waiting_for(HostWait wait) {
  switch (wait) {
    case HostWait::kCoolDown:
      return "is cooling down after throttling answers (HTTP 429/503 or a refused ssh "
             "connection)";
    case HostWait::kRate:
      return "is out of tokens (host_jobs_per_minute)";
    case HostWait::kConcurrency:
      return "runs its most concurrent jobs (host_max_concurrent_jobs)";
  }
  return "is throttled";
}

}  // namespace

std::string_view to_string(RateLimitAnswer answer) {
  switch (answer) {
    case RateLimitAnswer::kDeadline:
      return "deadline";
    case RateLimitAnswer::kShare:
      return "share";
    case RateLimitAnswer::kAttempts:
      return "attempts";
  }
  return "deadline";
}

std::size_t Scheduler::throttled_hosts() {
  const auto now = Clock::now();
  limiter_.forget_idle(now);
  return limiter_.cooling_down(now);
}

bool Scheduler::admit_to_host(const EntryPtr& entry, Clock::time_point now) {
  const auto admission = limiter_.acquire(entry->host, now);
  if (admission.granted) {
    entry->holds_host_slot = true;
    return true;
  }
  // The job's own limit: its deadline (which counts from its first turn) or not_after.
  auto limit = entry->deadline;
  if (entry->job.not_after) {
    const auto left = *entry->job.not_after - std::chrono::system_clock::now();
    limit = std::min(limit, now + std::chrono::duration_cast<Clock::duration>(left));
  }
  if (limit <= now || (admission.retry_at && *admission.retry_at > limit)) {
    answer_rate_limited(entry, RateLimitAnswer::kDeadline, admission.wait,
                        fmt::format("host '{}' {} past the job's deadline", entry->host,
                                    waiting_for(admission.wait)));
    return false;
  }
  const auto parked = parked_by_host_.find(entry->host);
  if (parked != parked_by_host_.end()) {
    const auto& queue = parked->second;
    const auto same_tag = static_cast<std::size_t>(std::count_if(
        queue.begin(), queue.end(), [&entry](const EntryPtr& p) { return p->tag == entry->tag; }));
    const auto partition_share = limiter_.settings().partition_share();
    const auto global_share = limiter_.settings().global_share();
    if ((partition_share > 0 && same_tag >= partition_share) ||
        (global_share > 0 && queue.size() >= global_share)) {
      answer_rate_limited(
          entry, RateLimitAnswer::kShare, admission.wait,
          fmt::format("host '{}' {}, and its waiting jobs fill their share of the buffers "
                      "(host_wait_share_percent)",
                      entry->host, waiting_for(admission.wait)));
      return false;
    }
  }
  park(entry, admission, limit);
  return false;
}

void Scheduler::park(const EntryPtr& entry, const HostAdmission& admission,
                     Clock::time_point limit) {
  entry->parked = true;
  parked_by_host_[entry->host].push_back(entry);
  ++parked_count_;
  observability::log(LogLevel::kDebug, entry->ctx, "job waits for its host",
                     {{"host", entry->host}, {"wait", to_string(admission.wait)}});
  entry->wait_timer = std::make_unique<asio::steady_timer>(io_, limit);
  entry->wait_timer->async_wait(
      [this, entry, wait = admission.wait](const boost::system::error_code& ec) {
        if (ec || !entry->parked) return;
        unpark(entry);
        answer_rate_limited(
            entry, RateLimitAnswer::kDeadline, wait,
            fmt::format("host '{}' {} until the job's deadline", entry->host, waiting_for(wait)));
      });
  if (!admission.retry_at) return;  // woken when one of the host's running jobs ends
  auto& wake = host_wakes_[entry->host];
  if (wake.timer && wake.at <= *admission.retry_at) return;
  if (!wake.timer) wake.timer = std::make_shared<asio::steady_timer>(io_);
  wake.at = *admission.retry_at;
  wake.timer->expires_at(wake.at);  // cancels a later wait-up, if any
  wake.timer->async_wait(
      [this, host = entry->host, timer = wake.timer](const boost::system::error_code& ec) {
        if (!ec) wake_host(host);
      });
}

void Scheduler::unpark(const EntryPtr& entry) {
  if (!entry->parked) return;
  entry->parked = false;
  if (entry->wait_timer) entry->wait_timer->cancel();
  const auto found = parked_by_host_.find(entry->host);
  if (found == parked_by_host_.end()) return;
  auto& queue = found->second;
  const auto at = std::find(queue.begin(), queue.end(), entry);
  if (at != queue.end()) {
    queue.erase(at);
    --parked_count_;
  }
  if (queue.empty()) {
    parked_by_host_.erase(found);
    if (const auto wake = host_wakes_.find(entry->host); wake != host_wakes_.end()) {
      wake->second.timer->cancel();
      host_wakes_.erase(wake);
    }
  }
}

void Scheduler::wake_host(const std::string& host) {
  if (const auto wake = host_wakes_.find(host); wake != host_wakes_.end()) {
    wake->second.timer->cancel();
    host_wakes_.erase(wake);
  }
  const auto found = parked_by_host_.find(host);
  if (found == parked_by_host_.end()) return;
  auto queue = std::move(found->second);
  parked_by_host_.erase(found);
  parked_count_ -= std::min(parked_count_, queue.size());
  // Back to the front of their targets' queues and of the ready list, oldest first: the gate
  // runs again for each of them, and whatever the host still cannot take parks again.
  // NOLINTNEXTLINE(modernize-loop-convert): newest first, so each lands in front of the older
  for (auto it = queue.rbegin(); it != queue.rend(); ++it) {
    const auto& entry = *it;
    entry->parked = false;
    if (entry->wait_timer) entry->wait_timer->cancel();
    waiting_by_target_[entry->job.target].push_front(entry);
    busy_targets_.erase(entry->job.target);
    ready_targets_.push_front(entry->job.target);
  }
  dispatch();
}

void Scheduler::release_host(const EntryPtr& entry,
                             const tl::expected<jobs::ExecutionReport, jobs::JobError>& outcome) {
  if (!entry->holds_host_slot) return;
  entry->holds_host_slot = false;
  auto host_outcome = HostOutcome::kOther;
  if (outcome) {
    host_outcome = HostOutcome::kSucceeded;
  } else if (outcome.error().code == jobs::ErrorCode::kRateLimited && !entry->cancelled.load()) {
    host_outcome = HostOutcome::kThrottled;
  }
  if (const auto cool_down = limiter_.release(entry->host, host_outcome, Clock::now())) {
    observability::log(LogLevel::kWarn, entry->ctx, "git host cooling down",
                       {{"host", entry->host},
                        {"level", cool_down->level},
                        {"cool_down_ms", static_cast<std::int64_t>(cool_down->duration.count())}});
    if (observer_ != nullptr) observer_->host_cooling_down(*cool_down, entry->ctx);
  }
  // A slot is free: parked jobs of the host may go (those waiting for a time park again).
  // Posted: the caller finishes this attempt's bookkeeping first.
  if (parked_by_host_.contains(entry->host)) {
    asio::post(io_, [this, host = entry->host] { wake_host(host); });
  }
}

void Scheduler::answer_rate_limited(const EntryPtr& entry, RateLimitAnswer answer, HostWait wait,
                                    std::string message) {
  observability::log(LogLevel::kWarn, entry->ctx, "job answered rate_limited",
                     {{"host", entry->host},
                      {"reason", to_string(answer)},
                      {"wait", to_string(wait)},
                      {"attempt", entry->attempts}});
  if (observer_ != nullptr) {
    observer_->job_rate_limited(RateLimitedJob{entry->job, entry->ctx, entry->host, answer, wait});
  }
  answer_at_turn(entry, jobs::JobError{jobs::ErrorCode::kRateLimited, std::move(message)},
                 jobs::Status::kFailed);
}

std::vector<Scheduler::EntryPtr> Scheduler::parked_with_tag(std::uint64_t tag) const {
  std::vector<EntryPtr> out;
  for (const auto& [host, queue] : parked_by_host_) {
    for (const auto& entry : queue) {
      if (entry->tag == tag) out.push_back(entry);
    }
  }
  return out;
}

}  // namespace mgit::execution
