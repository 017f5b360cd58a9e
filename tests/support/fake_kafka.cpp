#include "support/fake_kafka.hpp"

#include <boost/asio/post.hpp>

namespace mgit::test_support {

void FakeConsumer::pause(const std::vector<transport::TopicPartition>& partitions) {
  paused.insert(partitions.begin(), partitions.end());
}

void FakeConsumer::resume(const std::vector<transport::TopicPartition>& partitions) {
  for (const auto& tp : partitions) paused.erase(tp);
}

tl::expected<void, transport::TransportError> FakeConsumer::store_offset(
    const transport::TopicPartition& tp, std::int64_t next_offset) {
  stored[tp] = next_offset;
  return {};
}

tl::expected<void, transport::TransportError> FakeConsumer::commit_stored() {
  ++commits;
  return {};
}

void FakeProducer::produce(transport::OutgoingRecord record,
                           transport::DeliveryHandler on_delivery) {
  produced.push_back(record);
  ++outstanding_;
  tl::expected<transport::DeliveredRecord, transport::TransportError> outcome =
      transport::DeliveredRecord{transport::TopicPartition{record.topic, 0}, next_offset_++};
  if (auto found = failures_.find(record.topic); found != failures_.end() && found->second > 0) {
    --found->second;
    const auto kind = failure_kind_[record.topic];
    // librdkafka's codes and wording for a timeout, a refused ACL and an oversized record.
    if (kind == transport::TransportErrorKind::kTransient) {
      outcome = tl::make_unexpected(
          transport::TransportError{kind, -192, "Local: Message timed out", false});
    } else if (failure_too_large_[record.topic]) {
      outcome = tl::make_unexpected(
          transport::TransportError{kind, 10, "Broker: Message size too large", true});
    } else {
      outcome = tl::make_unexpected(
          transport::TransportError{kind, 29, "Broker: Topic authorization failed", false});
    }
  }
  auto deliver = [this, on_delivery = std::move(on_delivery), outcome]() {
    --outstanding_;
    on_delivery(outcome);
  };
  if (hold_) {
    held_.push_back(std::move(deliver));
  } else {
    boost::asio::post(io_, std::move(deliver));
  }
}

void FakeProducer::acknowledge_held() {
  auto held = std::move(held_);
  held_.clear();
  for (auto& deliver : held) boost::asio::post(io_, std::move(deliver));
}

std::vector<transport::OutgoingRecord> FakeProducer::on_topic(const std::string& topic) const {
  std::vector<transport::OutgoingRecord> out;
  for (const auto& record : produced) {
    if (record.topic == topic) out.push_back(record);
  }
  return out;
}

}  // namespace mgit::test_support
