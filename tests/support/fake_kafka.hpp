#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "mgit/transport/kafka_consumer.hpp"
#include "mgit/transport/kafka_producer.hpp"

namespace mgit::test_support {

/// Records what the pipeline asks of its consumer. Offsets are "stored" in a map.
class FakeConsumer final : public transport::IntakeConsumer {
 public:
  tl::expected<void, transport::TransportError> start() override { return {}; }
  void pause(const std::vector<transport::TopicPartition>& partitions) override;
  void resume(const std::vector<transport::TopicPartition>& partitions) override;
  void hold_records(bool hold) override { holding = hold; }
  tl::expected<void, transport::TransportError> store_offset(const transport::TopicPartition& tp,
                                                             std::int64_t next_offset) override;
  tl::expected<void, transport::TransportError> commit_stored() override;
  void close() override { closed = true; }
  std::vector<transport::TopicPartition> assignment() const override { return assigned; }

  std::vector<transport::TopicPartition> assigned;
  std::set<transport::TopicPartition> paused;
  bool holding = false;
  std::map<transport::TopicPartition, std::int64_t> stored;
  int commits = 0;
  bool closed = false;
};

/// A producer whose deliveries the test decides: acknowledged at once (default), failed
/// for chosen topics, or held until `acknowledge_held`.
class FakeProducer final : public transport::RecordProducer {
 public:
  explicit FakeProducer(boost::asio::io_context& io) : io_(io) {}

  void produce(transport::OutgoingRecord record, transport::DeliveryHandler on_delivery) override;
  std::size_t outstanding() const override { return outstanding_; }
  std::size_t flush(std::chrono::milliseconds) override { return outstanding_; }

  /// The next `count` produces to `topic` fail with an error of this kind: permanent ones are
  /// "not authorized", or "too large" when `too_large`.
  void fail_next(const std::string& topic, int count,
                 transport::TransportErrorKind kind = transport::TransportErrorKind::kPermanent,
                 bool too_large = false) {
    failures_[topic] += count;
    failure_kind_[topic] = kind;
    failure_too_large_[topic] = too_large;
  }
  void hold_deliveries(bool hold) { hold_ = hold; }
  void acknowledge_held();

  std::vector<transport::OutgoingRecord> produced;
  std::vector<transport::OutgoingRecord> on_topic(const std::string& topic) const;

 private:
  boost::asio::io_context& io_;
  std::map<std::string, int> failures_;
  std::map<std::string, transport::TransportErrorKind> failure_kind_;
  std::map<std::string, bool> failure_too_large_;
  bool hold_ = false;
  std::vector<std::function<void()>> held_;
  std::size_t outstanding_ = 0;
  std::int64_t next_offset_ = 0;
};

}  // namespace mgit::test_support
