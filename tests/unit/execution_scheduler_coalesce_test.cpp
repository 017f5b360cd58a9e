// Burst coalescing: jobs queued behind a dispatched job for the same target that ask for the
// same thing are answered by its execution, each with its own completion.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <string>
#include <vector>

#include "mgit/execution/scheduler.hpp"
#include "support/scheduler_harness.hpp"

namespace mgit::execution {
namespace {

using namespace std::chrono_literals;
using test_support::FakeExecutor;

using test_support::sync_job;

class CoalesceTest : public test_support::SchedulerHarness {
 protected:
  static SchedulerSettings settings() { return fast_settings(); }  // coalesce is on by default

  /// Holds `first` running so that everything submitted next queues behind it.
  void start_holding(Scheduler& scheduler, const std::string& first, const std::string& target) {
    executor_.hold(first);
    submit(scheduler, sync_job(first, target));
    ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  }
};

TEST_F(CoalesceTest, JobsQueuedBehindARunningFetchShareTheNextExecution) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  std::vector<std::string> burst;
  for (int i = 0; i < 20; ++i) {
    burst.push_back("burst-" + std::to_string(i));
    submit(scheduler, sync_job(burst.back(), "org/app"));
  }
  executor_.release("first");
  run_until_completed(21);

  const auto calls = executor_.calls();
  ASSERT_EQ(calls.size(), 2u) << "the running job, then one execution for the whole burst";
  EXPECT_EQ(calls[0].job_id, "first");
  EXPECT_TRUE(calls[0].coalesced_job_ids.empty()) << "nothing was queued when it started";
  EXPECT_EQ(calls[1].job_id, burst.front());
  EXPECT_EQ(calls[1].coalesced_job_ids, std::vector<std::string>(burst.begin() + 1, burst.end()));

  ASSERT_EQ(runs_.size(), 21u) << "every job completes on its own";
  EXPECT_TRUE(runs_.at("first").served_by.empty());
  EXPECT_TRUE(runs_.at(burst.front()).served_by.empty()) << "it ran itself";
  for (std::size_t i = 1; i < burst.size(); ++i) {
    const auto& run = runs_.at(burst[i]);
    EXPECT_EQ(run.served_by, burst.front()) << burst[i];
    EXPECT_EQ(run.status, jobs::Status::kSucceeded) << burst[i];
    EXPECT_FALSE(run.withdrawn);
  }
  // Completions keep submission order, so offsets are answered in order.
  std::vector<std::string> expected_order{"first"};
  expected_order.insert(expected_order.end(), burst.begin(), burst.end());
  EXPECT_EQ(order_, expected_order);
}

TEST_F(CoalesceTest, OffEveryJobRunsItsOwnExecution) {
  auto s = settings();
  s.coalesce = false;
  Scheduler scheduler(io_, executor_, s);
  start_holding(scheduler, "first", "org/app");
  for (int i = 0; i < 5; ++i) submit(scheduler, sync_job("j" + std::to_string(i), "org/app"));
  executor_.release("first");
  run_until_completed(6);
  EXPECT_EQ(executor_.calls().size(), 6u);
  for (const auto& [id, run] : runs_) EXPECT_TRUE(run.served_by.empty()) << id;
}

TEST_F(CoalesceTest, AJobThatAsksForSomethingElseRunsOnItsOwnInOrder) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("a1", "org/app"));
  submit(scheduler, sync_job("a2", "org/app"));
  auto other_ref = sync_job("other-ref", "org/app");
  other_ref.ref = "refs/heads/release";
  submit(scheduler, other_ref);
  submit(scheduler, sync_job("b1", "org/app"));  // behind the different one: not merged forward
  auto no_prune = sync_job("no-prune", "org/app");
  no_prune.options.prune = false;
  submit(scheduler, no_prune);
  auto no_backup = sync_job("no-backup", "org/app");  // options.ref_backup: false
  no_backup.options.ref_backup = false;
  submit(scheduler, no_backup);
  auto other_tag = sync_job("other-tag", "org/app");
  submit(scheduler, other_tag, 2);
  executor_.release("first");
  run_until_completed(8);

  std::vector<std::string> executed;
  for (const auto& call : executor_.calls()) executed.push_back(call.job_id);
  EXPECT_EQ(executed, (std::vector<std::string>{"first", "a1", "other-ref", "b1", "no-prune",
                                                "no-backup", "other-tag"}));
  EXPECT_EQ(runs_.at("a2").served_by, "a1");
  EXPECT_EQ(order_, (std::vector<std::string>{"first", "a1", "a2", "other-ref", "b1", "no-prune",
                                              "no-backup", "other-tag"}));
}

TEST_F(CoalesceTest, ClonesAndDifferentCredentialsAreNeverShared) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  auto clone1 = sync_job("clone1", "org/app");
  clone1.operation = jobs::Operation::kClone;
  auto clone2 = clone1;
  clone2.job_id = "clone2";
  submit(scheduler, clone1);
  submit(scheduler, clone2);
  auto with_credential = sync_job("with-credential", "org/app");
  with_credential.credential = "deploy";
  submit(scheduler, sync_job("anonymous", "org/app"));
  submit(scheduler, with_credential);
  executor_.release("first");
  run_until_completed(5);
  EXPECT_EQ(executor_.calls().size(), 5u);
}

TEST_F(CoalesceTest, AJobConsumedAfterTheExecutionStartedGetsItsOwn) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("queued", "org/app"));
  executor_.hold("queued");
  executor_.release("first");
  ASSERT_TRUE(run_until_started(2));
  submit(scheduler, sync_job("late", "org/app"));  // after "queued" was dispatched
  executor_.release("queued");
  run_until_completed(3);
  const auto calls = executor_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].job_id, "late");
  EXPECT_TRUE(runs_.at("late").served_by.empty());
}

