#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mgit/basics/handle.hpp"

namespace mgit::mgitctl {

using basics::Handle;

using ConfPtr = Handle<rd_kafka_conf_t, &rd_kafka_conf_destroy>;
using KafkaPtr = Handle<rd_kafka_t, &rd_kafka_destroy>;
using MetadataPtr = Handle<const rd_kafka_metadata_t, &rd_kafka_metadata_destroy>;
using QueuePtr = Handle<rd_kafka_queue_t, &rd_kafka_queue_destroy>;
using EventPtr = Handle<rd_kafka_event_t, &rd_kafka_event_destroy>;
using AdminOptionsPtr = Handle<rd_kafka_AdminOptions_t, &rd_kafka_AdminOptions_destroy>;
using NewTopicPtr = Handle<rd_kafka_NewTopic_t, &rd_kafka_NewTopic_destroy>;
using ConfigResourcePtr = Handle<rd_kafka_ConfigResource_t, &rd_kafka_ConfigResource_destroy>;
using HeadersPtr = Handle<rd_kafka_headers_t, &rd_kafka_headers_destroy>;
using MessagePtr = Handle<rd_kafka_message_t, &rd_kafka_message_destroy>;
using PartitionListPtr =
    Handle<rd_kafka_topic_partition_list_t, &rd_kafka_topic_partition_list_destroy>;

/// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  ///< the command ran and found a problem
inline constexpr int kExitUsage = 2;   ///< bad flags, unreadable input, broker errors
inline constexpr int kExitTimeout = 3;

/// A failure that ends the command with `exit_code`; caught once in main.
class CtlError : public std::runtime_error {
 public:
  CtlError(const std::string& what, int exit_code = kExitUsage)
      : std::runtime_error(what), exit_code_(exit_code) {}
  [[nodiscard]] int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Connection settings common to every subcommand.
struct KafkaOptions {
  std::string brokers = "localhost:9092";
  std::vector<std::string> properties;  ///< `key=value`
  std::string secrets_file;
  std::string jobs_topic = "mgit.sync.jobs";
  std::string results_topic = "mgit.sync.results";
  std::string dlq_topic = "mgit.sync.dlq";
  std::string audit_topic = "mgit.audit";
  int timeout_ms = 10000;  ///< metadata and admin requests
};

/// A conf with bootstrap servers, `--kafka-property`, the secrets file and
/// `MGITD_KAFKA_SECRET_*` variables applied, then `extra` (the command's own settings).
ConfPtr make_conf(const KafkaOptions& options,
                  const std::vector<std::pair<std::string, std::string>>& extra = {});

KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf);

/// Metadata of all topics (never auto-creates one).
MetadataPtr fetch_metadata(rd_kafka_t* client, int timeout_ms);

const rd_kafka_metadata_topic_t* find_topic(const rd_kafka_metadata_t& metadata,
                                            const std::string& name);

struct PartitionRange {
  std::int32_t partition = 0;
  std::int64_t low = 0;
  std::int64_t high = 0;  ///< offset the next produced message gets
};

/// Low and high watermarks of every partition of `topic`; throws when it does not exist.
std::vector<PartitionRange> watermarks(rd_kafka_t* client, const std::string& topic,
                                       int timeout_ms);

/// Assigns `topic` partitions at the given offsets (no group membership, no commits).
void assign(rd_kafka_t* consumer, const std::string& topic,
            const std::vector<std::pair<std::int32_t, std::int64_t>>& offsets);

/// Header value as a string, empty when absent.
std::string header_value(const rd_kafka_message_t* message, const char* name);

/// A random lower-case hex string of `bytes` random bytes.
std::string random_hex(std::size_t bytes);

}  // namespace mgit::mgitctl
