#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "mgit/daemon/config.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/execution/scheduler.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/health.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/observability/tracing.hpp"
#include "mgit/transport/kafka_consumer.hpp"
#include "mgit/transport/kafka_producer.hpp"
#include "mgit/transport/offset_tracker.hpp"

namespace mgit::daemon {

/// Where the pipeline reports what it does; any of them may be null (tests).
struct PipelineTelemetry {
  observability::Metrics* metrics = nullptr;
  observability::SpanSink* spans = nullptr;
  observability::HealthMonitor* health = nullptr;
};

/// Wires intake -> parse -> scheduler -> results -> offsets. Every member function runs on
/// the io_context thread (consumer events, scheduler completions and delivery reports all
/// arrive there), so the state below needs no locks.
class Pipeline final : public transport::ConsumerEvents {
 public:
  Pipeline(boost::asio::io_context& io, const Config& config, execution::Executor& executor,
           transport::RecordProducer& producer, PipelineTelemetry telemetry = {});
  ~Pipeline() override;

  /// Attaches the consumer (created after the pipeline, since it calls back into it).
  void attach(transport::IntakeConsumer& consumer) { consumer_ = &consumer; }

  /// Stops intake and drains: buffered and running jobs may finish within the grace
  /// period; then offsets are committed, the consumer closed and `on_done` called.
  void begin_shutdown(std::function<void()> on_done);

  bool ready() const { return ready_; }

  /// Refreshes gauges and health facts (in flight, paused partitions, stuck jobs, the
  /// event-loop heartbeat). The daemon calls it once a second on the io_context.
  void tick();

  void on_record(transport::ConsumedRecord record) override;
  void on_assigned(const std::vector<transport::TopicPartition>& partitions) override;
  void on_revoked(const std::vector<transport::TopicPartition>& partitions, bool lost,
                  std::function<void()> release) override;
  void on_error(const transport::TransportError& error) override;
  void on_statistics(const transport::ConsumerStatistics& statistics) override;
  void on_offset_resets(std::uint64_t count) override;

 private:
  /// What the published answer says, for metrics and the job span once it is acknowledged.
  struct Answer {
    bool dead_letter = false;
    std::string dlq_reason;
    std::string operation = "unknown";
    std::string status;
    std::string error_code = "none";
    std::string error_message;
  };
  struct Delivery {
    transport::ConsumedRecord record;  // kept for the DLQ fallback
    observability::JobContext ctx;
    std::string key;
    std::uint64_t generation = 0;  ///< of the partition's assignment it was consumed under
    std::chrono::system_clock::time_point consumed_at;
    std::string target;
    Answer answer;
  };
  struct PartitionState {
    std::uint64_t generation = 0;
    std::size_t outstanding = 0;  ///< consumed, not yet answered
    bool paused_for_backpressure = false;
    std::function<void()> release;  ///< set while a revoke waits for the drain
    std::unique_ptr<boost::asio::steady_timer> revoke_deadline;
  };

  void handle_unparseable(const std::shared_ptr<Delivery>& delivery, std::string reason,
                          std::string message);
  /// Builds the record to produce; called again for each retry.
  using RecordFactory = std::function<transport::OutgoingRecord()>;

  /// Produces a record; on acknowledgement the delivery is answered. Transient failures retry
  /// with backoff, fatal ones stop intake, permanent ones go to `on_permanent_failure`.
  void publish(const std::shared_ptr<Delivery>& delivery, RecordFactory make_record,
               std::function<void(const transport::TransportError&)> on_permanent_failure,
               int attempt = 0);
  /// A result event keyed by the repository (or the job id when there is no key).
  RecordFactory result_record(const std::shared_ptr<Delivery>& delivery, jobs::JobResult result,
                              std::size_t max_bytes) const;
  void publish_result(const std::shared_ptr<Delivery>& delivery, const jobs::JobResult& result);
  void publish_minimal_failure(const std::shared_ptr<Delivery>& delivery,
                               const jobs::JobResult& original, const std::string& why);
  void publish_dead_letter(const std::shared_ptr<Delivery>& delivery, std::string code,
                           std::string message, bool last_resort);
  /// The partition state a delivery still belongs to; null once released or re-assigned.
  PartitionState* current_partition(const Delivery& delivery);
  void answered(const Delivery& delivery);
  void withdrawn(const Delivery& delivery);
  void forget_outstanding(PartitionState& partition);
  /// Drops a released partition's state and offsets; returns its unanswered count.
  std::size_t forget_partition(const transport::TopicPartition& partition);
  void stop_intake_unanswerable(const transport::ConsumedRecord& record);

  void apply_backpressure(const transport::TopicPartition& partition);
  void release_backpressure(const transport::TopicPartition& partition);
  void maybe_finish_revoke(const transport::TopicPartition& partition, bool deadline_passed);
  void maybe_finish_shutdown();
  void finish_shutdown();

  jobs::JobResult base_result(const Delivery& delivery) const;
  void set_answer(Delivery& delivery, const jobs::JobResult& result);
  /// Counts and traces an acknowledged answer (whatever became of its partition since).
  void record_published(
      const Delivery& delivery, const std::string& topic,
      std::chrono::system_clock::time_point produce_started,
      const tl::expected<transport::DeliveredRecord, transport::TransportError>& delivered);
  void record_execution(const Delivery& delivery, const jobs::Job& job,
                        const execution::JobRun& run, const jobs::JobResult& result);
  bool tracing(const Delivery& delivery) const;
  transport::Headers output_headers(const observability::JobContext& ctx) const;
  std::uint64_t tag_of(const transport::TopicPartition& partition);

  boost::asio::io_context& io_;
  const Config& config_;
  execution::Scheduler scheduler_;
  transport::RecordProducer& producer_;
  transport::IntakeConsumer* consumer_ = nullptr;
  transport::OffsetTracker tracker_;
  std::map<transport::TopicPartition, PartitionState> partitions_;
  std::map<transport::TopicPartition, std::uint64_t> tags_;
  std::size_t total_outstanding_ = 0;
  std::uint64_t last_generation_ = 0;
  bool paused_globally_ = false;
  bool stopping_ = false;  ///< no new intake (shutdown or unanswerable job)
  bool ready_ = true;
  std::function<void()> on_shutdown_done_;
  std::unique_ptr<boost::asio::steady_timer> shutdown_deadline_;
  std::size_t max_result_bytes_;
  std::string worker_;
  PipelineTelemetry telemetry_;
  std::set<std::int32_t> lag_partitions_;  ///< partitions with a consumer_lag series
};

}  // namespace mgit::daemon