TEST_F(CoalesceTest, ARetriedExecutionAnswersItsWholeGroupWithTheFinalOutcome) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("leader", "org/app"));
  submit(scheduler, sync_job("follower", "org/app"));
  executor_.script(
      "leader", [](int attempt) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
        if (attempt == 1)
          return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "reset"});
        jobs::ExecutionReport report;
        report.head_oid = "abc";
        return report;
      });
  executor_.release("first");
  run_until_completed(3);
  const auto& follower = runs_.at("follower");
  EXPECT_EQ(follower.served_by, "leader");
  EXPECT_EQ(follower.status, jobs::Status::kSucceeded);
  EXPECT_EQ(follower.attempts, 2);
  ASSERT_TRUE(follower.outcome.has_value());
  EXPECT_EQ(follower.outcome->head_oid, "abc");
  EXPECT_EQ(executor_.calls().size(), 3u) << "first, and the leader's two attempts";
}

TEST_F(CoalesceTest, AFailureIsEveryCoalescedJobsFailure) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("leader", "org/app"));
  submit(scheduler, sync_job("follower", "org/app"));
  executor_.script("leader", [](int) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNotFound, "gone"});
  });
  executor_.release("first");
  run_until_completed(3);
  const auto& follower = runs_.at("follower");
  EXPECT_EQ(follower.status, jobs::Status::kFailed);
  ASSERT_FALSE(follower.outcome.has_value());
  EXPECT_EQ(follower.outcome.error().code, jobs::ErrorCode::kNotFound);
}

TEST_F(CoalesceTest, WithdrawingAGroupWhileItBacksOffWithdrawsEveryJobInIt) {
  auto s = settings();
  s.backoff_base = 10s;  // the retry waits long enough to be withdrawn
  s.backoff_max = 10s;
  Scheduler scheduler(io_, executor_, s);
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("leader", "org/app"));
  submit(scheduler, sync_job("follower", "org/app"));
  executor_.script("leader", [](int) -> tl::expected<jobs::ExecutionReport, jobs::JobError> {
    return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kNetwork, "reset"});
  });
  executor_.release("first");
  run_until_completed(1);
  ASSERT_TRUE(run_until_started(2));
  // Its first attempt fails and it backs off: nothing more completes until the withdraw.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (scheduler.running() > 0 && std::chrono::steady_clock::now() < until) {
    io_.run_for(5ms);
    io_.restart();
  }
  ASSERT_EQ(runs_.size(), 1u);
  scheduler.withdraw(1);
  run_until_completed(3);
  ASSERT_EQ(runs_.size(), 3u);
  EXPECT_TRUE(runs_.at("leader").withdrawn);
  EXPECT_TRUE(runs_.at("follower").withdrawn) << "no result: its record is redelivered";
}

TEST_F(CoalesceTest, AGroupIsCappedAtMaxCoalesced) {
  auto s = settings();
  s.max_coalesced = 3;
  Scheduler scheduler(io_, executor_, s);
  start_holding(scheduler, "first", "org/app");
  for (int i = 0; i < 8; ++i) submit(scheduler, sync_job("j" + std::to_string(i), "org/app"));
  executor_.release("first");
  run_until_completed(9);
  const auto calls = executor_.calls();
  ASSERT_EQ(calls.size(), 3u) << "first, j0 with 3 more, j4 with the last 3";
  EXPECT_EQ(calls[1].coalesced_job_ids.size(), 3u);
  EXPECT_EQ(calls[2].job_id, "j4");
}

TEST_F(CoalesceTest, AJobIdSubmittedTwiceIsNeverServedByItself) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  // A producer's retry: the same job id twice in a row, then another job.
  submit(scheduler, sync_job("dup", "org/app"));
  submit(scheduler, sync_job("dup", "org/app"));
  submit(scheduler, sync_job("next", "org/app"));
  executor_.release("first");
  run_until_completed(4);

  const auto calls = executor_.calls();
  ASSERT_EQ(calls.size(), 3u) << "first; dup alone; the retried dup with next behind it";
  EXPECT_EQ(calls[1].job_id, "dup");
  EXPECT_TRUE(calls[1].coalesced_job_ids.empty());
  EXPECT_EQ(calls[2].job_id, "dup");
  EXPECT_EQ(calls[2].coalesced_job_ids, std::vector<std::string>{"next"});
  EXPECT_EQ(order_, (std::vector<std::string>{"first", "dup", "dup", "next"}));
  for (std::size_t i = 0; i < order_.size(); ++i) {
    EXPECT_NE(served_by_[i], order_[i]) << "completion " << i << " names itself";
  }
}

TEST_F(CoalesceTest, CancellingARunningGroupWithdrawsEveryJobInIt) {
  Scheduler scheduler(io_, executor_, settings());
  start_holding(scheduler, "first", "org/app");
  submit(scheduler, sync_job("leader", "org/app"));
  submit(scheduler, sync_job("follower", "org/app"));
  executor_.hold("leader");
  executor_.release("first");
  ASSERT_TRUE(run_until_started(2));
  ASSERT_EQ(runs_.size(), 1u) << "only the first job is answered";
  // Its partition is revoked past the grace: the running execution is stopped (a worker
  // killed) and nobody in the group is answered; the next owner runs them again.
  scheduler.cancel_running(1);
  run_until_completed(3);
  ASSERT_EQ(runs_.size(), 3u);
  EXPECT_TRUE(runs_.at("leader").withdrawn);
  EXPECT_TRUE(runs_.at("follower").withdrawn);
  EXPECT_EQ(runs_.at("follower").served_by, "leader");
}

}  // namespace
}  // namespace mgit::execution
