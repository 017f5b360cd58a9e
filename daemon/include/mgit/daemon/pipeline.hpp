#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "mgit/daemon/pipeline_settings.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/execution/scheduler.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/observability/health.hpp"
#include "mgit/observability/metrics.hpp"
#include "mgit/observability/tracing.hpp"
#include "mgit/transport/kafka_consumer.hpp"
#include "mgit/transport/kafka_producer.hpp"

namespace mgit::audit {
class AuditLog;
}

namespace mgit::daemon {

/// Where the pipeline reports what it does; any of them may be null (tests).
struct PipelineTelemetry {
  observability::Metrics* metrics = nullptr;
  observability::SpanSink* spans = nullptr;
  observability::HealthMonitor* health = nullptr;
  /// Told about rate-limit trips after the pipeline counted them (the audit log's hook).
  execution::RateLimitObserver* rate_limits = nullptr;
  /// Security events of answered jobs; while it does not keep up, intake is held.
  audit::AuditLog* audit = nullptr;
};

struct InFlightJob;
class PartitionBook;
class JobTelemetry;
class ResultBuilder;
class AnswerPublisher;
class InFlightLedger;

/// Intake -> schedule -> answer: takes consumed records in (through the partition book),
/// hands jobs to the scheduler, publishes each one's answer and counts it answered once the
/// broker acknowledged it, so its offset can be committed. Every member function runs on
/// the io_context thread (consumer events, scheduler completions and delivery reports all
/// arrive there), so nothing here needs a lock.
class Pipeline final : public transport::ConsumerEvents {
 public:
  Pipeline(boost::asio::io_context& io, PipelineSettings settings, execution::Executor& executor,
           transport::RecordProducer& producer, PipelineTelemetry telemetry = {});
  ~Pipeline() override;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Attaches the consumer (created after the pipeline, since it calls back into it).
  void attach(transport::IntakeConsumer& consumer);

  /// Stops intake and drains: buffered and running jobs may finish within the grace
  /// period; then offsets are committed, the consumer closed and `on_done` called.
  void begin_shutdown(std::function<void()> on_done);

  [[nodiscard]] bool ready() const { return ready_; }

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
  void schedule(const std::shared_ptr<InFlightJob>& job, jobs::Job parsed);
  void completed(const std::shared_ptr<InFlightJob>& job, const jobs::Job& parsed,
                 execution::JobRun run);
  void answered(const InFlightJob& job);
  /// Records the job's audit events, then holds or reopens intake as the trail keeps up.
  void audit_answer(const InFlightJob& job, std::string_view credential,
                    std::string_view repository_key, const jobs::JobResult& result);
  void apply_audit_gate();
  void withdrawn(const InFlightJob& job);
  void stop_intake_unanswerable(const InFlightJob& job);
  void maybe_finish_shutdown();
  void finish_shutdown();

  boost::asio::io_context& io_;
  PipelineSettings settings_;
  /// Before the scheduler: its executions report to them, and the ledger's clean exit is
  /// written only once the scheduler has joined its workers.
  std::unique_ptr<InFlightLedger> ledger_;
  /// Before the scheduler, which reports to it until it is joined.
  std::unique_ptr<execution::RateLimitObserver> rate_limit_telemetry_;
  std::unique_ptr<execution::Executor> in_flight_executor_;
  execution::Scheduler scheduler_;
  transport::RecordProducer& producer_;
  transport::IntakeConsumer* consumer_ = nullptr;
  PipelineTelemetry sinks_;
  std::unique_ptr<PartitionBook> book_;
  std::unique_ptr<JobTelemetry> telemetry_;
  std::unique_ptr<ResultBuilder> results_;
  std::unique_ptr<AnswerPublisher> answers_;
  bool ready_ = true;
  std::function<void()> on_shutdown_done_;
  std::unique_ptr<boost::asio::steady_timer> shutdown_deadline_;
  std::set<std::int32_t> lag_partitions_;  ///< partitions with a consumer_lag series
};

}  // namespace mgit::daemon
