#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "mgit/execution/executor.hpp"

namespace mgit::execution {
namespace {

using std::chrono::steady_clock;

TEST(ExecutionControl, CancellationIsInternalAndNamesWhen) {
  const std::atomic<bool> cancelled{true};
  // Cancellation wins even when the deadline has passed too: the stop was not the job's.
  const ExecutionControl control{steady_clock::now() - std::chrono::seconds(1), &cancelled};
  EXPECT_TRUE(control.should_stop());
  EXPECT_TRUE(control.cancel_requested());
  const jobs::JobError error = control.stop_error("during fetch");
  EXPECT_EQ(error.code, jobs::ErrorCode::kInternal);
  EXPECT_EQ(error.message, "cancelled during fetch");
}

TEST(ExecutionControl, PassedDeadlineIsTimeout) {
  const std::atomic<bool> cancelled{false};
  const ExecutionControl control{steady_clock::now() - std::chrono::seconds(1), &cancelled};
  EXPECT_TRUE(control.should_stop());
  EXPECT_FALSE(control.cancel_requested());
  const jobs::JobError error = control.stop_error("while waiting for the target lock");
  EXPECT_EQ(error.code, jobs::ErrorCode::kTimeout);
  EXPECT_TRUE(error.retryable());
  EXPECT_EQ(error.message, "deadline passed while waiting for the target lock");
}

TEST(ExecutionControl, NoCancellationFlagMeansOnlyTheDeadlineStops) {
  const ExecutionControl control{steady_clock::now() + std::chrono::hours(1), nullptr};
  EXPECT_FALSE(control.should_stop());
  EXPECT_FALSE(control.cancel_requested());
}

}  // namespace
}  // namespace mgit::execution
