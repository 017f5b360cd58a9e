#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
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
  std::string repository_url;  ///< as given (the result strips userinfo)
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

/// Repository key: lower-cased scheme+host(+non-default port), path without trailing
/// `.git` or `/`, no userinfo, no query. scp-like `git@host:org/app.git` becomes
/// `ssh://host/org/app`. Fails with `invalid_job` for anything that is not a git URL
/// mgitd can fetch (https, http, ssh, scp-like) and with `policy_denied` when the URL
/// carries a password or token in its userinfo.
tl::expected<std::string, JobError> normalize_repository_url(std::string_view url);

/// Checks a job's `target` (or the default derived from the key) as a workspace-relative
/// path: no absolute path, no `..`, no empty or `.` segments, no control characters.
/// Symlinked parents are checked at execution time, on the filesystem.
tl::expected<std::string, JobError> validate_target(std::string_view target);

/// Default target for a repository key: host + path, e.g. `git.example.com/org/app`.
std::string default_target(std::string_view repository_key);

}  // namespace mgit::jobs
