#include "mgit/daemon/pipeline.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <utility>
#include <variant>

#include "answer_publisher.hpp"
#include "audit_events.hpp"
#include "in_flight_job.hpp"
#include "in_flight_ledger.hpp"
#include "job_results.hpp"
#include "job_telemetry.hpp"
#include "mgit/audit/audit_log.hpp"
#include "mgit/jobs/parse.hpp"
#include "mgit/observability/log.hpp"
#include "partition_book.hpp"

namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;
using transport::TopicPartition;

namespace {

/// Counts rate-limit trips, audits a host's cool-down (a job answered `rate_limited` is audited
/// with its result, job_audit_events), then hands them to an extra observer if any.
class RateLimitTelemetry final : public execution::RateLimitObserver {
 public:
  explicit RateLimitTelemetry(PipelineTelemetry sinks) : sinks_(sinks) {}

  void host_cooling_down(const execution::HostCoolDown& cool_down,
                         const observability::JobContext& ctx) override {
    if (sinks_.metrics != nullptr) sinks_.metrics->host_cool_down();
    if (sinks_.audit != nullptr) {
      auto event = host_cooldown_event(cool_down.host, cool_down.duration, "throttled");
      // The job whose answer tripped the cool-down, so the trail links the two.
      event.correlation_id = ctx.correlation_id;
      event.job_id = ctx.job_id;
      event.trace_id = ctx.trace_id;
      event.fields.push_back({"level", static_cast<std::int64_t>(cool_down.level)});
      sinks_.audit->record(event);
    }
    if (sinks_.rate_limits != nullptr) sinks_.rate_limits->host_cooling_down(cool_down, ctx);
  }

  void job_rate_limited(const execution::RateLimitedJob& job) override {
    if (sinks_.metrics != nullptr) sinks_.metrics->rate_limited_answer(to_string(job.answer));
    if (sinks_.rate_limits != nullptr) sinks_.rate_limits->job_rate_limited(job);
  }

 private:
  PipelineTelemetry sinks_;
};

}  // namespace

Pipeline::Pipeline(asio::io_context& io, PipelineSettings settings, execution::Executor& executor,
                   transport::RecordProducer& producer, PipelineTelemetry telemetry)
    : io_(io),
      settings_(std::move(settings)),
      ledger_(std::make_unique<InFlightLedger>(settings_.in_flight_file)),
      rate_limit_telemetry_(std::make_unique<RateLimitTelemetry>(telemetry)),
      in_flight_executor_(std::make_unique<InFlightExecutor>(executor, *ledger_)),
      scheduler_(io, *in_flight_executor_, settings_.scheduler),
      producer_(producer),
      sinks_(telemetry),
      book_(std::make_unique<PartitionBook>(
          io, scheduler_,
          PartitionBookSettings{settings_.max_buffered_per_partition, settings_.max_in_flight,
                                settings_.revoke_grace, settings_.hold_before_pause},
          [this] { maybe_finish_shutdown(); })),
      telemetry_(std::make_unique<JobTelemetry>(telemetry, settings_.group_id)),
      results_(std::make_unique<ResultBuilder>(settings_.worker)),
      answers_(std::make_unique<AnswerPublisher>(
          io, producer,
          AnswerSettings{settings_.results_topic, settings_.dlq_topic, settings_.max_result_bytes},
          *results_, *telemetry_,
          AnswerHooks{[this](const InFlightJob& job) { answered(job); },
                      [this](const InFlightJob& job) { stop_intake_unanswerable(job); }})) {
  scheduler_.set_rate_limit_observer(rate_limit_telemetry_.get());
}

Pipeline::~Pipeline() { scheduler_.join(); }

void Pipeline::attach(transport::IntakeConsumer& consumer) {
  consumer_ = &consumer;
  book_->attach(consumer);
}

