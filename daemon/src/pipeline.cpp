#include "mgit/daemon/pipeline.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "http_routes.hpp"
#include "mgit/daemon/daemon.hpp"
#include "mgit/daemon/embedded_broker.hpp"
#include "mgit/daemon/http_server.hpp"
#include "mgit/git/git_executor.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/result_json.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/security/redaction.hpp"
#include "mgit/transport/kafka_admin.hpp"
#include "workspace_probe.hpp"

namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;
using transport::TopicPartition;

namespace {

constexpr std::string_view kResultSchema = "mgit.sync-result/v1";
// The fallback result must stay tiny so it fits where the full one did not.
constexpr std::size_t kMinimalResultBytes = 16 * 1024;

std::string host_name() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "mgitd";
  return buffer.data();
}

execution::SchedulerSettings scheduler_settings(const Config& config) {
  execution::SchedulerSettings settings;
  settings.workers = config.workers;
  settings.max_attempts = config.max_attempts;
  settings.default_timeout = std::chrono::seconds(config.job_timeout_seconds);
  return settings;
}

// A result must fit what the broker accepts: 1,000,000 bytes (about the brokers' default record
// limit) unless the operator set `message.max.bytes`, with room left for headers and record
// overhead. The producer's own limit is set higher, for DLQ copies of 1 MiB intake records.
std::size_t max_result_bytes(const Config& config) {
  constexpr std::size_t kHeadroom = 16 * 1024;
  std::size_t limit = 1000000;
  for (const auto& [key, value] : config.kafka_properties) {
    if (key == "message.max.bytes") limit = static_cast<std::size_t>(std::stoull(value));
  }
  return limit > 2 * kHeadroom ? limit - kHeadroom : limit / 2;
}

}  // namespace

Pipeline::Pipeline(asio::io_context& io, const Config& config, execution::Executor& executor,
                   transport::RecordProducer& producer, PipelineTelemetry telemetry)
    : io_(io),
      config_(config),
      scheduler_(io, executor, scheduler_settings(config)),
      producer_(producer),
      max_result_bytes_(max_result_bytes(config)),
      worker_(host_name()),
      telemetry_(telemetry) {}

Pipeline::~Pipeline() { scheduler_.join(); }

std::uint64_t Pipeline::tag_of(const TopicPartition& partition) {
  const auto found = tags_.find(partition);
  if (found != tags_.end()) return found->second;
  const auto tag = static_cast<std::uint64_t>(tags_.size() + 1);
  tags_.emplace(partition, tag);
  return tag;
}

void Pipeline::on_record(transport::ConsumedRecord record) {
  auto& partition = partitions_[record.source];
  if (stopping_ || partition.release) {
    // Not tracked: it is not committed and the partition's next owner (or our next start)
    // consumes it again.
    return;
  }
  if (!tracker_.begin(record.source, record.offset)) {
    // A rewound fetch: the first delivery of this offset is still tracked and will be
    // answered, so this copy is dropped.
    observability::log(LogLevel::kWarn, "record at or below a tracked offset dropped",
                       {{"partition", record.source.partition}, {"offset", record.offset}});
    return;
  }
  ++partition.outstanding;
  ++total_outstanding_;
  apply_backpressure(record.source);
  if (telemetry_.metrics != nullptr) telemetry_.metrics->job_received(record.source.topic);

  auto delivery = std::make_shared<Delivery>();
  delivery->generation = partition.generation;
  delivery->consumed_at = std::chrono::system_clock::now();
  const auto correlation_header = transport::find_header(record.headers, "correlation-id");
  auto parsed =
      jobs::parse_job(record.payload, correlation_header.value_or(""),
                      jobs::ParseLimits{static_cast<std::size_t>(config_.max_message_bytes)});
  const auto traceparent = transport::find_header(record.headers, "traceparent");
  const auto incoming = traceparent ? observability::parse_traceparent(*traceparent) : std::nullopt;
  const auto tracestate = transport::find_header(record.headers, "tracestate").value_or("");
  delivery->key = record.key.value_or("");
  delivery->record = std::move(record);

  if (auto* unparseable = std::get_if<jobs::Unparseable>(&parsed)) {
    delivery->ctx =
        observability::JobContext::start("", correlation_header.value_or(""), incoming, tracestate);
    handle_unparseable(delivery, unparseable->reason, unparseable->message);
    return;
  }
  if (auto* rejected = std::get_if<jobs::Rejected>(&parsed)) {
    delivery->ctx = observability::JobContext::start(rejected->job_id, rejected->correlation_id,
                                                     incoming, tracestate);
    if (!rejected->repository_key.empty()) delivery->key = rejected->repository_key;
    delivery->target = rejected->target;
    observability::log(LogLevel::kWarn, delivery->ctx, "job rejected",
                       {{"error_code", to_string(rejected->error.code)},
                        {"error", rejected->error.message},
                        {"partition", delivery->record.source.partition},
                        {"offset", delivery->record.offset}});
    auto result = base_result(*delivery);
    result.status = jobs::Status::kRejected;
    result.error = rejected->error;
    result.operation = rejected->operation;
    result.repository_url = rejected->repository_url;
    result.target = rejected->target;
    publish_result(delivery, result);
    return;
  }

  auto job = std::get<jobs::Job>(std::move(parsed));
  delivery->ctx =
      observability::JobContext::start(job.job_id, job.correlation_id, incoming, tracestate);
  delivery->key = job.repository_key;
  delivery->target = job.target;
  observability::log(LogLevel::kInfo, delivery->ctx, "job received",
                     {{"operation", to_string(job.operation)},
                      {"target", job.target},
                      {"partition", delivery->record.source.partition},
                      {"offset", delivery->record.offset}});
  auto ctx = delivery->ctx;
  auto job_copy = job;
  scheduler_.submit(
      std::move(job), std::move(ctx), tag_of(delivery->record.source),
      [this, delivery, job = std::move(job_copy)](execution::JobRun run) {
        if (run.withdrawn) {
          withdrawn(*delivery);
          return;
        }
        auto result = base_result(*delivery);
        result.status = run.status;
        result.operation = job.operation;
        result.repository_url = job.repository_url;
        result.target = job.target;
        result.attempts = run.attempts;
        result.queue_ms = run.queue_time.count();
        result.duration_ms = run.run_time.count();
        if (run.outcome) {
          result.report = std::move(*run.outcome);
        } else {
          result.error = run.outcome.error();
        }
        observability::log(
            run.status == jobs::Status::kSucceeded ? LogLevel::kInfo : LogLevel::kWarn,
            delivery->ctx, "job finished",
            {{"status", to_string(run.status)},
             {"error_code", result.error ? to_string(result.error->code) : ""},
             {"error", result.error ? result.error->message : std::string()},
             {"attempts", run.attempts},
             {"duration_ms", static_cast<std::int64_t>(run.run_time.count())},
             {"replayed", result.report.replayed}});
        record_execution(*delivery, job, run, result);
        publish_result(delivery, result);
      });
}

