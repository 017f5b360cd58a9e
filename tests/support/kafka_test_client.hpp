#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mgit::test_support {

struct TestRecord {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  std::int64_t timestamp_ms = -1;

  std::optional<std::string> header(const std::string& name) const;
};

/// A plain librdkafka client for tests: admin, produce and read-everything helpers,
/// against the real broker. Blocking; throws std::runtime_error on failure.
class KafkaTestClient {
 public:
  explicit KafkaTestClient(std::string brokers);
  ~KafkaTestClient();
  KafkaTestClient(const KafkaTestClient&) = delete;
  KafkaTestClient& operator=(const KafkaTestClient&) = delete;

  const std::string& brokers() const { return brokers_; }

  /// Creates a topic with replication factor 1 and these topic configs (unless it exists).
  void create_topic(const std::string& topic, int partitions,
                    const std::map<std::string, std::string>& configs = {});
  /// Sets these topic configs (AlterConfigs: the topic's other dynamic configs are reset).
  void set_topic_configs(const std::string& topic,
                         const std::map<std::string, std::string>& configs);
  /// A topic's effective config value (broker defaults included); nothing if not described.
  std::optional<std::string> topic_config(const std::string& topic, const std::string& name);

  /// Produces and waits for every delivery report. Returns (partition, offset) per record.
  std::vector<std::pair<std::int32_t, std::int64_t>> produce(
      const std::string& topic,
      const std::vector<std::tuple<std::optional<std::string>, std::string,
                                   std::vector<std::pair<std::string, std::string>>>>& records);

  /// Reads the topic from the beginning (no group) until `done(records)` is true or the
  /// timeout passes; returns what was read.
  std::vector<TestRecord> read_until(
      const std::string& topic, const std::function<bool(const std::vector<TestRecord>&)>& done,
      std::chrono::milliseconds timeout);

  std::map<std::int32_t, std::int64_t> end_offsets(const std::string& topic);
  std::map<std::int32_t, std::int64_t> committed_offsets(const std::string& group,
                                                         const std::string& topic);
  /// Commits offsets for a group that has no live members (to stage offset resets).
  void commit_offsets(const std::string& group, const std::string& topic,
                      const std::map<std::int32_t, std::int64_t>& offsets);

 private:
  int partition_count(const std::string& topic);
  std::string brokers_;
  void* producer_ = nullptr;  // rd_kafka_t*, kept out of the header
};

}  // namespace mgit::test_support
