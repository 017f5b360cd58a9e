#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>

#include "mgit/execution/scheduler.hpp"
#include "support/daemon_process.hpp"
#include "support/fake_executor.hpp"
#include "support/scheduler_harness.hpp"

namespace mgit::execution {
namespace {

using namespace std::chrono_literals;
using test_support::FakeExecutor;

class SchedulerTest : public test_support::SchedulerHarness {
 protected:
  static SchedulerSettings settings() {
    auto s = fast_settings();
    s.coalesce = false;  // these tests count executions; execution_scheduler_coalesce_test does not
    return s;
  }

  void submit(Scheduler& scheduler, const std::string& id, const std::string& target,
              std::uint64_t tag = 1) {
    SchedulerHarness::submit(scheduler, test_support::sync_job(id, target), tag);
  }
};

TEST_F(SchedulerTest, DifferentTargetsRunInParallel) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.hold("a");
  executor_.hold("b");
  submit(scheduler, "a", "org/a");
  submit(scheduler, "b", "org/b");
  ASSERT_TRUE(executor_.wait_for_started(2, 5s)) << "both targets should start without waiting";
  executor_.release("a");
  executor_.release("b");
  run_until_completed(2);
  EXPECT_EQ(executor_.max_concurrency(), 2);
  EXPECT_EQ(runs_.at("a").status, jobs::Status::kSucceeded);
}

TEST_F(SchedulerTest, OneTargetRunsOneJobAtATimeInSubmissionOrder) {
  Scheduler scheduler(io_, executor_, settings());
  for (int i = 0; i < 6; ++i) submit(scheduler, "job" + std::to_string(i), "org/same");
  run_until_completed(6);
  const auto calls = executor_.calls();
  ASSERT_EQ(calls.size(), 6u);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].job_id, "job" + std::to_string(i));
    if (i > 0) {
      EXPECT_LE(calls[i - 1].finished, calls[i].started) << "overlap at " << i;
    }
  }
  EXPECT_EQ(executor_.max_concurrency(), 1);
}

TEST_F(SchedulerTest, WorkersBoundConcurrency) {
  Scheduler scheduler(io_, executor_, settings());
  for (int i = 0; i < 8; ++i) submit(scheduler, "j" + std::to_string(i), "t" + std::to_string(i));
  run_until_completed(8);
  EXPECT_EQ(runs_.size(), 8u);
  EXPECT_LE(executor_.max_concurrency(), 2);
}

TEST_F(SchedulerTest, RetryableFailureIsRetriedUntilItSucceeds) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.script("flaky", [](int attempt) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    if (attempt < 3)
      return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "connection reset"});
    return jobs::ExecutionReport{};
  });
  submit(scheduler, "flaky", "org/flaky");
  run_until_completed(1);
  EXPECT_EQ(runs_.at("flaky").status, jobs::Status::kSucceeded);
  EXPECT_EQ(runs_.at("flaky").attempts, 3);
}

TEST_F(SchedulerTest, EveryAttemptIsRecordedForSpansAndRetryCounts) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.script("flaky", [](int attempt) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    if (attempt == 1)
      return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "reset"});
    if (attempt == 2)
      return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kRateLimited, "429"});
    return jobs::ExecutionReport{};
  });
  const auto before = std::chrono::system_clock::now();
  submit(scheduler, "flaky", "org/flaky");
  run_until_completed(1);
  const auto& log = runs_.at("flaky").attempt_log;
  ASSERT_EQ(log.size(), 3u);
  ASSERT_TRUE(log[0].error);
  EXPECT_EQ(log[0].error->code, jobs::ErrorCode::kNetwork);
  ASSERT_TRUE(log[1].error);
  EXPECT_EQ(log[1].error->code, jobs::ErrorCode::kRateLimited);
  EXPECT_FALSE(log[2].error);
  EXPECT_LE(before, log[0].started);
  for (std::size_t i = 0; i < log.size(); ++i) {
    EXPECT_LE(log[i].started, log[i].finished);
    if (i > 0) {
      EXPECT_LE(log[i - 1].finished, log[i].started) << "attempts do not overlap";
    }
  }
}

