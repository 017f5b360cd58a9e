#include "audit_kafka_sink.hpp"

#include <utility>

namespace mgit::daemon {

void KafkaAuditSink::deliver(std::string line, std::function<void(bool delivered)> done) {
  transport::OutgoingRecord record;
  record.topic = topic_;
  record.payload = std::move(line);
  record.headers = {{"content-type", "application/json"}, {"mgit-schema", "mgit.audit/v1"}};
  // Every failure is the audit log's to retry (it holds the line): a transient one after
  // librdkafka's own retries ran out, a permanent one (not authorized) until an operator acts.
  producer_.produce(
      std::move(record),
      [done = std::move(done)](
          const tl::expected<transport::DeliveredRecord, transport::TransportError>& delivered) {
        done(delivered.has_value());
      });
}

}  // namespace mgit::daemon
