#pragma once

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "mgit/execution/scheduler.hpp"
#include "mgit/transport/kafka_consumer.hpp"
#include "mgit/transport/offset_tracker.hpp"

namespace mgit::daemon {

struct PartitionBookSettings {
  std::size_t max_buffered_per_partition = 64;
  std::size_t max_in_flight = 256;
  std::chrono::seconds revoke_grace{20};
  /// How long intake may stop taking records at `max_in_flight` (hold_records) before it
  /// pauses every partition instead: a hold keeps librdkafka's prefetch but also leaves
  /// rebalances and errors unserved.
  std::chrono::milliseconds hold_before_pause{1000};
};

/// Where intake stopped at `limit` unfinished records starts again: at 7/8 of it, so the
/// pipeline never runs dry while librdkafka's prefetch refills.
[[nodiscard]] constexpr std::size_t resume_level(std::size_t limit) {
  return limit - std::max<std::size_t>(1, limit / 8);
}

/// The pipeline's account of its partitions: which consumed offsets are still unanswered
/// (and so which watermark may be stored), backpressure (a partition pauses at
/// `max_buffered_per_partition` unfinished records and resumes at half; at `max_in_flight`
/// intake stops taking records, and pauses everything if that lasts `hold_before_pause`;
/// both resume at 7/8 of `max_in_flight`), revoke drains, and whether intake is open at all.
///
/// Every assignment of a partition gets a new generation: an answer that arrives after its
/// partition was released (and maybe assigned again) counts for nothing here.
/// Not thread-safe: everything runs on the io_context thread.
class PartitionBook {
 public:
  /// `on_released` runs after a revoked partition was handed back to librdkafka, so a
  /// shutdown waiting for the last jobs can go on.
  PartitionBook(boost::asio::io_context& io, execution::Scheduler& scheduler,
                PartitionBookSettings settings, std::function<void()> on_released);
  PartitionBook(const PartitionBook&) = delete;
  PartitionBook& operator=(const PartitionBook&) = delete;

  void attach(transport::IntakeConsumer& consumer) { consumer_ = &consumer; }

  /// Counts a consumed record as unanswered and applies backpressure. Returns the generation
  /// it was consumed under, or nothing when it is not taken (intake stopped, its partition
  /// is being revoked, or a rewound copy of an offset still tracked): such a record is not
  /// committed and comes back to whoever owns the partition next.
  std::optional<std::uint64_t> admit(const transport::ConsumedRecord& record);
  /// The record's answer was acknowledged: stores the partition's watermark when it
  /// advances, resumes a partition below half its buffer, finishes a revoke drain. False
  /// when its partition was released (or assigned again) since it was consumed.
  bool answered(const transport::TopicPartition& partition, std::int64_t offset,
                std::uint64_t generation);
  /// The scheduler withdrew the record before it ran: no longer outstanding, and never
  /// committable. False when its partition was released since.
  bool withdrawn(const transport::TopicPartition& partition, std::uint64_t generation);

  /// The scheduler tag that groups a partition's jobs for withdrawal.
  std::uint64_t tag_of(const transport::TopicPartition& partition);

  void assign(const std::vector<transport::TopicPartition>& partitions);
  /// Lost partitions are released at once and their queued jobs withdrawn. Revoked ones
  /// drain: `release` runs once their jobs are answered, or at `revoke_grace`.
  void revoke(const std::vector<transport::TopicPartition>& partitions, bool lost,
              std::function<void()> release);

  /// Pauses every assigned partition and takes no more records (shutdown, or a job that
  /// cannot be answered). There is no way back.
  void stop_intake();
  [[nodiscard]] bool intake_stopped() const { return stopped_; }
  /// Pauses every assigned partition while `hold` (the audit trail is not keeping up) and
  /// resumes those no other reason keeps paused when it ends. Records already fetched are
  /// still admitted: dropping one would skip it when the partition resumes.
  void hold_intake(bool hold);
  [[nodiscard]] bool held() const { return held_; }
  /// Releases every revoke still draining, whatever is unfinished (the consumer closes next).
  void release_draining();

  /// Consumed, unanswered records across all partitions.
  [[nodiscard]] std::size_t outstanding() const { return total_outstanding_; }
  /// How many of the `assigned` partitions are paused, for the partitions_paused gauge.
  [[nodiscard]] std::size_t paused(std::size_t assigned) const;

 private:
  struct PartitionState {
    std::uint64_t generation = 0;
    std::size_t outstanding = 0;  ///< consumed, not yet answered
    bool paused_for_backpressure = false;
    std::function<void()> release;  ///< set while a revoke waits for the drain
    std::unique_ptr<boost::asio::steady_timer> revoke_deadline;
  };

  /// The partition state a record still belongs to; null once released or re-assigned.
  PartitionState* current(const transport::TopicPartition& partition, std::uint64_t generation);
  void forget_outstanding(PartitionState& partition);
  /// Drops a released partition's state and offsets; returns its unanswered count.
  std::size_t forget_partition(const transport::TopicPartition& partition);
  void apply_backpressure(const transport::TopicPartition& partition);
  void release_backpressure(const transport::TopicPartition& partition);
  /// Ends the hold or global pause at max_in_flight once few enough jobs are unfinished.
  void release_global_backpressure();
  /// The hold at max_in_flight lasted: pause everything, so the consumer is polled again.
  void hold_to_pause();
  void end_hold();
  void maybe_finish_revoke(const transport::TopicPartition& partition, bool deadline_passed);
  /// Assigned partitions that nothing keeps paused (backpressure, a revoke drain).
  [[nodiscard]] std::vector<transport::TopicPartition> resumable() const;

  boost::asio::io_context& io_;
  execution::Scheduler& scheduler_;
  PartitionBookSettings settings_;
  std::function<void()> on_released_;
  transport::IntakeConsumer* consumer_ = nullptr;
  transport::OffsetTracker tracker_;
  std::map<transport::TopicPartition, PartitionState> partitions_;
  std::map<transport::TopicPartition, std::uint64_t> tags_;
  std::size_t total_outstanding_ = 0;
  std::uint64_t last_generation_ = 0;
  bool held_at_limit_ = false;         ///< not taking records (hold_records) at max_in_flight
  std::uint64_t hold_generation_ = 0;  ///< a cancelled deadline's late handler does nothing
  boost::asio::steady_timer hold_deadline_;
  bool paused_globally_ = false;
  bool stopped_ = false;
  bool held_ = false;
};

}  // namespace mgit::daemon
