#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mgit/execution/executor.hpp"

namespace mgit::test_support {

/// An Executor whose behaviour the test scripts per job id, recording when each call ran.
/// Calls block until `release(job_id)` when the job is scripted to wait.
class FakeExecutor final : public execution::Executor {
 public:
  struct Call {
    std::string job_id;
    std::string target;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point finished;
    std::chrono::steady_clock::time_point deadline;  ///< the one the scheduler gave
    std::vector<std::string> coalesced_job_ids;      ///< jobs this call also answers
  };
  using Script = std::function<tl::expected<jobs::ExecutionReport, jobs::JobError>(int attempt)>;

  void script(const std::string& job_id, Script script);
  void hold(const std::string& job_id);
  void release(const std::string& job_id);
  /// Blocks until `count` calls have started (or the timeout passes); returns whether they did.
  bool wait_for_started(std::size_t count, std::chrono::milliseconds timeout);

  std::vector<Call> calls() const;
  int max_concurrency() const;

  tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const observability::JobContext& ctx,
      const execution::ExecutionControl& control) override;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Script> scripts_;
  std::map<std::string, int> attempts_;
  std::map<std::string, bool> held_;
  std::vector<Call> calls_;
  std::size_t started_ = 0;
  int running_ = 0;
  int max_running_ = 0;
};

}  // namespace mgit::test_support
