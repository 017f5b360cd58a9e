#pragma once

#include <chrono>
#include <string>
#include <tl/expected.hpp>

#include "in_flight_job.hpp"
#include "mgit/daemon/pipeline.hpp"
#include "mgit/execution/scheduler.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/transport/types.hpp"

namespace mgit::daemon {

/// Everything one job reports on its way through the pipeline: its log lines, its metrics
/// and its spans (`mgitd.job`, `git.<operation>`, `kafka.produce`). Answers arrive typed and
/// become metric labels and span attributes only here. Runs on the io_context thread.
class JobTelemetry {
 public:
  /// `group_id` names the consumer group in the job span.
  JobTelemetry(PipelineTelemetry sinks, std::string group_id)
      : sinks_(sinks), group_id_(std::move(group_id)) {}

  /// A record was taken in (counted per topic).
  void received(const transport::ConsumedRecord& record);
  /// The record is no job at all; its DLQ copy is about to be published.
  void unparseable(const InFlightJob& job, const jobs::Unparseable& unparseable);
  /// The record was running at too many unclean exits; its DLQ copy is about to be published.
  void poisoned(const InFlightJob& job, const std::string& message);
  /// The job is invalid; its `rejected` result is about to be published.
  void rejected(const InFlightJob& job, const jobs::Rejected& rejected);
  /// The job goes to the scheduler.
  void accepted(const InFlightJob& job, const jobs::Job& parsed);
  /// The scheduler finished the job: the log line, durations, retries and one span per attempt.
  void finished(const InFlightJob& job, const jobs::Job& parsed, const execution::JobRun& run,
                const jobs::JobResult& result);
  /// A publish of the job's answer ended (acknowledged or failed for good): counts the answer
  /// when acknowledged, traces the produce and, once an answer got through, the job span.
  void published(
      const InFlightJob& job, const std::string& topic,
      std::chrono::system_clock::time_point produce_started,
      const tl::expected<transport::DeliveredRecord, transport::TransportError>& delivered);

 private:
  [[nodiscard]] bool tracing(const InFlightJob& job) const;
  void trace_attempts(const InFlightJob& job, const jobs::Job& parsed, const execution::JobRun& run,
                      const jobs::JobResult& result);
  void trace_job(const InFlightJob& job, std::chrono::system_clock::time_point end);

  PipelineTelemetry sinks_;
  std::string group_id_;
};

}  // namespace mgit::daemon