// Intake: every record gets exactly one answer, a DLQ copy, a `rejected` result or the
// result of its run.
void Pipeline::on_record(transport::ConsumedRecord record) {
  const auto generation = book_->admit(record);
  if (!generation) return;
  telemetry_->received(record);
  const auto unclean_exits = ledger_->consumed(RecordId{record.source, record.offset});

  auto job = std::make_shared<InFlightJob>();
  job->generation = *generation;
  job->consumed_at = std::chrono::system_clock::now();
  const auto correlation_header = transport::find_header(record.headers, "correlation-id");
  const auto traceparent = transport::find_header(record.headers, "traceparent");
  const auto incoming = traceparent ? observability::parse_traceparent(*traceparent) : std::nullopt;
  const auto tracestate = transport::find_header(record.headers, "tracestate").value_or("");
  job->key = record.key.value_or("");
  job->record = std::move(record);

  if (unclean_exits >= kPoisonUncleanExits) {
    // Not parsed, not run: the record goes on exactly as it came.
    job->ctx =
        observability::JobContext::start("", correlation_header.value_or(""), incoming, tracestate);
    auto message =
        fmt::format("mgitd exited uncleanly {} times while running this record", unclean_exits);
    telemetry_->poisoned(*job, message);
    answers_->publish_dead_letter(job, "poison", std::move(message), false);
    return;
  }
  auto parsed = jobs::parse_job(job->record.payload, correlation_header.value_or(""),
                                jobs::ParseLimits{settings_.max_message_bytes});

  if (auto* unparseable = std::get_if<jobs::Unparseable>(&parsed)) {
    job->ctx =
        observability::JobContext::start("", correlation_header.value_or(""), incoming, tracestate);
    telemetry_->unparseable(*job, *unparseable);
    answers_->publish_dead_letter(job, std::move(unparseable->reason),
                                  std::move(unparseable->message), false);
    return;
  }
  if (auto* rejected = std::get_if<jobs::Rejected>(&parsed)) {
    job->ctx = observability::JobContext::start(rejected->job_id, rejected->correlation_id,
                                                incoming, tracestate);
    if (!rejected->repository_key.empty()) job->key = rejected->repository_key;
    job->target = rejected->target;
    telemetry_->rejected(*job, *rejected);
    auto result = results_->rejected(*job, *rejected);
    audit_answer(*job, "", rejected->repository_key, result);
    answers_->publish_result(job, result);
    return;
  }
  auto accepted = std::get<jobs::Job>(std::move(parsed));
  job->ctx = observability::JobContext::start(accepted.job_id, accepted.correlation_id, incoming,
                                              tracestate);
  job->key = accepted.repository_key;
  job->target = accepted.target;
  telemetry_->accepted(*job, accepted);
  schedule(job, std::move(accepted));
}

// Schedule: the scheduler runs it (one at a time per target) and calls back on the io_context.
void Pipeline::schedule(const std::shared_ptr<InFlightJob>& job, jobs::Job parsed) {
  ledger_->expect(job->ctx.span_id, RecordId{job->record.source, job->record.offset});
  auto ctx = job->ctx;
  auto kept = parsed;
  scheduler_.submit(std::move(parsed), std::move(ctx), book_->tag_of(job->record.source),
                    [this, job, parsed = std::move(kept)](execution::JobRun run) {
                      completed(job, parsed, std::move(run));
                    });
}

void Pipeline::completed(const std::shared_ptr<InFlightJob>& job, const jobs::Job& parsed,
                         execution::JobRun run) {
  ledger_->forget(job->ctx.span_id);
  if (run.withdrawn) {
    // No result, but an attempt may have offered the credential already: that stays audited,
    // once, by the job that ran (a coalesced job's `attempts` are its execution's).
    if (sinks_.audit != nullptr && run.attempts > 0 && !parsed.credential.empty() &&
        run.served_by.empty()) {
      sinks_.audit->record(withdrawn_credential_use(
          AuditedJob{job->ctx, parsed.credential, parsed.repository_key}, parsed.repository_url));
      apply_audit_gate();
    }
    withdrawn(*job);
    return;
  }
  auto result = results_->finished(*job, parsed, run);
  telemetry_->finished(*job, parsed, run, result);
  audit_answer(*job, parsed.credential, parsed.repository_key, result);
  answers_->publish_result(job, result);
}

void Pipeline::audit_answer(const InFlightJob& job, std::string_view credential,
                            std::string_view repository_key, const jobs::JobResult& result) {
  if (sinks_.audit == nullptr) return;
  for (const auto& event :
       job_audit_events(AuditedJob{job.ctx, credential, repository_key}, result)) {
    sinks_.audit->record(event);
  }
  apply_audit_gate();
}

void Pipeline::apply_audit_gate() {
  if (sinks_.audit == nullptr) return;
  const bool hold = !sinks_.audit->accepting();
  if (hold == book_->held()) return;
  if (hold) {
    // Acting on jobs whose security events cannot be recorded would leave no trail: fail
    // closed. Jobs already consumed finish; their events wait in the buffer.
    observability::log(
        LogLevel::kError, "intake held: the audit trail is not keeping up",
        {{"reason", sinks_.audit->closed_reason()}, {"buffered", sinks_.audit->buffered()}});
  } else {
    observability::log(LogLevel::kInfo, "intake reopened: audit events delivered");
  }
  book_->hold_intake(hold);
}

// Answer: the broker acknowledged the job's answer; its offset may now be committed.
void Pipeline::answered(const InFlightJob& job) {
  const auto& record = job.record;
  ledger_->answered(RecordId{record.source, record.offset});
  if (!book_->answered(record.source, record.offset, job.generation)) {
    // Answered after its partition was released (lost, or revoke grace passed) and perhaps
    // assigned again: its offset and counts belong to nobody here any more.
    observability::log(LogLevel::kDebug, job.ctx, "answered after its partition was released",
                       {{"partition", record.source.partition}, {"offset", record.offset}});
    return;
  }
  maybe_finish_shutdown();
}

void Pipeline::withdrawn(const InFlightJob& job) {
  if (book_->withdrawn(job.record.source, job.generation)) maybe_finish_shutdown();
}

