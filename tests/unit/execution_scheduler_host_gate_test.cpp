// The scheduler's host gate against the FakeExecutor: jobs waiting for their host hold no
// worker, cool-downs, the deadline and the share of the buffers. The limiter's arithmetic is
// tested with a fake clock in execution_host_limiter_test.cpp; these run the real io_context
// with short durations and await conditions.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>

#include "mgit/execution/scheduler.hpp"
#include "support/fake_executor.hpp"

namespace mgit::execution {
namespace {

using namespace std::chrono_literals;
using test_support::FakeExecutor;
using Outcome = tl::expected<jobs::ExecutionReport, jobs::JobError>;

jobs::Job job_for(const std::string& id, const std::string& host, const std::string& target,
                  std::optional<int> timeout_seconds = std::nullopt) {
  jobs::Job job;
  job.job_id = id;
  job.correlation_id = id;
  job.repository_url = "https://" + host + "/" + target;
  job.repository_key = job.repository_url;
  job.target = host + "/" + target;
  job.options.timeout_seconds = timeout_seconds;
  return job;
}

Outcome throttled() {
  return tl::make_unexpected(jobs::JobError{jobs::ErrorCode::kRateLimited,
                                            "fetch failed: unexpected http status code: 429"});
}

class RecordingObserver final : public RateLimitObserver {
 public:
  void host_cooling_down(const HostCoolDown& cool_down,
                         const observability::JobContext& ctx) override {
    cool_downs.push_back(cool_down);
    tripped_by.push_back(ctx.job_id);
  }
  void job_rate_limited(const RateLimitedJob& job) override {
    answered[job.job.job_id] = job.answer;
  }
  std::vector<HostCoolDown> cool_downs;
  std::vector<std::string> tripped_by;
  std::map<std::string, RateLimitAnswer> answered;
};

class HostGateTest : public ::testing::Test {
 protected:
  SchedulerSettings settings() {
    SchedulerSettings s;
    s.workers = 2;
    s.max_attempts = 3;
    s.backoff_base = 1ms;
    s.backoff_max = 5ms;
    s.hosts.cooldown_base = 300ms;
    s.hosts.cooldown_max = 10s;
    return s;
  }

  void submit(Scheduler& scheduler, jobs::Job job, std::uint64_t tag = 1) {
    const auto id = job.job_id;
    scheduler.submit(std::move(job), observability::JobContext{id, id, "t", "s", "", "", true}, tag,
                     [this, id](JobRun run) {
                       finished_at_[id] = std::chrono::steady_clock::now();
                       runs_.emplace(id, std::move(run));
                     });
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(5ms);
      io_.restart();
    }
    return done();
  }

  const FakeExecutor::Call* call_of(const std::vector<FakeExecutor::Call>& calls,
                                    const std::string& id, int nth = 0) {
    for (const auto& call : calls) {
      if (call.job_id == id && nth-- == 0) return &call;
    }
    return nullptr;
  }

