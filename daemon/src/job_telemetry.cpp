#include "job_telemetry.hpp"

#include <cstdint>
#include <string_view>
#include <utility>

#include "mgit/observability/log.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::daemon {

using observability::LogLevel;

namespace {

// The labels of an answer, as the metrics and spans have always spelled them.
std::string_view operation_label(const AnswerSummary& answer) {
  return answer.operation ? to_string(*answer.operation) : "unknown";
}
std::string_view status_label(const AnswerSummary& answer) {
  return answer.dead_letter_reason ? "dead_letter" : to_string(answer.status);
}
std::string_view error_code_label(const AnswerSummary& answer) {
  return answer.error_code ? to_string(*answer.error_code) : "none";
}

}  // namespace

void JobTelemetry::received(const transport::ConsumedRecord& record) {
  if (sinks_.metrics != nullptr) sinks_.metrics->job_received(record.source.topic);
}

void JobTelemetry::unparseable(const InFlightJob& job, const jobs::Unparseable& unparseable) {
  observability::log(LogLevel::kWarn, "message sent to the DLQ",
                     {{"reason", unparseable.reason},
                      {"error", unparseable.message},
                      {"partition", job.record.source.partition},
                      {"offset", job.record.offset}});
}

void JobTelemetry::poisoned(const InFlightJob& job, const std::string& message) {
  observability::log(LogLevel::kError, job.ctx, "message sent to the DLQ",
                     {{"reason", "poison"},
                      {"error", message},
                      {"partition", job.record.source.partition},
                      {"offset", job.record.offset}});
}

void JobTelemetry::rejected(const InFlightJob& job, const jobs::Rejected& rejected) {
  observability::log(LogLevel::kWarn, job.ctx, "job rejected",
                     {{"error_code", to_string(rejected.error.code)},
                      {"error", rejected.error.message},
                      {"partition", job.record.source.partition},
                      {"offset", job.record.offset}});
}

void JobTelemetry::accepted(const InFlightJob& job, const jobs::Job& parsed) {
  observability::log(LogLevel::kInfo, job.ctx, "job received",
                     {{"operation", to_string(parsed.operation)},
                      {"target", parsed.target},
                      {"partition", job.record.source.partition},
                      {"offset", job.record.offset}});
}

void JobTelemetry::finished(const InFlightJob& job, const jobs::Job& parsed,
                            const execution::JobRun& run, const jobs::JobResult& result) {
  observability::log(run.status == jobs::Status::kSucceeded ? LogLevel::kInfo : LogLevel::kWarn,
                     job.ctx, "job finished",
                     {{"status", to_string(run.status)},
                      {"error_code", result.error ? to_string(result.error->code) : ""},
                      {"error", result.error ? result.error->message : std::string()},
                      {"attempts", run.attempts},
                      {"duration_ms", static_cast<std::int64_t>(run.run_time.count())},
                      {"replayed", result.report.replayed},
                      {"served_by", run.served_by}});
  // A coalesced job's transfer, retries and git spans belong to the job whose execution
  // answered it: counted once, there.
  const bool ran_itself = run.served_by.empty();
  if (sinks_.metrics != nullptr) {
    auto* metrics = sinks_.metrics;
    const auto operation = to_string(parsed.operation);
    const auto status = to_string(run.status);
    if (!run.attempt_log.empty()) {
      metrics->job_queued(std::chrono::duration<double>(run.queue_time).count());
      metrics->job_duration(operation, status, std::chrono::duration<double>(run.run_time).count());
    }
    if (!ran_itself) {
      metrics->job_coalesced();
    } else {
      metrics->git_received(result.report.received_bytes, result.report.received_objects);
      // A replay answered from the target's record moved nothing.
      if (!result.report.replayed) {
        for (const jobs::RefUpdate& update : result.report.refs_updated) {
          if (update.forced)
            metrics->forced_update(update.new_oid.empty(), !update.backup_ref.empty());
        }
      }
      // Every failed attempt but the last was retried; an expired job was waiting to retry
      // its last one too.
      const auto retried = run.status == jobs::Status::kExpired
                               ? run.attempt_log.size()
                               : (run.attempt_log.empty() ? 0 : run.attempt_log.size() - 1);
      for (std::size_t i = 0; i < retried; ++i) {
        if (const auto& error = run.attempt_log[i].error) {
          metrics->retry(to_string(error->code));
        }
      }
    }
  }
  if (tracing(job) && ran_itself) trace_attempts(job, parsed, run, result);
}

bool JobTelemetry::tracing(const InFlightJob& job) const {
  return sinks_.spans != nullptr && job.ctx.sampled;
}

