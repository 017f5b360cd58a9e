#include <gtest/gtest.h>

#include "mgit/transport/consumer_statistics.hpp"

namespace mgit::transport {
namespace {

// Shaped like librdkafka 2.0's statistics (STATISTICS.md), trimmed to what matters.
constexpr const char* kStats = R"({
  "name": "rdkafka#consumer-1", "type": "consumer", "ts": 1,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "state": "UP"},
    "localhost:9092/1": {"name": "localhost:9092/1", "nodeid": 1, "state": "UP"},
    "localhost:9093/2": {"name": "localhost:9093/2", "nodeid": 2, "state": "DOWN"},
    "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": -1, "state": "UP"}
  },
  "topics": {
    "jobs": {"topic": "jobs", "partitions": {
      "0": {"partition": 0, "fetch_state": "active", "consumer_lag": 12},
      "1": {"partition": 1, "fetch_state": "none", "consumer_lag": -1},
      "2": {"partition": 2, "fetch_state": "offset-query", "consumer_lag": -1},
      "-1": {"partition": -1, "fetch_state": "none", "consumer_lag": -1}
    }},
    "other": {"topic": "other", "partitions": {
      "0": {"partition": 0, "fetch_state": "active", "consumer_lag": 99}
    }}
  }
})";

TEST(ConsumerStatistics, ReadsLagOfFetchedPartitionsAndBrokerState) {
  const auto stats = parse_consumer_statistics(kStats, "jobs");
  ASSERT_TRUE(stats);
  EXPECT_TRUE(stats->broker_reachable);
  EXPECT_EQ(stats->brokers_up, 1) << "bootstrap and coordinator aliases do not count";
  ASSERT_EQ(stats->lag.size(), 2u);
  std::map<int, std::int64_t> lag;
  for (const auto& entry : stats->lag) {
    EXPECT_EQ(entry.partition.topic, "jobs");
    lag[entry.partition.partition] = entry.lag;
  }
  EXPECT_EQ(lag.at(0), 12);
  EXPECT_EQ(lag.at(2), -1);
}

TEST(ConsumerStatistics, NoRealBrokerUpIsUnreachable) {
  const auto stats = parse_consumer_statistics(
      R"({"brokers": {"b/bootstrap": {"nodeid": -1, "state": "UP"},
                      "h:1/1": {"nodeid": 1, "state": "TRY_CONNECT"}}})",
      "jobs");
  ASSERT_TRUE(stats);
  EXPECT_FALSE(stats->broker_reachable);
  EXPECT_TRUE(stats->lag.empty());
}

TEST(ConsumerStatistics, MalformedInputIsRefused) {
  EXPECT_FALSE(parse_consumer_statistics("{not json", "jobs"));
  EXPECT_FALSE(parse_consumer_statistics("[1,2]", "jobs"));
  // Unexpected types are skipped, not trusted.
  const auto odd = parse_consumer_statistics(
      R"({"brokers": {"x": {"nodeid": "1", "state": "UP"}}, "topics": {"jobs": {"partitions": []}}})",
      "jobs");
  ASSERT_TRUE(odd);
  EXPECT_FALSE(odd->broker_reachable);
  EXPECT_TRUE(odd->lag.empty());
}

}  // namespace
}  // namespace mgit::transport
