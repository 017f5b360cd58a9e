#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <type_traits>

#include "mgit/basics/handle.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::transport {

using basics::Handle;

using KafkaPtr = Handle<rd_kafka_t, &rd_kafka_destroy>;
using KafkaConfPtr = Handle<rd_kafka_conf_t, &rd_kafka_conf_destroy>;
using KafkaQueuePtr = Handle<rd_kafka_queue_t, &rd_kafka_queue_destroy>;
using PartitionListPtr =
    Handle<rd_kafka_topic_partition_list_t, &rd_kafka_topic_partition_list_destroy>;
using KafkaErrorPtr = Handle<rd_kafka_error_t, &rd_kafka_error_destroy>;
using KafkaHeadersPtr = Handle<rd_kafka_headers_t, &rd_kafka_headers_destroy>;
using KafkaTopicPtr = Handle<rd_kafka_topic_t, &rd_kafka_topic_destroy>;

inline void destroy_metadata(const rd_kafka_metadata_t* metadata) {
  rd_kafka_metadata_destroy(metadata);
}
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, decltype(&destroy_metadata)>;

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

/// Builds a conf in three layers: role defaults, then the operator's properties, then the
/// settings mgitd's guarantees depend on (which the operator cannot override).
tl::expected<KafkaConfPtr, TransportError> make_conf(const KafkaSettings& settings,
                                                     const KafkaProperties& defaults,
                                                     const KafkaProperties& forced);

/// The log callback make_conf installs: librdkafka lines as JSON log lines. Thread-safe.
void log_to_json(const rd_kafka_t* rk, int level, const char* facility, const char* text);

TransportError to_transport_error(rd_kafka_resp_err_t err, std::string context);

/// Classifies a delivery/produce error code.
TransportErrorKind classify(rd_kafka_resp_err_t err);

/// Whether a (permanent) produce error is about the record's size.
bool is_record_too_large(rd_kafka_resp_err_t err);

}  // namespace mgit::transport