jobs::JobResult Pipeline::base_result(const Delivery& delivery) const {
  jobs::JobResult result;
  result.job_id = delivery.ctx.job_id;
  result.correlation_id = delivery.ctx.correlation_id;
  result.trace_id = delivery.ctx.trace_id;
  result.worker = worker_;
  result.source = jobs::ResultSource{delivery.record.source.topic, delivery.record.source.partition,
                                     delivery.record.offset};
  result.finished_at = std::chrono::system_clock::now();
  return result;
}

void Pipeline::set_answer(Delivery& delivery, const jobs::JobResult& result) {
  auto& answer = delivery.answer;
  answer.dead_letter = false;
  answer.operation = result.operation ? std::string(to_string(*result.operation)) : "unknown";
  answer.status = std::string(to_string(result.status));
  answer.error_code = result.error ? std::string(to_string(result.error->code)) : "none";
  answer.error_message = result.error ? result.error->message : std::string();
}

bool Pipeline::tracing(const Delivery& delivery) const {
  return telemetry_.spans != nullptr && delivery.ctx.sampled;
}

void Pipeline::record_execution(const Delivery& delivery, const jobs::Job& job,
                                const execution::JobRun& run, const jobs::JobResult& result) {
  if (telemetry_.metrics != nullptr) {
    auto* metrics = telemetry_.metrics;
    const auto operation = std::string(to_string(job.operation));
    const auto status = std::string(to_string(run.status));
    if (!run.attempt_log.empty()) {
      metrics->job_queued(std::chrono::duration<double>(run.queue_time).count());
      metrics->job_duration(operation, status, std::chrono::duration<double>(run.run_time).count());
    }
    metrics->git_received(result.report.received_bytes, result.report.received_objects);
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
  if (!tracing(delivery)) return;
  const auto url = security::redact_userinfo(job.repository_url);
  for (std::size_t i = 0; i < run.attempt_log.size(); ++i) {
    const auto& attempt = run.attempt_log[i];
    observability::Span span;
    span.trace_id = delivery.ctx.trace_id;
    span.span_id = observability::new_span_id();
    span.parent_span_id = delivery.ctx.span_id;
    span.trace_state = delivery.ctx.tracestate;
    span.name = "git." + std::string(to_string(job.operation));
    span.kind = observability::SpanKind::kClient;
    span.start = attempt.started;
    span.end = attempt.finished;
    span.attributes = {{"vcs.repository.url.full", url},
                       {"mgit.repository.key", job.repository_key},
                       {"mgit.target", job.target},
                       {"mgit.job.id", job.job_id},
                       {"mgit.job.operation", std::string(to_string(job.operation))},
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
    telemetry_.spans->submit(std::move(span));
  }
}

void Pipeline::record_published(
    const Delivery& delivery, const std::string& topic,
    std::chrono::system_clock::time_point produce_started,
    const tl::expected<transport::DeliveredRecord, transport::TransportError>& delivered) {
  const auto& answer = delivery.answer;
  if (delivered && telemetry_.metrics != nullptr) {
    if (answer.dead_letter) {
      telemetry_.metrics->dlq_record(answer.dlq_reason);
    } else {
      telemetry_.metrics->job_completed(answer.operation, answer.status, answer.error_code);
    }
  }
  if (!tracing(delivery)) return;
  const auto now = std::chrono::system_clock::now();
  observability::Span produce;
  produce.trace_id = delivery.ctx.trace_id;
  produce.span_id = observability::new_span_id();
  produce.parent_span_id = delivery.ctx.span_id;
  produce.trace_state = delivery.ctx.tracestate;
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
  telemetry_.spans->submit(std::move(produce));
  if (!delivered) return;  // the job span ends with the answer that finally got through

  const auto& record = delivery.record;
  observability::Span job;
  job.trace_id = delivery.ctx.trace_id;
  job.span_id = delivery.ctx.span_id;
  job.parent_span_id = delivery.ctx.parent_span_id;
  job.trace_state = delivery.ctx.tracestate;
  job.name = "mgitd.job";
  job.kind = observability::SpanKind::kConsumer;
  job.start = delivery.consumed_at;
  job.end = now;
  job.attributes = {{"messaging.system", std::string("kafka")},
                    {"messaging.operation.type", std::string("process")},
                    {"messaging.destination.name", record.source.topic},
                    {"messaging.destination.partition.id", std::to_string(record.source.partition)},
                    {"messaging.kafka.offset", record.offset},
                    {"messaging.consumer.group.name", config_.group_id},
                    {"mgit.job.id", delivery.ctx.job_id},
                    {"mgit.correlation_id", delivery.ctx.correlation_id},
                    {"mgit.job.operation", answer.operation},
                    {"mgit.repository.key", delivery.key},
                    {"mgit.target", delivery.target},
                    {"mgit.job.status", answer.status}};
  if (answer.dead_letter) {
    job.attributes.emplace_back("mgit.dlq.reason", answer.dlq_reason);
  } else if (answer.error_code != "none") {
    job.attributes.emplace_back("mgit.error.code", answer.error_code);
  }
  job.status = answer.status == "succeeded" ? observability::SpanStatus::kOk
                                            : observability::SpanStatus::kError;
  if (job.status == observability::SpanStatus::kError) job.status_message = answer.error_message;
  telemetry_.spans->submit(std::move(job));
}

transport::Headers Pipeline::output_headers(const observability::JobContext& ctx) const {
  transport::Headers headers = {{"correlation-id", ctx.correlation_id},
                                {"traceparent", ctx.traceparent()},
                                {"content-type", "application/json"},
                                {"mgit-schema", std::string(kResultSchema)}};
  if (!ctx.tracestate.empty()) headers.emplace_back("tracestate", ctx.tracestate);
  return headers;
}

void Pipeline::publish(const std::shared_ptr<Delivery>& delivery, RecordFactory make_record,
                       std::function<void(const transport::TransportError&)> on_permanent_failure,
                       int attempt) {
  // The record is built again for a retry rather than copied for every publish: retries
  // are rare, results and DLQ copies can be close to a megabyte.
  auto record = make_record();
  auto topic = record.topic;
  const auto produce_started = std::chrono::system_clock::now();
  producer_.produce(
      std::move(record),
      [this, delivery, make_record = std::move(make_record), topic = std::move(topic),
       on_permanent_failure = std::move(on_permanent_failure), attempt, produce_started](
          tl::expected<transport::DeliveredRecord, transport::TransportError> delivered) mutable {
        if (delivered || delivered.error().kind != transport::TransportErrorKind::kTransient) {
          // Transient failures are retried and traced once they end.
          record_published(*delivery, topic, produce_started, delivered);
        }
        if (delivered) {
          answered(*delivery);
          return;
        }
        const auto& error = delivered.error();
        switch (error.kind) {
          case transport::TransportErrorKind::kTransient: {
            // The broker is away or slow: the same record is tried again, for as long as it
            // takes. The offset stays uncommitted meanwhile, so nothing is lost.
            const auto delay =
                std::chrono::milliseconds(std::min(30000, 500 << std::min(attempt, 6)));
            if (attempt == 0) {
              observability::log(LogLevel::kWarn, delivery->ctx, "publish failed, retrying",
                                 {{"topic", topic}, {"error", error.message}});
            }
            auto timer = std::make_shared<asio::steady_timer>(io_, delay);
            timer->async_wait([this, timer, delivery, make_record = std::move(make_record),
                               on_permanent_failure = std::move(on_permanent_failure),
                               attempt](const boost::system::error_code& ec) mutable {
              if (ec) return;
              publish(delivery, std::move(make_record), std::move(on_permanent_failure),
                      attempt + 1);
            });
            return;
          }
          case transport::TransportErrorKind::kPermanent:
            on_permanent_failure(error);
            return;
          case transport::TransportErrorKind::kFatal:
            observability::log(LogLevel::kError, delivery->ctx, "producer failed fatally",
                               {{"error", error.message}});
            stop_intake_unanswerable(delivery->record);
            return;
        }
      });
}

Pipeline::RecordFactory Pipeline::result_record(const std::shared_ptr<Delivery>& delivery,
                                                jobs::JobResult result,
                                                std::size_t max_bytes) const {
  return [this, delivery, result = std::move(result), max_bytes] {
    return transport::OutgoingRecord{
        config_.results_topic, delivery->key.empty() ? result.job_id : delivery->key,
        jobs::result_to_json(result, max_bytes), output_headers(delivery->ctx)};
  };
}

void Pipeline::publish_result(const std::shared_ptr<Delivery>& delivery,
                              const jobs::JobResult& result) {
  set_answer(*delivery, result);
  publish(delivery, result_record(delivery, result, max_result_bytes_),
          [this, delivery, result](const transport::TransportError& error) {
            observability::log(LogLevel::kError, delivery->ctx, "result could not be published",
                               {{"error", error.message}, {"code", error.code}});
            publish_minimal_failure(delivery, result, error.message);
          });
}

void Pipeline::publish_minimal_failure(const std::shared_ptr<Delivery>& delivery,
                                       const jobs::JobResult& original, const std::string& why) {
  auto minimal = base_result(*delivery);
  minimal.status = jobs::Status::kFailed;
  minimal.operation = original.operation;
  minimal.repository_url = original.repository_url;
  minimal.target = original.target;
  minimal.attempts = original.attempts;
  minimal.error =
      jobs::JobError{jobs::ErrorCode::kInternal, "result could not be published: " + why};
  set_answer(*delivery, minimal);
  publish(delivery, result_record(delivery, std::move(minimal), kMinimalResultBytes),
          [this, delivery](const transport::TransportError& error) {
            publish_dead_letter(delivery, "result_unpublishable", error.message, true);
          });
}

void Pipeline::handle_unparseable(const std::shared_ptr<Delivery>& delivery, std::string reason,
                                  std::string message) {
  observability::log(LogLevel::kWarn, "message sent to the DLQ",
                     {{"reason", reason},
                      {"error", message},
                      {"partition", delivery->record.source.partition},
                      {"offset", delivery->record.offset}});
  publish_dead_letter(delivery, std::move(reason), std::move(message), false);
}

void Pipeline::publish_dead_letter(const std::shared_ptr<Delivery>& delivery, std::string code,
                                   std::string message, bool last_resort) {
  delivery->answer.dead_letter = true;
  delivery->answer.dlq_reason = code;
  delivery->answer.status = "dead_letter";
  delivery->answer.error_message = message;
  auto make_record = [this, delivery, code = std::move(code), message = std::move(message)] {
    const auto& record = delivery->record;
    auto headers = record.headers;
    headers.emplace_back("mgit-error-code", code);
    headers.emplace_back("mgit-error-message", message);
    headers.emplace_back("mgit-source-topic", record.source.topic);
    headers.emplace_back("mgit-source-partition", std::to_string(record.source.partition));
    headers.emplace_back("mgit-source-offset", std::to_string(record.offset));
    // The original key and bytes, untouched.
    return transport::OutgoingRecord{config_.dlq_topic, record.key, record.payload,
                                     std::move(headers)};
  };
  publish(delivery, std::move(make_record),
          [this, delivery, last_resort](const transport::TransportError& error) {
            observability::log(LogLevel::kError, "DLQ record could not be published",
                               {{"error", error.message},
                                {"last_resort", last_resort},
                                {"partition", delivery->record.source.partition},
                                {"offset", delivery->record.offset}});
            stop_intake_unanswerable(delivery->record);
          });
}

void Pipeline::stop_intake_unanswerable(const transport::ConsumedRecord& record) {
  // Committing past an unanswered job would lose it: stop taking work and turn not-ready
  // so an operator (or the orchestrator) looks; the offset stays uncommitted.
  ready_ = false;
  if (!stopping_) {
    observability::log(LogLevel::kError, "intake stopped: a job could not be answered",
                       {{"partition", record.source.partition}, {"offset", record.offset}});
    stopping_ = true;
    if (consumer_ != nullptr) consumer_->pause(consumer_->assignment());
  }
}

Pipeline::PartitionState* Pipeline::current_partition(const Delivery& delivery) {
  const auto found = partitions_.find(delivery.record.source);
  if (found == partitions_.end() || found->second.generation != delivery.generation) {
    return nullptr;
  }
  return &found->second;
}

void Pipeline::answered(const Delivery& delivery) {
  const auto& record = delivery.record;
  auto* partition = current_partition(delivery);
  if (partition == nullptr) {
    // Answered after its partition was released (lost, or revoke grace passed) and perhaps
    // assigned again: its offset and counts belong to nobody here any more.
    observability::log(LogLevel::kDebug, delivery.ctx, "answered after its partition was released",
                       {{"partition", record.source.partition}, {"offset", record.offset}});
    return;
  }
  forget_outstanding(*partition);
  if (const auto commit = tracker_.finish(record.source, record.offset)) {
    if (consumer_ != nullptr) {
      if (auto stored = consumer_->store_offset(record.source, *commit); !stored) {
        observability::log(LogLevel::kDebug, "offset not stored",
                           {{"partition", record.source.partition},
                            {"offset", *commit},
                            {"error", stored.error().message}});
      }
    }
  }
  release_backpressure(record.source);
  maybe_finish_revoke(record.source, false);
  maybe_finish_shutdown();
}

void Pipeline::forget_outstanding(PartitionState& partition) {
  if (partition.outstanding == 0) return;
  --partition.outstanding;
  --total_outstanding_;
}

void Pipeline::withdrawn(const Delivery& delivery) {
  // Neither answered nor committable: the offset stays below the watermark and the job
  // is consumed again by whoever owns the partition next.
  auto* partition = current_partition(delivery);
  if (partition == nullptr) return;
  forget_outstanding(*partition);
  maybe_finish_revoke(delivery.record.source, false);
  maybe_finish_shutdown();
}

void Pipeline::apply_backpressure(const TopicPartition& tp) {
  if (consumer_ == nullptr) return;
  auto& partition = partitions_[tp];
  const auto limit = static_cast<std::size_t>(config_.max_buffered_per_partition);
  if (!partition.paused_for_backpressure && tracker_.pending(tp) >= limit) {
    partition.paused_for_backpressure = true;
    consumer_->pause({tp});
    observability::log(LogLevel::kDebug, "partition paused", {{"partition", tp.partition}});
  }
  if (!paused_globally_ &&
      tracker_.total_pending() >= static_cast<std::size_t>(config_.max_in_flight)) {
    paused_globally_ = true;
    consumer_->pause(consumer_->assignment());
    observability::log(LogLevel::kInfo, "intake paused: max_in_flight reached",
                       {{"in_flight", tracker_.total_pending()}});
  }
}

void Pipeline::release_backpressure(const TopicPartition& tp) {
  if (consumer_ == nullptr || stopping_) return;
  const auto found = partitions_.find(tp);
  if (found == partitions_.end()) return;
  auto& partition = found->second;
  const auto half_partition = static_cast<std::size_t>(config_.max_buffered_per_partition) / 2;
  const auto half_global = static_cast<std::size_t>(config_.max_in_flight) / 2;
  if (paused_globally_ && tracker_.total_pending() <= half_global) {
    paused_globally_ = false;
    std::vector<TopicPartition> resumable;
    for (const auto& assigned : consumer_->assignment()) {
      const auto state = partitions_.find(assigned);
      if (state == partitions_.end() ||
          (!state->second.paused_for_backpressure && !state->second.release)) {
        resumable.push_back(assigned);
      }
    }
    consumer_->resume(resumable);
    observability::log(LogLevel::kInfo, "intake resumed",
                       {{"in_flight", tracker_.total_pending()}});
  }
  if (partition.paused_for_backpressure && tracker_.pending(tp) <= half_partition) {
    partition.paused_for_backpressure = false;
    if (!paused_globally_ && !partition.release) consumer_->resume({tp});
  }
}

void Pipeline::on_assigned(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    // A new generation: answers of jobs from an earlier assignment of the same partition
    // must not count against this one.
    auto& state = partitions_[tp];
    state = PartitionState{};
    state.generation = ++last_generation_;
  }
  // A fresh assignment starts unpaused in librdkafka: re-apply what holds process-wide.
  if ((paused_globally_ || stopping_) && consumer_ != nullptr) consumer_->pause(partitions);
}

void Pipeline::on_revoked(const std::vector<TopicPartition>& partitions, bool lost,
                          std::function<void()> release) {
  if (lost) {
    for (const auto& tp : partitions) {
      forget_partition(tp);
      scheduler_.withdraw(tag_of(tp));
    }
    release();
    maybe_finish_shutdown();
    return;
  }
  // Let the revoked partitions' buffered and running jobs finish and be committed, up to
  // revoke_grace_seconds; one shared release once all of them are drained.
  auto remaining = std::make_shared<std::size_t>(partitions.size());
  auto shared_release = std::make_shared<std::function<void()>>(std::move(release));
  for (const auto& tp : partitions) {
    auto& state = partitions_[tp];
    state.release = [remaining, shared_release] {
      if (*remaining > 0 && --*remaining == 0) (*shared_release)();
    };
    state.revoke_deadline = std::make_unique<asio::steady_timer>(
        io_, std::chrono::seconds(config_.revoke_grace_seconds));
    state.revoke_deadline->async_wait([this, tp](const boost::system::error_code& ec) {
      if (!ec) maybe_finish_revoke(tp, true);
    });
    maybe_finish_revoke(tp, false);
  }
}

std::size_t Pipeline::forget_partition(const TopicPartition& tp) {
  std::size_t outstanding = 0;
  if (const auto found = partitions_.find(tp); found != partitions_.end()) {
    outstanding = found->second.outstanding;
    total_outstanding_ -= std::min(total_outstanding_, outstanding);
    partitions_.erase(found);
  }
  tracker_.revoke(tp);
  return outstanding;
}

void Pipeline::maybe_finish_revoke(const TopicPartition& tp, bool deadline_passed) {
  const auto found = partitions_.find(tp);
  if (found == partitions_.end() || !found->second.release) return;
  if (!deadline_passed && found->second.outstanding > 0) return;
  // Take everything out of the state before calling out: withdraw() and release() call
  // back into this object.
  auto release = std::move(found->second.release);
  const auto outstanding = forget_partition(tp);
  release();
  if (outstanding > 0) {
    observability::log(LogLevel::kWarn, "revoke grace passed; released with jobs unfinished",
                       {{"partition", tp.partition}, {"outstanding", outstanding}});
    // Queued jobs are withdrawn (redelivered to the next owner); running ones finish and
    // publish, but their offsets are no longer ours to commit.
    scheduler_.withdraw(tag_of(tp));
  }
  maybe_finish_shutdown();
}

void Pipeline::on_statistics(const transport::ConsumerStatistics& statistics) {
  if (telemetry_.health != nullptr) {
    telemetry_.health->report_broker(statistics.broker_reachable, std::chrono::steady_clock::now());
  }
  if (telemetry_.metrics == nullptr) return;
  std::set<std::int32_t> seen;
  for (const auto& partition : statistics.lag) {
    if (partition.lag < 0) continue;  // not known yet: no number beats a wrong one
    telemetry_.metrics->set_consumer_lag(partition.partition.partition, partition.lag);
    seen.insert(partition.partition.partition);
  }
  for (const auto gone : lag_partitions_) {
    if (!seen.contains(gone)) telemetry_.metrics->clear_consumer_lag(gone);
  }
  lag_partitions_ = std::move(seen);
}

void Pipeline::on_offset_resets(std::uint64_t count) {
  if (telemetry_.metrics != nullptr) telemetry_.metrics->offset_resets(count);
}

void Pipeline::tick() {
  const auto now = std::chrono::steady_clock::now();
  const auto assigned = consumer_ != nullptr ? consumer_->assignment().size() : 0;
  std::size_t paused = 0;
  if (paused_globally_ || stopping_) {
    paused = assigned;
  } else {
    for (const auto& [tp, state] : partitions_) {
      if (state.paused_for_backpressure || state.release) ++paused;
    }
    paused = std::min(paused, assigned);
  }
  if (telemetry_.metrics != nullptr) {
    auto* metrics = telemetry_.metrics;
    metrics->set_jobs_in_flight(total_outstanding_);
    metrics->set_partitions(assigned, paused);
    const auto oldest = scheduler_.oldest_running_age();
    metrics->set_oldest_job_age(oldest ? std::chrono::duration<double>(*oldest).count() : 0.0);
  }
  if (telemetry_.health != nullptr) {
    auto* health = telemetry_.health;
    health->heartbeat(now, scheduler_.longest_overrun());
    if (!ready_) {
      health->set_intake(false, "stopped: a job could not be answered; see the error log");
    } else if (stopping_) {
      health->set_intake(false, "draining for shutdown");
    } else {
      health->set_intake(true, "");
    }
  }
}

void Pipeline::on_error(const transport::TransportError& error) {
  // librdkafka recovers from transient errors by itself; log them once at warn.
  observability::log(
      error.kind == transport::TransportErrorKind::kFatal ? LogLevel::kError : LogLevel::kWarn,
      "kafka consumer error", {{"error", error.message}, {"code", error.code}});
  if (error.kind == transport::TransportErrorKind::kFatal) ready_ = false;
}

void Pipeline::begin_shutdown(std::function<void()> on_done) {
  if (on_shutdown_done_) return;
  on_shutdown_done_ = std::move(on_done);
  stopping_ = true;
  observability::log(
      LogLevel::kInfo, "shutting down: intake stopped, draining",
      {{"outstanding", total_outstanding_}, {"grace_seconds", config_.shutdown_grace_seconds}});
  if (consumer_ != nullptr) consumer_->pause(consumer_->assignment());
  shutdown_deadline_ = std::make_unique<asio::steady_timer>(
      io_, std::chrono::seconds(config_.shutdown_grace_seconds));
  shutdown_deadline_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    observability::log(LogLevel::kWarn, "shutdown grace passed; abandoning unfinished jobs",
                       {{"outstanding", total_outstanding_}});
    // Unfinished jobs stay uncommitted and are redelivered, with any finished above them.
    scheduler_.stop_accepting();
    scheduler_.cancel_running();
    finish_shutdown();
  });
  maybe_finish_shutdown();
}