void Pipeline::stop_intake_unanswerable(const InFlightJob& job) {
  // Committing past an unanswered job would lose it: stop taking work and turn not-ready
  // so an operator (or the orchestrator) looks; the offset stays uncommitted.
  ready_ = false;
  if (!book_->intake_stopped()) {
    observability::log(LogLevel::kError, "intake stopped: a job could not be answered",
                       {{"partition", job.record.source.partition}, {"offset", job.record.offset}});
    book_->stop_intake();
  }
}

void Pipeline::on_assigned(const std::vector<TopicPartition>& partitions) {
  book_->assign(partitions);
}

void Pipeline::on_revoked(const std::vector<TopicPartition>& partitions, bool lost,
                          std::function<void()> release) {
  book_->revoke(partitions, lost, std::move(release));
}

void Pipeline::on_error(const transport::TransportError& error) {
  // librdkafka recovers from transient errors by itself; log them once at warn.
  observability::log(
      error.kind == transport::TransportErrorKind::kFatal ? LogLevel::kError : LogLevel::kWarn,
      "kafka consumer error", {{"error", error.message}, {"code", error.code}});
  if (error.kind == transport::TransportErrorKind::kFatal) ready_ = false;
}

void Pipeline::on_statistics(const transport::ConsumerStatistics& statistics) {
  if (sinks_.health != nullptr) {
    sinks_.health->report_broker(statistics.broker_reachable, std::chrono::steady_clock::now());
  }
  if (sinks_.metrics == nullptr) return;
  std::set<std::int32_t> seen;
  for (const auto& partition : statistics.lag) {
    if (partition.lag < 0) continue;  // not known yet: no number beats a wrong one
    sinks_.metrics->set_consumer_lag(partition.partition.partition, partition.lag);
    seen.insert(partition.partition.partition);
  }
  for (const auto gone : lag_partitions_) {
    if (!seen.contains(gone)) sinks_.metrics->clear_consumer_lag(gone);
  }
  lag_partitions_ = std::move(seen);
}

void Pipeline::on_offset_resets(std::uint64_t count) {
  if (sinks_.metrics != nullptr) sinks_.metrics->offset_resets(count);
}

void Pipeline::tick() {
  const auto now = std::chrono::steady_clock::now();
  // A drain waits for the shared producer too: when the last answer came while another of its
  // records (an audit event, a webhook's job) was in flight, nothing else would look again
  // and the shutdown would wait out its whole grace.
  if (on_shutdown_done_) maybe_finish_shutdown();
  if (sinks_.audit != nullptr) {
    sinks_.audit->tick();
    apply_audit_gate();
    if (sinks_.metrics != nullptr) sinks_.metrics->set_audit_buffered(sinks_.audit->buffered());
  }
  const auto assigned = consumer_ != nullptr ? consumer_->assignment().size() : 0;
  const auto paused = book_->paused(assigned);
  if (sinks_.metrics != nullptr) {
    auto* metrics = sinks_.metrics;
    metrics->set_jobs_in_flight(book_->outstanding());
    metrics->set_rate_limits(scheduler_.throttled_hosts(), scheduler_.waiting_for_hosts());
    metrics->set_partitions(assigned, paused);
    const auto oldest = scheduler_.oldest_running_age();
    metrics->set_oldest_job_age(oldest ? std::chrono::duration<double>(*oldest).count() : 0.0);
  }
  if (sinks_.health != nullptr) {
    auto* health = sinks_.health;
    health->heartbeat(now, scheduler_.longest_overrun());
    if (!ready_) {
      health->set_intake(false, "stopped: a job could not be answered; see the error log");
    } else if (book_->intake_stopped()) {
      health->set_intake(false, "draining for shutdown");
    } else if (book_->held()) {
      health->set_intake(false, "held: " + sinks_.audit->closed_reason());
    } else {
      health->set_intake(true, "");
    }
  }
}

void Pipeline::begin_shutdown(std::function<void()> on_done) {
  if (on_shutdown_done_) return;
  on_shutdown_done_ = std::move(on_done);
  observability::log(
      LogLevel::kInfo, "shutting down: intake stopped, draining",
      {{"outstanding", book_->outstanding()},
       {"grace_seconds", static_cast<std::int64_t>(settings_.shutdown_grace.count())}});
  book_->stop_intake();
  shutdown_deadline_ = std::make_unique<asio::steady_timer>(io_, settings_.shutdown_grace);
  shutdown_deadline_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    observability::log(LogLevel::kWarn, "shutdown grace passed; abandoning unfinished jobs",
                       {{"outstanding", book_->outstanding()}});
    // Unfinished jobs stay uncommitted and are redelivered, with any finished above them.
    scheduler_.stop_accepting();
    scheduler_.cancel_running();
    finish_shutdown();
  });
  maybe_finish_shutdown();
}

void Pipeline::maybe_finish_shutdown() {
  if (!on_shutdown_done_ || book_->outstanding() > 0 || producer_.outstanding() > 0) return;
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
  book_->release_draining();
  if (consumer_ != nullptr) {
    if (auto committed = consumer_->commit_stored(); !committed) {
      observability::log(LogLevel::kWarn, "final commit failed",
                         {{"error", committed.error().message}});
    }
    consumer_->close();
  }
  done();
}

}  // namespace mgit::daemon
