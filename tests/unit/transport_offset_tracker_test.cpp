#include <gtest/gtest.h>

#include "mgit/transport/offset_tracker.hpp"

namespace mgit::transport {
namespace {

const TopicPartition kP0{"jobs", 0};
const TopicPartition kP1{"jobs", 1};

TEST(OffsetTracker, InOrderCompletionAdvancesOneByOne) {
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 10));
  ASSERT_TRUE(tracker.begin(kP0, 11));
  EXPECT_EQ(tracker.finish(kP0, 10), 11);
  EXPECT_EQ(tracker.finish(kP0, 11), 12);
  EXPECT_EQ(tracker.pending(kP0), 0u);
}

TEST(OffsetTracker, OutOfOrderCompletionCommitsOnlyTheContiguousPrefix) {
  OffsetTracker tracker;
  for (std::int64_t offset = 0; offset < 5; ++offset) ASSERT_TRUE(tracker.begin(kP0, offset));
  EXPECT_EQ(tracker.finish(kP0, 3), std::nullopt);
  EXPECT_EQ(tracker.finish(kP0, 1), std::nullopt);
  EXPECT_EQ(tracker.finish(kP0, 4), std::nullopt);
  EXPECT_EQ(tracker.pending(kP0), 5u);
  // 0 closes the gap up to 1; 2 is still open.
  EXPECT_EQ(tracker.finish(kP0, 0), 2);
  EXPECT_EQ(tracker.pending(kP0), 3u);
  // 2 releases 3 and 4, which finished earlier.
  EXPECT_EQ(tracker.finish(kP0, 2), 5);
  EXPECT_EQ(tracker.pending(kP0), 0u);
}

TEST(OffsetTracker, GapsInOffsetNumbersFollowConsumptionOrder) {
  // Compacted topics and transaction markers skip offsets; they must not block commits.
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 7));
  ASSERT_TRUE(tracker.begin(kP0, 20));
  EXPECT_EQ(tracker.finish(kP0, 20), std::nullopt);
  EXPECT_EQ(tracker.finish(kP0, 7), 21);
}

TEST(OffsetTracker, PartitionsAreIndependent) {
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 0));
  ASSERT_TRUE(tracker.begin(kP1, 0));
  ASSERT_TRUE(tracker.begin(kP1, 1));
  EXPECT_EQ(tracker.finish(kP1, 0), 1);
  EXPECT_EQ(tracker.pending(kP0), 1u);
  EXPECT_EQ(tracker.total_pending(), 2u);
}

TEST(OffsetTracker, RevokeDropsThePartitionsState) {
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 0));
  ASSERT_TRUE(tracker.begin(kP0, 1));
  ASSERT_TRUE(tracker.begin(kP1, 5));
  tracker.revoke(kP0);
  EXPECT_FALSE(tracker.tracks(kP0));
  EXPECT_EQ(tracker.total_pending(), 1u);
  // A job of the revoked partition finishing later commits nothing.
  EXPECT_EQ(tracker.finish(kP0, 0), std::nullopt);
  EXPECT_EQ(tracker.finish(kP1, 5), 6);
}

TEST(OffsetTracker, UnknownOffsetsAreIgnored) {
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 3));
  EXPECT_EQ(tracker.finish(kP0, 2), std::nullopt);
  EXPECT_EQ(tracker.finish(kP1, 3), std::nullopt);
  EXPECT_EQ(tracker.pending(kP0), 1u);
}

TEST(OffsetTracker, ARewoundOffsetIsRefusedAndChangesNothing) {
  OffsetTracker tracker;
  ASSERT_TRUE(tracker.begin(kP0, 3));
  ASSERT_TRUE(tracker.begin(kP0, 4));
  EXPECT_FALSE(tracker.begin(kP0, 4));
  EXPECT_FALSE(tracker.begin(kP0, 2));
  EXPECT_EQ(tracker.pending(kP0), 2u);
  EXPECT_EQ(tracker.finish(kP0, 3), 4);
  EXPECT_EQ(tracker.finish(kP0, 4), 5);
}

}  // namespace
}  // namespace mgit::transport