  boost::asio::io_context io_;
  FakeExecutor executor_;
  RecordingObserver observer_;
  std::map<std::string, JobRun> runs_;
  std::map<std::string, std::chrono::steady_clock::time_point> finished_at_;
};

TEST_F(HostGateTest, JobsWaitingForACappedHostHoldNoWorker) {
  auto s = settings();
  s.hosts.overrides["a.example"] = HostLimit{.max_concurrent = 1};
  Scheduler scheduler(io_, executor_, s);
  executor_.hold("a1");
  submit(scheduler, job_for("a1", "a.example", "one"));
  submit(scheduler, job_for("a2", "a.example", "two"));
  submit(scheduler, job_for("b1", "b.example", "one"));
  submit(scheduler, job_for("b2", "b.example", "two"));
  // Two workers: a1 holds one, a2 waits for its host without the other, so both b jobs run.
  ASSERT_TRUE(run_until([&] { return runs_.contains("b1") && runs_.contains("b2"); }));
  EXPECT_EQ(scheduler.waiting_for_hosts(), 1u);
  EXPECT_FALSE(runs_.contains("a2"));
  executor_.release("a1");
  ASSERT_TRUE(run_until([&] { return runs_.size() == 4; }));
  EXPECT_EQ(runs_.at("a2").status, jobs::Status::kSucceeded);
  EXPECT_EQ(scheduler.waiting_for_hosts(), 0u);
  const auto calls = executor_.calls();
  EXPECT_GE(call_of(calls, "a2")->started, call_of(calls, "a1")->finished)
      << "never two jobs of a.example at once";
}

TEST_F(HostGateTest, AThrottledHostCoolsDownWhileOtherHostsFlow) {
  auto s = settings();
  s.hosts.cooldown_base = 1s;  // long enough for the other host's jobs on a loaded machine
  Scheduler scheduler(io_, executor_, s);
  scheduler.set_rate_limit_observer(&observer_);
  executor_.script("t1", [](int attempt) -> Outcome {
    if (attempt == 1) return throttled();
    return jobs::ExecutionReport{};
  });
  submit(scheduler, job_for("t1", "slow.example", "one"));
  ASSERT_TRUE(run_until([&] { return !observer_.cool_downs.empty(); }));
  EXPECT_EQ(observer_.cool_downs[0].host, "slow.example");
  EXPECT_EQ(observer_.cool_downs[0].duration, 1s);
  EXPECT_EQ(observer_.tripped_by, std::vector<std::string>{"t1"});
  EXPECT_EQ(scheduler.throttled_hosts(), 1u);
  // During the cool-down: another job of the throttled host waits, other hosts' jobs run.
  submit(scheduler, job_for("t2", "slow.example", "two"));
  for (int i = 0; i < 4; ++i) {
    submit(scheduler, job_for("f" + std::to_string(i), "fast.example", "r" + std::to_string(i)));
  }
  ASSERT_TRUE(run_until([&] { return runs_.size() == 4; }));
  EXPECT_FALSE(runs_.contains("t1"));
  EXPECT_FALSE(runs_.contains("t2"));
  ASSERT_TRUE(run_until([&] { return runs_.size() == 6; }));
  EXPECT_EQ(runs_.at("t1").status, jobs::Status::kSucceeded);
  EXPECT_EQ(runs_.at("t1").attempts, 2);
  EXPECT_EQ(runs_.at("t2").status, jobs::Status::kSucceeded);
  const auto calls = executor_.calls();
  const auto* first = call_of(calls, "t1", 0);
  const auto* second = call_of(calls, "t1", 1);
  ASSERT_NE(second, nullptr);
  EXPECT_GE(second->started - first->finished, 1s) << "the retry waited for the cool-down";
  EXPECT_GE(call_of(calls, "t2")->started - first->finished, 1s);
  EXPECT_TRUE(observer_.answered.empty());
}

TEST_F(HostGateTest, AWaitThatWouldPassTheDeadlineIsAnsweredAtOnce) {
  auto s = settings();
  s.hosts.cooldown_base = 60s;
  s.hosts.cooldown_max = 60s;
  s.workers = 1;  // t2 comes to its turn after t1's 429
  Scheduler scheduler(io_, executor_, s);
  scheduler.set_rate_limit_observer(&observer_);
  executor_.script("t1", [](int) -> Outcome { return throttled(); });
  const auto begin = std::chrono::steady_clock::now();
  submit(scheduler, job_for("t1", "slow.example", "one", 30));
  submit(scheduler, job_for("t2", "slow.example", "two", 30));
  ASSERT_TRUE(run_until([&] { return runs_.size() == 2; }));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s) << "no waiting for a 60 s cool-down";
  for (const auto* id : {"t1", "t2"}) {
    SCOPED_TRACE(id);
    const auto& run = runs_.at(id);
    EXPECT_EQ(run.status, jobs::Status::kFailed);
    ASSERT_FALSE(run.outcome.has_value());
    EXPECT_EQ(run.outcome.error().code, jobs::ErrorCode::kRateLimited);
    EXPECT_TRUE(run.outcome.error().retryable());
    EXPECT_NE(run.outcome.error().message.find("host 'slow.example' is cooling down"),
              std::string::npos)
        << run.outcome.error().message;
    EXPECT_EQ(observer_.answered.at(id), RateLimitAnswer::kDeadline);
  }
  EXPECT_EQ(runs_.at("t1").attempts, 1) << "tried once, then the cool-down outlasts it";
  EXPECT_EQ(runs_.at("t2").attempts, 0);
  EXPECT_EQ(executor_.calls().size(), 1u) << "nothing ran during the cool-down";
}

TEST_F(HostGateTest, AJobWaitingForASlotIsAnsweredAtItsDeadline) {
  auto s = settings();
  s.hosts.defaults = HostLimit{.max_concurrent = 1};
  Scheduler scheduler(io_, executor_, s);
  scheduler.set_rate_limit_observer(&observer_);
  executor_.hold("a1");
  submit(scheduler, job_for("a1", "a.example", "one"));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  const auto submitted = std::chrono::steady_clock::now();
  submit(scheduler, job_for("a2", "a.example", "two", 1));
  ASSERT_TRUE(run_until([&] { return runs_.contains("a2"); }));
  const auto waited = finished_at_.at("a2") - submitted;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(runs_.at("a2").outcome.error().code, jobs::ErrorCode::kRateLimited);
  EXPECT_EQ(runs_.at("a2").attempts, 0);
  EXPECT_EQ(scheduler.waiting_for_hosts(), 0u);
  executor_.release("a1");
  ASSERT_TRUE(run_until([&] { return runs_.contains("a1"); }));
  EXPECT_EQ(executor_.calls().size(), 1u) << "a2 never ran";
}