void Pipeline::maybe_finish_shutdown() {
  if (!on_shutdown_done_ || total_outstanding_ > 0 || producer_.outstanding() > 0) return;
  // Posted: this may run inside librdkafka's rebalance callback, where the consumer must
  // not be closed.
  asio::post(io_, [this] { finish_shutdown(); });
}

void Pipeline::finish_shutdown() {
  if (!on_shutdown_done_) return;
  auto done = std::move(on_shutdown_done_);
  on_shutdown_done_ = nullptr;
  if (shutdown_deadline_) shutdown_deadline_->cancel();
  // A revoke still draining would keep librdkafka waiting for our unassign while close()
  // blocks: release them all first (whatever finished has its offset stored).
  std::vector<std::function<void()>> pending_releases;
  for (auto& [tp, state] : partitions_) {
    if (state.release) pending_releases.push_back(std::move(state.release));
    state.release = nullptr;
  }
  for (auto& release : pending_releases) release();
  if (consumer_ != nullptr) {
    if (auto committed = consumer_->commit_stored(); !committed) {
      observability::log(LogLevel::kWarn, "final commit failed",
                         {{"error", committed.error().message}});
    }
    consumer_->close();
  }
  done();
}

namespace {

transport::KafkaSettings client_settings(const Config& config) {
  return transport::KafkaSettings{config.brokers, kafka_settings(config)};
}

int startup_failure(const std::string& message) {
  observability::log(LogLevel::kError, message);
  std::cerr << "mgitd: " << message << "\n";
  return 1;
}

}  // namespace

