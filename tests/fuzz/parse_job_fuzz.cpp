// libFuzzer target: any byte string is a possible Kafka message value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "mgit/jobs/parse.hpp"
#include "mgit/jobs/repository_key.hpp"
#include "mgit/jobs/result_json.hpp"
#include "mgit/jobs/target.hpp"
#include "mgit/security/redaction.hpp"

namespace {

/// Feeds a parsed job (or what a rejection could read) through the result serializer, so
/// every string the parser accepts is also exercised on the way out.
void serialize_outcome(const mgit::jobs::ParseOutcome& outcome) {
  mgit::jobs::JobResult result;
  if (const auto* job = std::get_if<mgit::jobs::Job>(&outcome)) {
    result.job_id = job->job_id;
    result.correlation_id = job->correlation_id;
    result.status = mgit::jobs::Status::kSucceeded;
    result.operation = job->operation;
    result.repository_url = job->repository_url;
    result.target = job->target;
    result.report.refs_updated.push_back({job->ref, "", job->repository_key});
    (void)mgit::jobs::normalize_repository_url(job->repository_key);
  } else if (const auto* rejected = std::get_if<mgit::jobs::Rejected>(&outcome)) {
    result.job_id = rejected->job_id;
    result.correlation_id = rejected->correlation_id;
    result.status = mgit::jobs::Status::kRejected;
    result.error = rejected->error;
    result.operation = rejected->operation;
    result.repository_url = rejected->repository_url;
    result.target = rejected->target;
  } else {
    return;
  }
  (void)mgit::jobs::result_to_json(result, 512);
  (void)mgit::jobs::result_to_json(result);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  // The first line doubles as the `correlation-id` header and a bare URL, so header
  // handling and URL normalization are reached without valid JSON around them.
  const std::string_view first_line = payload.substr(0, payload.find('\n'));
  (void)mgit::jobs::normalize_repository_url(first_line);
  (void)mgit::security::redact_url(first_line);
  (void)mgit::security::redact_urls_in_text(payload);
  (void)mgit::jobs::validate_target(first_line);
  (void)mgit::jobs::default_target(first_line);
  serialize_outcome(mgit::jobs::parse_job(payload, first_line, mgit::jobs::ParseLimits{}));
  return 0;
}
