#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/transport/consumer_statistics.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::transport {

struct ConsumerSettings {
  KafkaSettings kafka;
  std::string group_id;
  std::string group_instance_id;  ///< static membership when set
  std::string topic;
  /// Poll even without events: keeps an idle or fully paused consumer inside
  /// max.poll.interval.ms and serves rebalances. Well below any sane poll interval.
  std::chrono::milliseconds idle_poll_interval{200};
  /// librdkafka statistics (lag, broker state) every this often; zero turns them off.
  std::chrono::milliseconds statistics_interval{0};
};

/// Receives the consumer's events. Every call happens on the io_context thread.
class ConsumerEvents {
 public:
  virtual ~ConsumerEvents() = default;
  virtual void on_record(ConsumedRecord record) = 0;
  virtual void on_assigned(const std::vector<TopicPartition>& partitions) = 0;
  /// The group takes these partitions away. Call `release` once their in-flight work is
  /// finished and their offsets are stored (it may be called at once or later, but within
  /// the session timeout). `lost` partitions are already gone: `release` is a no-op then.
  virtual void on_revoked(const std::vector<TopicPartition>& partitions, bool lost,
                          std::function<void()> release) = 0;
  /// A consumer-level error (broker down, ...), for logs and health.
  virtual void on_error(const TransportError& error) = 0;
  /// Parsed librdkafka statistics, every `statistics_interval`.
  virtual void on_statistics(const ConsumerStatistics& /*statistics*/) {}
  /// librdkafka reset `count` fetch positions because a committed offset was out of range
  /// (records were skipped or will be read again). Not called for a group's first start.
  virtual void on_offset_resets(std::uint64_t /*count*/) {}
};

/// A librdkafka group consumer driven by the io_context: woken by librdkafka's queue event
/// fd, plus an idle poll timer. Offsets: auto-commit of *stored* offsets only; the owner
/// stores an offset after the record's answer was acknowledged.
/// All methods must be called on the io_context thread.
class IntakeConsumer {
 public:
  static tl::expected<std::unique_ptr<IntakeConsumer>, TransportError> create(
      boost::asio::io_context& io, ConsumerSettings settings, ConsumerEvents& events);
  virtual ~IntakeConsumer() = default;

  /// Subscribes and starts polling.
  virtual tl::expected<void, TransportError> start() = 0;

  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  /// Stops (true) or restarts (false) taking records off the consumer's queue without
  /// pausing anything: librdkafka keeps what it prefetched (bounded by
  /// `queued.max.messages.kbytes`), so taking records again costs no fetch round trip, where
  /// pause() drops the prefetch and a resume waits for the next fetch. Rebalances, errors and
  /// statistics share that queue and wait too, and max.poll.interval.ms counts on: a hold
  /// must stay short (the owner pauses instead when it lasts).
  virtual void hold_records(bool hold) = 0;

  /// Stores `next_offset` (last finished + 1) for the next auto-commit. Fails with
  /// ERR__STATE once the partition is no longer assigned.
  virtual tl::expected<void, TransportError> store_offset(const TopicPartition& partition,
                                                          std::int64_t next_offset) = 0;

  /// Commits stored offsets now, synchronously (used on shutdown before close).
  virtual tl::expected<void, TransportError> commit_stored() = 0;

  /// Leaves (dynamic member) or keeps (static member) the group; commits stored offsets.
  /// Blocks briefly. Idempotent.
  virtual void close() = 0;

  /// Current assignment as seen by librdkafka.
  [[nodiscard]] virtual std::vector<TopicPartition> assignment() const = 0;
};

}  // namespace mgit::transport
