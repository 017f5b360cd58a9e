#include "mgit/jobs/error.hpp"

#include <string_view>

namespace mgit::jobs {

// Every switch below is exhaustive with no `default`, so -Wswitch (an error under -Werror)
// forces a new enumerator to be classified before the code compiles. The trailing return
// after each switch is only reached through an out-of-range cast.

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidJob:
      return "invalid_job";
    case ErrorCode::kPolicyDenied:
      return "policy_denied";
    case ErrorCode::kAuthFailed:
      return "auth_failed";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kNetwork:
      return "network";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kDiskFull:
      return "disk_full";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

bool is_retryable(ErrorCode code) {
  switch (code) {
    // Transient by nature: the same request may succeed a moment later.
    case ErrorCode::kNetwork:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited:
      return true;
    // The job, the policy or the remote's answer would be the same on a retry.
    case ErrorCode::kInvalidJob:
    case ErrorCode::kPolicyDenied:
    case ErrorCode::kAuthFailed:
    case ErrorCode::kNotFound:
    case ErrorCode::kConflict:
    // A full disk does not free itself within a retry's backoff, and an internal error is a
    // bug or a broken invariant: retrying would only repeat it and delay the answer.
    case ErrorCode::kDiskFull:
    case ErrorCode::kInternal:
      return false;
  }
  return false;
}

bool is_rejection(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidJob:
    case ErrorCode::kPolicyDenied:
    case ErrorCode::kConflict:
      return true;
    case ErrorCode::kAuthFailed:
    case ErrorCode::kNotFound:
    case ErrorCode::kNetwork:
    case ErrorCode::kTimeout:
    case ErrorCode::kDiskFull:
    case ErrorCode::kRateLimited:
    case ErrorCode::kInternal:
      return false;
  }
  return false;
}

}  // namespace mgit::jobs
