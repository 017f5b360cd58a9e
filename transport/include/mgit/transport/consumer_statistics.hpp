#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mgit/transport/types.hpp"

namespace mgit::transport {

struct PartitionLag {
  TopicPartition partition;
  std::int64_t lag = -1;  ///< -1 while librdkafka does not know it yet
};

/// What the daemon needs from one librdkafka statistics emission.
struct ConsumerStatistics {
  /// At least one cluster broker (not a bootstrap address) has an open connection.
  bool broker_reachable = false;
  int brokers_up = 0;
  /// Partitions of the subscribed topic that this consumer fetches (assigned ones).
  std::vector<PartitionLag> lag;
};

/// Parses librdkafka's statistics JSON (see its STATISTICS.md). Returns nothing for
/// malformed input; unknown fields are ignored so newer librdkafka versions still parse.
std::optional<ConsumerStatistics> parse_consumer_statistics(std::string_view json,
                                                            const std::string& topic);

}  // namespace mgit::transport
