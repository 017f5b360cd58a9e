#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"

namespace mgit::jobs {

/// A message that cannot be answered with a result: it goes to the DLQ untouched.
struct Unparseable {
  std::string reason;   ///< bounded label: `oversize`, `not_json`, `not_object`, `no_job_id`
  std::string message;  ///< human-readable detail, never echoes more than a short prefix
};

/// A message that names a usable job id but is not a valid job: answered `rejected`.
/// Carries whatever could be read so the result can say what was rejected.
struct Rejected {
  std::string job_id;
  std::string correlation_id;
  std::optional<Operation> operation;
  /// As given: every echo of it goes through `security::redact_url`.
  std::string repository_url;
  std::string repository_key;  ///< empty when the URL did not normalize
  std::string target;
  JobError error;  ///< code `invalid_job` (or `policy_denied` for secrets in the URL)
};

using ParseOutcome = std::variant<Job, Rejected, Unparseable>;

struct ParseLimits {
  std::size_t max_message_bytes = 65536;
};

/// Size limit first, then JSON parse, then every field is validated.
/// `header_correlation_id` is the intake `correlation-id` header (may be empty).
/// Never throws on any input.
ParseOutcome parse_job(std::string_view payload, std::string_view header_correlation_id,
                       const ParseLimits& limits);

}  // namespace mgit::jobs
