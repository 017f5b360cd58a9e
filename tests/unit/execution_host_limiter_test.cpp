#include <gtest/gtest.h>

#include "mgit/execution/host_limiter.hpp"
#include "mgit/jobs/repository_key.hpp"

namespace mgit::execution {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

/// The test's own clock: time moves only when the test says so.
struct FakeClock {
  TimePoint now = TimePoint{} + 1000s;
  void advance(std::chrono::milliseconds by) { now += by; }
};

HostLimitSettings settings_with(HostLimit defaults) {
  HostLimitSettings settings;
  settings.defaults = defaults;
  settings.cooldown_base = 1000ms;
  settings.cooldown_max = 8000ms;
  return settings;
}

TEST(HostOfRepositoryKey, TakesTheAuthorityOfTheKey) {
  EXPECT_EQ(jobs::host_of_repository_key("https://github.com/org/app"), "github.com");
  EXPECT_EQ(jobs::host_of_repository_key("ssh://git.example.com:2222/org/app"),
            "git.example.com:2222");
  EXPECT_EQ(jobs::host_of_repository_key("http://127.0.0.1:8080"), "127.0.0.1:8080");
  EXPECT_EQ(jobs::host_of_repository_key("https://[::1]:8443/a"), "[::1]:8443");
}

TEST(HostLimiter, UnlimitedByDefault) {
  FakeClock clock;
  HostLimiter limiter(settings_with({}));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
}

TEST(HostLimiter, ConcurrencyCapWaitsForARunningJobToEnd) {
  FakeClock clock;
  HostLimiter limiter(settings_with({.max_concurrent = 2}));
  EXPECT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_TRUE(limiter.acquire("h", clock.now).granted);
  const auto third = limiter.acquire("h", clock.now);
  EXPECT_FALSE(third.granted);
  EXPECT_EQ(third.wait, HostWait::kConcurrency);
  EXPECT_FALSE(third.retry_at.has_value()) << "no time helps: a running job must end";
  // Another host is not affected.
  EXPECT_TRUE(limiter.acquire("other", clock.now).granted);
  limiter.release("h", HostOutcome::kSucceeded, clock.now);
  EXPECT_TRUE(limiter.acquire("h", clock.now).granted);
}

TEST(HostLimiter, TokenBucketAllowsTheBurstThenTheRate) {
  FakeClock clock;
  // 120 a minute = 2 a second, burst 3.
  HostLimiter limiter(settings_with({.jobs_per_minute = 120, .burst = 3}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.acquire("h", clock.now).granted) << i;
    limiter.release("h", HostOutcome::kSucceeded, clock.now);
  }
  const auto empty = limiter.acquire("h", clock.now);
  EXPECT_FALSE(empty.granted);
  EXPECT_EQ(empty.wait, HostWait::kRate);
  ASSERT_TRUE(empty.retry_at.has_value());
  EXPECT_EQ(*empty.retry_at - clock.now, 500ms) << "one token every 500 ms";
  clock.advance(499ms);
  EXPECT_FALSE(limiter.acquire("h", clock.now).granted);
  clock.advance(1ms);
  EXPECT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_FALSE(limiter.acquire("h", clock.now).granted);
  // A long pause refills to the burst, not beyond.
  clock.advance(60s);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("h", clock.now).granted) << i;
  EXPECT_FALSE(limiter.acquire("h", clock.now).granted);
}

TEST(HostLimiter, BurstDefaultsToOneSecondOfTheRateAtLeastOne) {
  FakeClock clock;
  HostLimiter slow(settings_with({.jobs_per_minute = 6}));
  EXPECT_TRUE(slow.acquire("h", clock.now).granted);
  const auto next = slow.acquire("h", clock.now);
  ASSERT_FALSE(next.granted);
  EXPECT_EQ(*next.retry_at - clock.now, 10s);

  HostLimiter fast(settings_with({.jobs_per_minute = 600}));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(fast.acquire("h", clock.now).granted) << i;
  EXPECT_FALSE(fast.acquire("h", clock.now).granted);
}

TEST(HostLimiter, OverridesApplyPerHost) {
  FakeClock clock;
  auto settings = settings_with({.max_concurrent = 1});
  settings.overrides["big.example"] = HostLimit{.max_concurrent = 3};
  HostLimiter limiter(settings);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("big.example", clock.now).granted);
  EXPECT_FALSE(limiter.acquire("big.example", clock.now).granted);
  EXPECT_TRUE(limiter.acquire("small.example", clock.now).granted);
  EXPECT_FALSE(limiter.acquire("small.example", clock.now).granted);
  // The port is part of the host: another port is another host with the defaults.
  EXPECT_TRUE(limiter.acquire("big.example:8443", clock.now).granted);
  EXPECT_FALSE(limiter.acquire("big.example:8443", clock.now).granted);
}