TEST_F(SchedulerTest, OverrunAndAgeOfRunningJobsAreVisible) {
  Scheduler scheduler(io_, executor_, settings());
  EXPECT_FALSE(scheduler.oldest_running_age());
  EXPECT_FALSE(scheduler.longest_overrun());
  executor_.hold("slow");
  auto job = test_support::sync_job("slow", "org/slow");
  job.options.timeout_seconds = 1;
  scheduler.submit(job, observability::JobContext{"slow", "slow", "t", "s", "", "", true}, 1,
                   [this](JobRun run) { runs_.emplace("slow", std::move(run)); });
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  io_.run_for(5ms);
  io_.restart();
  ASSERT_TRUE(scheduler.oldest_running_age());
  EXPECT_FALSE(scheduler.longest_overrun()) << "inside its 1 s deadline";
  // Held past the deadline: the executor never looks (as a stalled libgit2 call would not).
  ASSERT_TRUE(
      test_support::eventually([&] { return scheduler.longest_overrun().has_value(); }, 10s));
  EXPECT_GT(*scheduler.longest_overrun(), 0ms);
  EXPECT_GE(*scheduler.oldest_running_age(), 1s) << "the deadline counts from the start";
  executor_.release("slow");
  run_until_completed(1);
  EXPECT_FALSE(scheduler.longest_overrun());
}

TEST_F(SchedulerTest, EveryDeadlineIsCappedByMaxTimeout) {
  auto s = settings();
  s.default_timeout = 7200s;
  s.max_timeout = 5s;
  Scheduler scheduler(io_, executor_, s);
  auto day_long = test_support::sync_job("day", "org/day");
  day_long.options.timeout_seconds = 86400;
  scheduler.submit(day_long, observability::JobContext{"day", "day", "t", "s", "", "", true}, 1,
                   [this](JobRun run) { runs_.emplace("day", std::move(run)); });
  submit(scheduler, "default", "org/default");
  run_until_completed(2);
  ASSERT_EQ(executor_.calls().size(), 2u);
  for (const auto& call : executor_.calls()) {
    EXPECT_LE(call.deadline - call.started, 5s) << call.job_id;
    EXPECT_GT(call.deadline - call.started, 4s) << call.job_id;
  }
}

TEST_F(SchedulerTest, ARunStoppedByCancellationIsWithdrawnNotAnswered) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.hold("running");
  submit(scheduler, "running", "org/running");
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  scheduler.stop_accepting();
  scheduler.cancel_running();
  run_until_completed(1);
  ASSERT_EQ(runs_.count("running"), 1u);
  EXPECT_TRUE(runs_.at("running").withdrawn) << "its partition's next owner runs it again";
  EXPECT_EQ(runs_.at("running").attempts, 1);
}

TEST_F(SchedulerTest, CancellingOneTagStopsOnlyItsRunningJobs) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.hold("revoked");
  executor_.hold("kept");
  submit(scheduler, "revoked", "org/revoked", 1);
  submit(scheduler, "kept", "org/kept", 2);
  ASSERT_TRUE(executor_.wait_for_started(2, 5s));
  scheduler.cancel_running(1);
  run_until_completed(1);
  ASSERT_EQ(runs_.count("revoked"), 1u);
  EXPECT_TRUE(runs_.at("revoked").withdrawn);
  EXPECT_EQ(runs_.count("kept"), 0u) << "the other partition's job still runs";
  executor_.release("kept");
  run_until_completed(2);
  EXPECT_FALSE(runs_.at("kept").withdrawn);
  EXPECT_EQ(runs_.at("kept").status, jobs::Status::kSucceeded);
}

TEST_F(SchedulerTest, RetriesStopAtMaxAttempts) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.script("down", [](int) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kTimeout, "timed out"});
  });
  submit(scheduler, "down", "org/down");
  run_until_completed(1);
  EXPECT_EQ(runs_.at("down").status, jobs::Status::kFailed);
  EXPECT_EQ(runs_.at("down").attempts, 3);
}

TEST_F(SchedulerTest, NonRetryableFailureIsNotRetried) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.script("denied", [](int) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kAuthFailed, "401"});
  });
  submit(scheduler, "denied", "org/denied");
  run_until_completed(1);
  EXPECT_EQ(runs_.at("denied").status, jobs::Status::kFailed);
  EXPECT_EQ(runs_.at("denied").attempts, 1);
}

