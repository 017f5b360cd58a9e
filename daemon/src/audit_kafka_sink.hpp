#pragma once

#include <string>

#include "mgit/audit/audit_log.hpp"
#include "mgit/transport/kafka_producer.hpp"

namespace mgit::daemon {

/// Audit events to their topic through the daemon's producer (acks=all, idempotent): an event
/// is delivered once every in-sync replica has it. Keyless, so events spread over the
/// topic's partitions; consumers order them by `ts`. On the io_context thread.
class KafkaAuditSink final : public audit::AuditSink {
 public:
  KafkaAuditSink(transport::RecordProducer& producer, std::string topic)
      : producer_(producer), topic_(std::move(topic)) {}

  void deliver(std::string line, std::function<void(bool delivered)> done) override;

 private:
  transport::RecordProducer& producer_;
  std::string topic_;
};

}  // namespace mgit::daemon