TEST_F(HostGateTest, AHostsWaitingJobsBeyondTheirShareAreAnsweredAtOnce) {
  auto s = settings();
  s.hosts.defaults = HostLimit{.max_concurrent = 1};
  s.hosts.max_buffered_per_partition = 4;  // 50 %: two may wait per partition
  s.hosts.max_in_flight = 6;               // 50 %: three may wait in all
  Scheduler scheduler(io_, executor_, s);
  scheduler.set_rate_limit_observer(&observer_);
  executor_.hold("a0");
  submit(scheduler, job_for("a0", "a.example", "zero"));
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  for (const auto* id : {"a1", "a2", "a3"}) submit(scheduler, job_for(id, "a.example", id), 1);
  ASSERT_TRUE(run_until([&] { return runs_.contains("a3"); }));
  EXPECT_EQ(observer_.answered.at("a3"), RateLimitAnswer::kShare);
  EXPECT_NE(runs_.at("a3").outcome.error().message.find("share of the buffers"), std::string::npos);
  EXPECT_EQ(scheduler.waiting_for_hosts(), 2u);
  // Another partition may still wait, up to the process-wide share.
  submit(scheduler, job_for("p1", "a.example", "p1"), 2);
  submit(scheduler, job_for("p2", "a.example", "p2"), 2);
  ASSERT_TRUE(run_until([&] { return runs_.contains("p2"); }));
  EXPECT_EQ(scheduler.waiting_for_hosts(), 3u);
  EXPECT_EQ(observer_.answered.at("p2"), RateLimitAnswer::kShare);
  EXPECT_FALSE(runs_.contains("p1"));
  // Another host is not limited by a.example's share.
  submit(scheduler, job_for("b1", "b.example", "b1"), 1);
  ASSERT_TRUE(run_until([&] { return runs_.contains("b1"); }));
  EXPECT_EQ(runs_.at("b1").status, jobs::Status::kSucceeded);
  executor_.release("a0");
  ASSERT_TRUE(run_until([&] { return runs_.size() == 7; }));
  for (const auto* id : {"a1", "a2", "p1"}) {
    EXPECT_EQ(runs_.at(id).status, jobs::Status::kSucceeded) << id;
  }
}

TEST_F(HostGateTest, WithdrawTakesWaitingJobsOfItsTagOnly) {
  auto s = settings();
  s.hosts.defaults = HostLimit{.max_concurrent = 1};
  Scheduler scheduler(io_, executor_, s);
  executor_.hold("a0");
  submit(scheduler, job_for("a0", "a.example", "zero"), 1);
  ASSERT_TRUE(executor_.wait_for_started(1, 5s));
  submit(scheduler, job_for("a1", "a.example", "one"), 2);
  submit(scheduler, job_for("a2", "a.example", "two"), 3);
  ASSERT_TRUE(run_until([&] { return scheduler.waiting_for_hosts() == 2; }));
  scheduler.withdraw(2);
  ASSERT_TRUE(run_until([&] { return runs_.contains("a1"); }));
  EXPECT_TRUE(runs_.at("a1").withdrawn);
  EXPECT_EQ(scheduler.waiting_for_hosts(), 1u);
  executor_.release("a0");
  ASSERT_TRUE(run_until([&] { return runs_.size() == 3; }));
  EXPECT_EQ(runs_.at("a2").status, jobs::Status::kSucceeded);
}

TEST_F(HostGateTest, ATokenBucketSpacesAHostsJobs) {
  auto s = settings();
  s.hosts.defaults = HostLimit{.jobs_per_minute = 600, .burst = 1};  // one per 100 ms
  Scheduler scheduler(io_, executor_, s);
  for (int i = 0; i < 4; ++i) {
    submit(scheduler, job_for("r" + std::to_string(i), "a.example", "r" + std::to_string(i)));
  }
  ASSERT_TRUE(run_until([&] { return runs_.size() == 4; }));
  auto calls = executor_.calls();
  std::sort(calls.begin(), calls.end(),
            [](const auto& x, const auto& y) { return x.started < y.started; });
  for (std::size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].started - calls[i - 1].started, 95ms) << i;
  }
}

}  // namespace
}  // namespace mgit::execution