int run_daemon(const Config& config, const ConfigReloader& reload) {
  return run_daemon(
      config,
      [](const Config& effective, security::CredentialStore& credentials) {
        return std::make_unique<git::GitExecutor>(git::GitExecutorSettings{
            effective.workspace, &credentials, effective.min_free_disk_percent});
      },
      reload);
}

namespace {

// SIGHUP: log_level applies at once; everything else is reported as needing a restart.
void reload_config(const Config& running, const ConfigReloader& reload) {
  if (!reload) return;
  auto fresh = reload();
  if (!fresh) {
    observability::log(LogLevel::kWarn, "config reload failed; keeping the running config",
                       {{"error", fresh.error()}});
    return;
  }
  const auto level = observability::parse_log_level(fresh->log_level);
  if (level) observability::set_log_level(*level);
  auto without_level = [](Config config) {
    config.log_level.clear();
    return describe_config(config);
  };
  const bool others_changed = without_level(*fresh) != without_level(running);
  observability::log(LogLevel::kInfo, "config reloaded",
                     {{"log_level", fresh->log_level}, {"restart_needed", others_changed}});
  if (others_changed) {
    observability::log(LogLevel::kWarn,
                       "config changes other than log_level take effect on restart",
                       {{"config", observability::RawJson{describe_config(*fresh)}}});
  }
}

}  // namespace

