#include "job_results.hpp"

#include <chrono>
#include <string_view>
#include <utility>

#include "mgit/jobs/result_json.hpp"

namespace mgit::daemon {

namespace {

constexpr std::string_view kResultSchema = "mgit.sync-result/v1";

transport::Headers output_headers(const observability::JobContext& ctx) {
  transport::Headers headers = {{"correlation-id", ctx.correlation_id},
                                {"traceparent", ctx.traceparent()},
                                {"content-type", "application/json"},
                                {"mgit-schema", std::string(kResultSchema)}};
  if (!ctx.tracestate.empty()) headers.emplace_back("tracestate", ctx.tracestate);
  return headers;
}

}  // namespace

jobs::JobResult ResultBuilder::base(const InFlightJob& job) const {
  jobs::JobResult result;
  result.job_id = job.ctx.job_id;
  result.correlation_id = job.ctx.correlation_id;
  result.trace_id = job.ctx.trace_id;
  result.worker = worker_;
  result.source =
      jobs::ResultSource{job.record.source.topic, job.record.source.partition, job.record.offset};
  result.finished_at = std::chrono::system_clock::now();
  return result;
}

jobs::JobResult ResultBuilder::rejected(const InFlightJob& job,
                                        const jobs::Rejected& rejected) const {
  auto result = base(job);
  result.status = jobs::Status::kRejected;
  result.error = rejected.error;
  result.operation = rejected.operation;
  result.repository_url = rejected.repository_url;
  result.target = rejected.target;
  return result;
}

jobs::JobResult ResultBuilder::finished(const InFlightJob& job, const jobs::Job& parsed,
                                        execution::JobRun& run) const {
  auto result = base(job);
  result.status = run.status;
  result.operation = parsed.operation;
  result.repository_url = parsed.repository_url;
  result.target = parsed.target;
  result.attempts = run.attempts;
  result.queue_ms = run.queue_time.count();
  result.duration_ms = run.run_time.count();
  result.served_by = std::move(run.served_by);
  if (run.outcome) {
    result.report = std::move(*run.outcome);
  } else {
    result.error = run.outcome.error();
  }
  return result;
}

jobs::JobResult ResultBuilder::minimal_failure(const InFlightJob& job,
                                               const jobs::JobResult& original,
                                               const std::string& why) const {
  auto minimal = base(job);
  minimal.status = jobs::Status::kFailed;
  minimal.operation = original.operation;
  minimal.repository_url = original.repository_url;
  minimal.target = original.target;
  minimal.attempts = original.attempts;
  minimal.error =
      jobs::JobError{jobs::ErrorCode::kInternal, "result could not be published: " + why};
  return minimal;
}

AnswerSummary summarize(const jobs::JobResult& result) {
  AnswerSummary summary;
  summary.operation = result.operation;
  summary.status = result.status;
  if (result.error) {
    summary.error_code = result.error->code;
    summary.error_message = result.error->message;
  }
  return summary;
}

transport::OutgoingRecord result_record(const std::string& topic, const InFlightJob& job,
                                        const jobs::JobResult& result, std::size_t max_bytes) {
  return transport::OutgoingRecord{topic, job.key.empty() ? result.job_id : job.key,
                                   jobs::result_to_json(result, max_bytes),
                                   output_headers(job.ctx)};
}

}  // namespace mgit::daemon
