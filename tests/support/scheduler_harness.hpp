#pragma once

// A Scheduler's test bench: a real io_context, the FakeExecutor, and every completion
// recorded by job id and in order. Shared by the scheduler's unit tests.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "mgit/execution/scheduler.hpp"
#include "support/fake_executor.hpp"

namespace mgit::test_support {

/// A valid `sync` job for `https://git.example.com/<target>` into `target`.
inline jobs::Job sync_job(const std::string& id, const std::string& target) {
  jobs::Job job;
  job.job_id = id;
  job.correlation_id = id;
  job.operation = jobs::Operation::kSync;
  job.repository_url = "https://git.example.com/" + target;
  job.repository_key = job.repository_url;
  job.target = target;
  return job;
}

class SchedulerHarness : public ::testing::Test {
 protected:
  /// Two workers, three attempts, millisecond backoff; coalescing as the scheduler's default.
  static execution::SchedulerSettings fast_settings() {
    using namespace std::chrono_literals;
    execution::SchedulerSettings s;
    s.workers = 2;
    s.max_attempts = 3;
    s.backoff_base = 1ms;
    s.backoff_max = 5ms;
    return s;
  }

  void submit(execution::Scheduler& scheduler, jobs::Job job, std::uint64_t tag = 1) {
    const std::string id = job.job_id;
    scheduler.submit(std::move(job), observability::JobContext{id, id, "t", "s", "", "", true}, tag,
                     [this, id](execution::JobRun run) {
                       order_.push_back(id);
                       served_by_.push_back(run.served_by);
                       runs_.emplace(id, std::move(run));
                     });
  }

  /// Runs the loop until `count` completions (a job id submitted twice counts twice) or a
  /// generous timeout passes.
  void run_until_completed(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (order_.size() < count && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
  }

  /// Runs the loop until `count` executions started (the loop dispatches them).
  bool run_until_started(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!executor_.wait_for_started(count, std::chrono::milliseconds(1))) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
    return true;
  }

  boost::asio::io_context io_;
  FakeExecutor executor_;
  std::map<std::string, execution::JobRun> runs_;
  std::vector<std::string> order_;
  std::vector<std::string> served_by_;  ///< each completion's `served_by`, in order_'s order
};

}  // namespace mgit::test_support
