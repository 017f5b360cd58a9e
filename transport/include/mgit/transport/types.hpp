#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mgit::transport {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;

  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  // clang-tidy 14 misreads the defaulted <=>'s own comparison with 0; there is no pointer here.
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Returns the first header with this name, if any.
std::optional<std::string> find_header(const Headers& headers, std::string_view name);

/// A consumed record, copied out of librdkafka so its lifetime is ours.
struct ConsumedRecord {
  TopicPartition source;
  std::int64_t offset = -1;
  std::optional<std::string> key;
  std::string payload;
  Headers headers;
  std::int64_t timestamp_ms = -1;
};

struct OutgoingRecord {
  std::string topic;
  std::optional<std::string> key;  ///< none: a null key (DLQ copies of keyless records)
  std::string payload;
  Headers headers;
};

struct DeliveredRecord {
  TopicPartition destination;
  std::int64_t offset = -1;
};

enum class TransportErrorKind {
  kTransient,  ///< a retry may succeed (broker down, timeouts)
  kPermanent,  ///< this record can never be delivered (too large, not authorized)
  kFatal,      ///< the client is unusable (fenced idempotent producer, bad config)
};

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::kTransient;
  int code = 0;  ///< librdkafka error code, for logs and tests
  std::string message;
  /// A permanent failure caused by the record's size (refused locally or by the broker):
  /// a smaller record to the same topic may still be accepted.
  bool record_too_large = false;
};

/// librdkafka settings shared by every client of one daemon.
struct KafkaSettings {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;  ///< passed through verbatim
};

}  // namespace mgit::transport
