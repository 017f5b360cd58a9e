#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kafka.hpp"

namespace mgit::mgitctl {

enum class ReadEnd { kCaughtUp, kStopped, kTimedOut };

struct ReadPlan {
  std::string topic;
  std::vector<PartitionRange> ranges;  ///< captured before reading (or before producing)
  bool from_low = false;               ///< start at each range's low, else at its high
  bool until_high = false;             ///< stop once every partition reached its high
  std::optional<std::chrono::steady_clock::time_point> deadline;
  /// Called after every poll (at least every 200 ms while waiting), e.g. to redraw progress.
  std::function<void()> on_tick;
};

/// Reads `plan.topic` with explicit partition offsets (no group membership, nothing committed)
/// and hands each record to `on_record` until it returns false (kStopped), every partition is
/// caught up (kCaughtUp, only with `until_high`) or the deadline passes (kTimedOut).
ReadEnd read_topic(const KafkaOptions& kafka, const ReadPlan& plan,
                   const std::function<bool(const rd_kafka_message_t&)>& on_record);

}  // namespace mgit::mgitctl
