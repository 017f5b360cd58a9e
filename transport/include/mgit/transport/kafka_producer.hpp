#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/transport/types.hpp"

namespace mgit::transport {

struct ProducerSettings {
  KafkaSettings kafka;
  /// How long librdkafka keeps retrying a record before its delivery fails.
  std::chrono::milliseconds delivery_timeout{120000};
};

/// Called on the io_context thread once the broker acknowledged the record (acks=all)
/// or librdkafka gave up on it.
using DeliveryHandler = std::function<void(tl::expected<DeliveredRecord, TransportError>)>;

/// Idempotent, acks=all producer whose delivery reports arrive on the io_context
/// (woken by librdkafka's main-queue event fd). All methods on the io_context thread.
class RecordProducer {
 public:
  static tl::expected<std::unique_ptr<RecordProducer>, TransportError> create(
      boost::asio::io_context& io, ProducerSettings settings);
  virtual ~RecordProducer() = default;

  /// Queues a record; `on_delivery` is called exactly once. A full local queue is retried
  /// internally, so the caller never sees QUEUE_FULL.
  virtual void produce(OutgoingRecord record, DeliveryHandler on_delivery) = 0;

  /// Records produced but not yet reported.
  [[nodiscard]] virtual std::size_t outstanding() const = 0;

  /// Blocks until every record is reported or the timeout passes, serving delivery
  /// handlers meanwhile. Returns the number still outstanding.
  virtual std::size_t flush(std::chrono::milliseconds timeout) = 0;

  /// Looks up these topics' partitions and leaders now, in the background, so the first
  /// record to each does not wait for that lookup (up to ~0.7 s for a new topic).
  virtual void prepare_topics(const std::vector<std::string>& /*topics*/) {}
};

}  // namespace mgit::transport