TEST_F(SchedulerTest, ConflictIsARejection) {
  Scheduler scheduler(io_, executor_, settings());
  executor_.script("c", [](int) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kConflict, "bound elsewhere"});
  });
  submit(scheduler, "c", "org/c");
  run_until_completed(1);
  EXPECT_EQ(runs_.at("c").status, jobs::Status::kRejected);
}

TEST_F(SchedulerTest, ARetryingTargetDoesNotHoldUpOtherTargets) {
  auto s = settings();
  s.backoff_base = 300ms;
  s.backoff_max = 300ms;
  Scheduler scheduler(io_, executor_, s);
  executor_.script(
      "slow-retry", [](int attempt) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
        if (attempt == 1)
          return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "reset"});
        return jobs::ExecutionReport{};
      });
  submit(scheduler, "slow-retry", "org/a");
  submit(scheduler, "after-on-a", "org/a");
  submit(scheduler, "other", "org/b");
  run_until_completed(3);
  ASSERT_EQ(order_.size(), 3u);
  // "other" finishes while "slow-retry" waits out its backoff; "after-on-a" keeps its place.
  EXPECT_EQ(order_[0], "other");
  EXPECT_EQ(order_[1], "slow-retry");
  EXPECT_EQ(order_[2], "after-on-a");
}

TEST_F(SchedulerTest, ExpiredJobIsAnsweredWithoutRunning) {
  Scheduler scheduler(io_, executor_, settings());
  auto job = test_support::sync_job("late", "org/late");
  job.not_after = std::chrono::system_clock::now() - 1s;
  scheduler.submit(job, observability::JobContext{}, 1,
                   [this](JobRun run) { runs_.emplace("late", std::move(run)); });
  run_until_completed(1);
  EXPECT_EQ(runs_.at("late").status, jobs::Status::kExpired);
  EXPECT_TRUE(executor_.calls().empty());
}

TEST_F(SchedulerTest, WithdrawRemovesQueuedJobsOfATagOnly) {
  auto s = settings();
  s.workers = 1;
  Scheduler scheduler(io_, executor_, s);
  executor_.hold("running");
  submit(scheduler, "running", "org/x", 1);
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  submit(scheduler, "queued-same-tag", "org/y", 1);
  submit(scheduler, "queued-other-tag", "org/z", 2);
  scheduler.withdraw(1);
  ASSERT_EQ(runs_.count("queued-same-tag"), 1u);
  EXPECT_TRUE(runs_.at("queued-same-tag").withdrawn);
  EXPECT_EQ(runs_.count("queued-other-tag"), 0u);
  EXPECT_EQ(scheduler.running(), 1u) << "the running job of the tag is not withdrawn";
  executor_.release("running");
  run_until_completed(3);
  EXPECT_FALSE(runs_.at("running").withdrawn);
  EXPECT_FALSE(runs_.at("queued-other-tag").withdrawn);
  EXPECT_EQ(executor_.calls().size(), 2u);
}

}  // namespace
}  // namespace mgit::execution

namespace mgit::execution {
namespace {

TEST_F(SchedulerTest, AWithdrawnTargetResubmittedStillRunsOneJobAtATime) {
  Scheduler scheduler(io_, executor_, settings());  // two workers
  executor_.hold("x1");
  executor_.hold("x2");
  submit(scheduler, "x1", "org/x1", 9);
  submit(scheduler, "x2", "org/x2", 9);
  ASSERT_TRUE(executor_.wait_for_started(2, 5s));
  submit(scheduler, "withdrawn", "org/t", 1);  // queued: both workers are busy
  scheduler.withdraw(1);
  submit(scheduler, "t1", "org/t", 2);
  submit(scheduler, "t2", "org/t", 2);
  executor_.hold("t1");
  executor_.release("x1");
  executor_.release("x2");
  run_until_completed(3);  // x1, x2 and the withdrawn job
  ASSERT_TRUE(executor_.wait_for_started(3, 5s)) << "t1 should have started";
  io_.run_for(100ms);  // would start t2 too if the stale ready entry were served
  io_.restart();
  executor_.release("t1");
  run_until_completed(5);
  const auto calls = executor_.calls();
  const auto find = [&](const std::string& id) {
    return *std::find_if(calls.begin(), calls.end(),
                         [&](const FakeExecutor::Call& c) { return c.job_id == id; });
  };
  EXPECT_LE(find("t1").finished, find("t2").started) << "t2 overlapped t1 on one target";
}

}  // namespace
}  // namespace mgit::execution