void JobTelemetry::trace_attempts(const InFlightJob& job, const jobs::Job& parsed,
                                  const execution::JobRun& run, const jobs::JobResult& result) {
  const auto url = security::redact_url(parsed.repository_url);
  for (std::size_t i = 0; i < run.attempt_log.size(); ++i) {
    const auto& attempt = run.attempt_log[i];
    observability::Span span;
    span.trace_id = job.ctx.trace_id;
    span.span_id = observability::new_span_id();
    span.parent_span_id = job.ctx.span_id;
    span.trace_state = job.ctx.tracestate;
    span.name = "git." + std::string(to_string(parsed.operation));
    span.kind = observability::SpanKind::kClient;
    span.start = attempt.started;
    span.end = attempt.finished;
    span.attributes = {{"vcs.repository.url.full", url},
                       {"mgit.repository.key", parsed.repository_key},
                       {"mgit.target", parsed.target},
                       {"mgit.job.id", parsed.job_id},
                       {"mgit.job.operation", std::string(to_string(parsed.operation))},
                       {"mgit.attempt", static_cast<std::int64_t>(i + 1)}};
    if (attempt.error) {
      span.status = observability::SpanStatus::kError;
      span.status_message = attempt.error->message;
      span.attributes.emplace_back("mgit.error.code", std::string(to_string(attempt.error->code)));
    } else {
      span.status = observability::SpanStatus::kOk;
      span.attributes.emplace_back("mgit.git.received_bytes",
                                   static_cast<std::int64_t>(result.report.received_bytes));
      span.attributes.emplace_back("mgit.git.received_objects",
                                   static_cast<std::int64_t>(result.report.received_objects));
    }
    sinks_.spans->submit(std::move(span));
  }
}

void JobTelemetry::published(
    const InFlightJob& job, const std::string& topic,
    std::chrono::system_clock::time_point produce_started,
    const tl::expected<transport::DeliveredRecord, transport::TransportError>& delivered) {
  const auto& answer = job.answer;
  if (delivered && sinks_.metrics != nullptr) {
    if (answer.dead_letter_reason) {
      sinks_.metrics->dlq_record(*answer.dead_letter_reason);
    } else {
      sinks_.metrics->job_completed(operation_label(answer), status_label(answer),
                                    error_code_label(answer));
    }
  }
  if (!tracing(job)) return;
  const auto now = std::chrono::system_clock::now();
  observability::Span produce;
  produce.trace_id = job.ctx.trace_id;
  produce.span_id = observability::new_span_id();
  produce.parent_span_id = job.ctx.span_id;
  produce.trace_state = job.ctx.tracestate;
  produce.name = "kafka.produce";
  produce.kind = observability::SpanKind::kProducer;
  produce.start = produce_started;
  produce.end = now;
  produce.attributes = {{"messaging.system", std::string("kafka")},
                        {"messaging.operation.type", std::string("send")},
                        {"messaging.destination.name", topic}};
  if (delivered) {
    produce.status = observability::SpanStatus::kOk;
    produce.attributes.emplace_back("messaging.destination.partition.id",
                                    std::to_string(delivered->destination.partition));
    produce.attributes.emplace_back("messaging.kafka.offset", delivered->offset);
  } else {
    produce.status = observability::SpanStatus::kError;
    produce.status_message = delivered.error().message;
  }
  sinks_.spans->submit(std::move(produce));
  // The job span ends with the answer that finally got through.
  if (delivered) trace_job(job, now);
}

void JobTelemetry::trace_job(const InFlightJob& job, std::chrono::system_clock::time_point end) {
  const auto& answer = job.answer;
  const auto& record = job.record;
  observability::Span span;
  span.trace_id = job.ctx.trace_id;
  span.span_id = job.ctx.span_id;
  span.parent_span_id = job.ctx.parent_span_id;
  span.trace_state = job.ctx.tracestate;
  span.name = "mgitd.job";
  span.kind = observability::SpanKind::kConsumer;
  span.start = job.consumed_at;
  span.end = end;
  span.attributes = {
      {"messaging.system", std::string("kafka")},
      {"messaging.operation.type", std::string("process")},
      {"messaging.destination.name", record.source.topic},
      {"messaging.destination.partition.id", std::to_string(record.source.partition)},
      {"messaging.kafka.offset", record.offset},
      {"messaging.consumer.group.name", group_id_},
      {"mgit.job.id", job.ctx.job_id},
      {"mgit.correlation_id", job.ctx.correlation_id},
      {"mgit.job.operation", std::string(operation_label(answer))},
      {"mgit.repository.key", job.key},
      {"mgit.target", job.target},
      {"mgit.job.status", std::string(status_label(answer))}};
  if (answer.dead_letter_reason) {
    span.attributes.emplace_back("mgit.dlq.reason", *answer.dead_letter_reason);
  } else if (answer.error_code) {
    span.attributes.emplace_back("mgit.error.code", std::string(error_code_label(answer)));
  }
  const bool succeeded = !answer.dead_letter_reason && answer.status == jobs::Status::kSucceeded;
  span.status = succeeded ? observability::SpanStatus::kOk : observability::SpanStatus::kError;
  if (!succeeded) span.status_message = answer.error_message;
  sinks_.spans->submit(std::move(span));
}

}  // namespace mgit::daemon
