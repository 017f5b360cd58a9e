#include "support/fake_executor.hpp"

namespace mgit::test_support {

void FakeExecutor::script(const std::string& job_id, Script script) {
  std::lock_guard lock(mutex_);
  scripts_[job_id] = std::move(script);
}

void FakeExecutor::hold(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  held_[job_id] = true;
}

void FakeExecutor::release(const std::string& job_id) {
  {
    std::lock_guard lock(mutex_);
    held_[job_id] = false;
  }
  changed_.notify_all();
}

bool FakeExecutor::wait_for_started(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return started_ >= count; });
}

std::vector<FakeExecutor::Call> FakeExecutor::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

int FakeExecutor::max_concurrency() const {
  std::lock_guard lock(mutex_);
  return max_running_;
}

tl::expected<jobs::ExecutionReport, jobs::JobError> FakeExecutor::execute(
    const jobs::Job& job, const observability::JobContext& /*ctx*/,
    const execution::ExecutionControl& control) {
  Call call{job.job_id, job.target,       std::chrono::steady_clock::now(),
            {},         control.deadline, job.coalesced_job_ids};
  Script script;
  int attempt = 0;
  {
    std::unique_lock lock(mutex_);
    ++started_;
    ++running_;
    max_running_ = std::max(max_running_, running_);
    attempt = ++attempts_[job.job_id];
    if (auto found = scripts_.find(job.job_id); found != scripts_.end()) script = found->second;
    changed_.notify_all();
    // Polls: cancellation is an atomic flag nobody notifies this condition variable about.
    while (held_[job.job_id] && !control.should_stop()) {
      changed_.wait_for(lock, std::chrono::milliseconds(10));
    }
  }
  tl::expected<jobs::ExecutionReport, jobs::JobError> outcome = jobs::ExecutionReport{};
  if (control.cancel_requested()) {
    outcome = tl::make_unexpected(control.stop_error("while held"));  // as a killed worker
  } else if (script) {
    outcome = script(attempt);
  }
  call.finished = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    --running_;
    calls_.push_back(call);
  }
  changed_.notify_all();
  return outcome;
}

}  // namespace mgit::test_support
