#pragma once

#include <string>
#include <string_view>

namespace mgit::jobs {

/// The `error.code` values of `mgit.sync-result/v1`.
enum class ErrorCode {
  kInvalidJob,
  kPolicyDenied,
  kAuthFailed,
  kNotFound,
  kNetwork,
  kTimeout,
  kConflict,
  kDiskFull,
  kRateLimited,
  kInternal,
};

std::string_view to_string(ErrorCode code);

/// Whether trying the same job again may succeed. Exhaustive on purpose: a new code must
/// be classified here before it compiles.
bool is_retryable(ErrorCode code);

/// Whether a failure with this code means the job itself is unacceptable (`rejected`)
/// rather than tried and failed (`failed`).
bool is_rejection(ErrorCode code);

/// A job-level error. `message` is safe to publish: it never contains a secret.
struct JobError {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  [[nodiscard]] bool retryable() const { return is_retryable(code); }
};

}  // namespace mgit::jobs
