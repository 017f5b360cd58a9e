#include "mgit/jobs/error.hpp"

#include <string_view>

#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"

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
      return false;
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

std::string_view to_string(Operation operation) {
  switch (operation) {
    case Operation::kClone:
      return "clone";
    case Operation::kFetch:
      return "fetch";
    case Operation::kSync:
      return "sync";
    case Operation::kMirror:
      return "mirror";
  }
  return "sync";
}

std::optional<Operation> parse_operation(std::string_view text) {
  if (text == "clone") return Operation::kClone;
  if (text == "fetch") return Operation::kFetch;
  if (text == "sync") return Operation::kSync;
  if (text == "mirror") return Operation::kMirror;
  return std::nullopt;
}

std::string_view to_string(Status status) {
  switch (status) {
    case Status::kSucceeded:
      return "succeeded";
    case Status::kFailed:
      return "failed";
    case Status::kRejected:
      return "rejected";
    case Status::kExpired:
      return "expired";
  }
  return "failed";
}

}  // namespace mgit::jobs