TEST(HostLimiter, ThrottlingStartsACoolDownThatDoublesUpToTheMax) {
  FakeClock clock;
  HostLimiter limiter(settings_with({}));
  std::vector<std::chrono::milliseconds> durations;
  for (int trip = 0; trip < 6; ++trip) {
    ASSERT_TRUE(limiter.acquire("h", clock.now).granted) << trip;
    const auto cool_down = limiter.release("h", HostOutcome::kThrottled, clock.now);
    ASSERT_TRUE(cool_down.has_value()) << trip;
    EXPECT_EQ(cool_down->host, "h");
    EXPECT_EQ(cool_down->level, trip + 1);
    EXPECT_EQ(cool_down->until, clock.now + cool_down->duration);
    durations.push_back(cool_down->duration);
    const auto during = limiter.acquire("h", clock.now);
    EXPECT_FALSE(during.granted);
    EXPECT_EQ(during.wait, HostWait::kCoolDown);
    EXPECT_EQ(during.retry_at, cool_down->until);
    EXPECT_EQ(limiter.cooling_down(clock.now), 1u);
    EXPECT_TRUE(limiter.acquire("other", clock.now).granted) << "other hosts are not held up";
    limiter.release("other", HostOutcome::kSucceeded, clock.now);
    clock.advance(cool_down->duration);
  }
  EXPECT_EQ(durations, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 4000ms, 8000ms,
                                                               8000ms, 8000ms}));
  EXPECT_EQ(limiter.cooling_down(clock.now), 0u);
}

TEST(HostLimiter, ASuccessEndsTheEscalation) {
  FakeClock clock;
  HostLimiter limiter(settings_with({}));
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  limiter.release("h", HostOutcome::kThrottled, clock.now);
  clock.advance(1000ms);
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_EQ(limiter.release("h", HostOutcome::kThrottled, clock.now)->duration, 2000ms);
  clock.advance(2000ms);
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_FALSE(limiter.release("h", HostOutcome::kSucceeded, clock.now).has_value());
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_EQ(limiter.release("h", HostOutcome::kThrottled, clock.now)->duration, 1000ms);
}

TEST(HostLimiter, ThrottlingAnswersDuringACoolDownDoNotLengthenIt) {
  FakeClock clock;
  HostLimiter limiter(settings_with({}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  const auto first = limiter.release("h", HostOutcome::kThrottled, clock.now);
  ASSERT_TRUE(first.has_value());
  clock.advance(100ms);
  // The other two were asked before the cool-down began.
  EXPECT_FALSE(limiter.release("h", HostOutcome::kThrottled, clock.now).has_value());
  EXPECT_FALSE(limiter.release("h", HostOutcome::kThrottled, clock.now).has_value());
  EXPECT_EQ(limiter.acquire("h", clock.now).retry_at, first->until);
}

TEST(HostLimiter, OtherFailuresNeitherCoolDownNorReset) {
  FakeClock clock;
  HostLimiter limiter(settings_with({}));
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  limiter.release("h", HostOutcome::kThrottled, clock.now);
  clock.advance(1000ms);
  ASSERT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_FALSE(limiter.release("h", HostOutcome::kOther, clock.now).has_value());
  EXPECT_TRUE(limiter.acquire("h", clock.now).granted);
  EXPECT_EQ(limiter.release("h", HostOutcome::kThrottled, clock.now)->level, 2);
}

TEST(HostLimiter, IdleHostsAreForgotten) {
  FakeClock clock;
  HostLimiter limiter(settings_with({.max_concurrent = 4, .jobs_per_minute = 60}));
  for (int i = 0; i < 100; ++i) {
    const auto host = "h" + std::to_string(i);
    ASSERT_TRUE(limiter.acquire(host, clock.now).granted);
    limiter.release(host, HostOutcome::kSucceeded, clock.now);
  }
  EXPECT_EQ(limiter.known_hosts(), 100u) << "their buckets are not full yet";
  clock.advance(1s);
  limiter.forget_idle(clock.now);
  EXPECT_EQ(limiter.known_hosts(), 0u);

  ASSERT_TRUE(limiter.acquire("t", clock.now).granted);
  limiter.release("t", HostOutcome::kThrottled, clock.now);
  clock.advance(8s);
  limiter.forget_idle(clock.now);
  EXPECT_EQ(limiter.known_hosts(), 1u) << "a recently throttled host keeps its escalation";
  clock.advance(16s);
  limiter.forget_idle(clock.now);
  EXPECT_EQ(limiter.known_hosts(), 0u);
}

TEST(HostLimitSettings, SharesOfTheBuffers) {
  HostLimitSettings settings;
  EXPECT_EQ(settings.partition_share(), 0u) << "no buffers given: no share";
  settings.max_buffered_per_partition = 64;
  settings.max_in_flight = 256;
  settings.wait_share_percent = 50;
  EXPECT_EQ(settings.partition_share(), 32u);
  EXPECT_EQ(settings.global_share(), 128u);
  settings.wait_share_percent = 1;
  EXPECT_EQ(settings.partition_share(), 1u) << "at least one job may wait";
  settings.wait_share_percent = 0;
  EXPECT_EQ(settings.global_share(), 0u);
}

}  // namespace
}  // namespace mgit::execution