int run_daemon(const Config& input, const ExecutorFactory& make_executor,
               const ConfigReloader& reload) {
  // SIGHUP's default action is to terminate: ignore it while starting and stopping; while
  // running, the signal set below turns it into a reload.
  std::signal(SIGHUP, SIG_IGN);
  Config config = input;
  observability::init_logging(
      observability::parse_log_level(config.log_level).value_or(LogLevel::kInfo));

  std::unique_ptr<EmbeddedBroker> embedded;
  if (config.embedded_broker) {
    embedded = std::make_unique<EmbeddedBroker>(
        std::vector<std::string>{config.jobs_topic, config.results_topic, config.dlq_topic}, 4);
    config.brokers = embedded->bootstrap_servers();
    std::cerr << "mgitd: embedded broker listening on " << config.brokers << "\n";
    observability::log(LogLevel::kWarn, "embedded broker started (not for production)",
                       {{"bootstrap_servers", config.brokers}});
  }
  const auto startup_config = describe_config(config);
  observability::log(LogLevel::kInfo, "mgitd starting",
                     {{"version", MGITD_VERSION},
                      {"revision", MGITD_REVISION},
                      {"config", observability::RawJson{startup_config}}});

  const auto settings = client_settings(config);
  auto probe = transport::ClusterProbe::create(settings);
  if (!probe) return startup_failure(probe.error().message);
  if (auto reached =
          probe->wait_for_broker(std::chrono::seconds(config.startup_broker_timeout_seconds));
      !reached) {
    return startup_failure(reached.error().message);
  }
  const std::vector<std::string> topics = {config.jobs_topic, config.results_topic,
                                           config.dlq_topic};
  auto described = probe->describe(topics, std::chrono::seconds(10));
  if (!described) return startup_failure("cannot describe topics: " + described.error().message);
  for (const auto& topic : topics) {
    if (!described->contains(topic)) {
      return startup_failure("topic '" + topic +
                             "' does not exist; create the topics with `mgitctl topics create`");
    }
  }

  std::error_code fs_error;
  std::filesystem::create_directories(config.workspace, fs_error);
  if (fs_error) {
    return startup_failure("cannot create workspace " + config.workspace + ": " +
                           fs_error.message());
  }
  security::CredentialStore credentials(config.credentials_dir);
  const auto executor = make_executor(config, credentials);

  observability::Metrics metrics(observability::BuildInfo{MGITD_VERSION, MGITD_REVISION});
  observability::HealthSettings health_settings;
  health_settings.broker_unready_grace = std::chrono::seconds(config.broker_unready_grace_seconds);
  health_settings.stuck_grace = std::chrono::seconds(config.stuck_grace_seconds);
  health_settings.min_free_disk_percent = config.min_free_disk_percent;
  observability::HealthMonitor health(health_settings, std::chrono::steady_clock::now());
  WorkspaceProbe workspace_probe(config.workspace, health, std::chrono::seconds(5));

  std::unique_ptr<observability::SpanSink> spans;
  if (config.otlp_endpoint.empty()) {
    spans = std::make_unique<observability::NullSpanSink>();
  } else {
    observability::OtlpExporterSettings exporter_settings;
    exporter_settings.endpoint = config.otlp_endpoint;
    auto exporter = observability::OtlpHttpExporter::create(
        exporter_settings, observability::TraceResource{"mgitd", MGITD_VERSION, host_name()},
        &metrics);
    if (!exporter) return startup_failure(exporter.error());
    spans = std::move(*exporter);
  }

  // Health and metrics answer from the first moment, so a probe sees "starting", not
  // "connection refused".
  HttpServerSettings http_settings;
  http_settings.listen = config.http_listen;
  auto http = HttpServer::start(http_settings, make_routes(metrics, health));
  if (!http) return startup_failure(http.error());
  observability::log(LogLevel::kInfo, "http listening",
                     {{"listen", config.http_listen}, {"port", (*http)->port()}});

  asio::io_context io;
  auto producer = transport::RecordProducer::create(io, transport::ProducerSettings{settings});
  if (!producer) return startup_failure(producer.error().message);
  int exit_code = 0;
  {
    Pipeline pipeline(io, config, *executor, **producer,
                      PipelineTelemetry{&metrics, spans.get(), &health});
    transport::ConsumerSettings consumer_settings;
    // Lag and broker state for /metrics and readiness.
    consumer_settings.statistics_interval = std::chrono::seconds(1);
    consumer_settings.kafka = settings;
    consumer_settings.group_id = config.group_id;
    consumer_settings.group_instance_id = config.group_instance_id;
    consumer_settings.topic = config.jobs_topic;
    auto consumer = transport::IntakeConsumer::create(io, consumer_settings, pipeline);
    if (!consumer) return startup_failure(consumer.error().message);
    pipeline.attach(**consumer);
    if (auto started = (*consumer)->start(); !started) {
      return startup_failure(started.error().message);
    }

    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      observability::log(LogLevel::kInfo, "signal received", {{"signal", signal_number}});
      pipeline.begin_shutdown([&] {
        // Delivery reports of the last results must be served before we stop the loop.
        const auto left = (*producer)->flush(std::chrono::seconds(10));
        if (left > 0) exit_code = 1;
        io.stop();
      });
      // A second signal is the operator insisting: stop now.
      signals.async_wait([&](const boost::system::error_code& again, int) {
        if (!again) {
          // Running libgit2 calls cannot be interrupted and waiting for them is what the
          // operator refuses: exit now. Nothing unanswered was committed, so it is redelivered.
          observability::log(LogLevel::kWarn, "second signal: exiting without drain");
          std::_Exit(1);
        }
      });
    });
    health.set_started(true);
    // The heartbeat: gauges, the liveness proof of this loop, and health transitions.
    asio::steady_timer heartbeat(io);
    std::function<void()> beat = [&] {
      pipeline.tick();
      const auto now = std::chrono::steady_clock::now();
      health.log_transitions(now);
      metrics.set_health(health.readiness(now).ok, health.liveness(now).ok);
      heartbeat.expires_after(std::chrono::seconds(1));
      heartbeat.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) beat();
      });
    };
    beat();

    asio::signal_set hangups(io, SIGHUP);
    std::function<void()> wait_hangup = [&] {
      hangups.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        reload_config(input, reload);
        wait_hangup();
      });
    };
    wait_hangup();

    observability::log(
        LogLevel::kInfo, "mgitd started",
        {{"brokers", config.brokers}, {"group_id", config.group_id}, {"workers", config.workers}});
    io.run();
    (*consumer)->close();
  }
  std::signal(SIGHUP, SIG_IGN);  // the signal set restored the default when it went away
  observability::log(LogLevel::kInfo, "mgitd stopped", {{"exit_code", exit_code}});
  return exit_code;
}

}  // namespace mgit::daemon
