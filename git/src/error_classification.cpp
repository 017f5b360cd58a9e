#include "error_classification.hpp"

#include <fmt/format.h>
#include <git2.h>

#include <cerrno>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {
namespace {

using basics::contains;
using jobs::ErrorCode;
using jobs::JobError;

GitReturnCode return_code(int rc) {
  switch (rc) {
    case GIT_EAUTH:
      return GitReturnCode::kAuth;
    case GIT_ECERTIFICATE:
      return GitReturnCode::kCertificate;
    case GIT_EEOF:
      return GitReturnCode::kEof;
    case GIT_ELOCKED:
      return GitReturnCode::kLocked;
    case GIT_ECONFLICT:
      return GitReturnCode::kConflict;
    case GIT_EEXISTS:
      return GitReturnCode::kExists;
    case GIT_EUNMERGED:
      return GitReturnCode::kUnmerged;
    default:
      return GitReturnCode::kOther;
  }
}

GitErrorClass error_class(int klass) {
  switch (klass) {
    case GIT_ERROR_OS:
      return GitErrorClass::kOs;
    case GIT_ERROR_NET:
      return GitErrorClass::kNet;
    case GIT_ERROR_SSL:
      return GitErrorClass::kSsl;
    case GIT_ERROR_SSH:
      return GitErrorClass::kSsh;
    case GIT_ERROR_HTTP:
      return GitErrorClass::kHttp;
    default:
      return GitErrorClass::kOther;
  }
}

/// The code for libgit2's own report. Its text is matched because libgit2 1.5 gives HTTP
/// statuses and most transport failures no return code of their own (only GIT_EAUTH).
ErrorCode code_for(const GitFailure& failure, bool ssh_remote) {
  const std::string text = basics::to_lower(failure.message);
  const GitReturnCode rc = failure.code;
  const GitErrorClass klass = failure.error_class;
  if (rc == GitReturnCode::kAuth || contains(text, "status code: 401") ||
      contains(text, "status code: 403") || contains(text, "authentication")) {
    return ErrorCode::kAuthFailed;
  }
  // 429 Too Many Requests and 503 Service Unavailable are how git hosts throttle over http;
  // the host cools down (docs/rate-limits.md). libgit2 1.5 gives the status only as text.
  if (contains(text, "status code: 429") || contains(text, "status code: 503")) {
    return ErrorCode::kRateLimited;
  }
  if (ssh_remote && (contains(text, "connection refused") || contains(text, "getting banner") ||
                     (klass == GitErrorClass::kOs && failure.os_error == ECONNREFUSED))) {
    return ErrorCode::kRateLimited;
  }
  if (contains(text, "status code: 404") || contains(text, "not found") ||
      contains(text, "does not appear to be a git repository")) {
    return ErrorCode::kNotFound;
  }
  // EFBIG is what a write past RLIMIT_FSIZE gets once SIGXFSZ is ignored: a size limit of the
  // worker, as final for this job as a full disk. "too many objects" is the indexer refusing
  // a pack over max_pack_objects.
  if (contains(text, "no space left") || contains(text, "disk quota exceeded") ||
      contains(text, "file too large") || contains(text, "too many objects") ||
      (klass == GitErrorClass::kOs &&
       (failure.os_error == ENOSPC || failure.os_error == EDQUOT || failure.os_error == EFBIG))) {
    return ErrorCode::kDiskFull;
  }
  if (rc == GitReturnCode::kLocked || rc == GitReturnCode::kConflict ||
      rc == GitReturnCode::kExists || rc == GitReturnCode::kUnmerged) {
    return ErrorCode::kConflict;
  }
  if (klass == GitErrorClass::kNet || klass == GitErrorClass::kSsl ||
      klass == GitErrorClass::kSsh || klass == GitErrorClass::kHttp ||
      rc == GitReturnCode::kCertificate || rc == GitReturnCode::kEof ||
      contains(text, "status code: 5") ||
      // libgit2 1.5's socket stream files a failed connect under the OS class
      // ("failed to connect to 127.0.0.1: Connection refused"), not NET.
      contains(text, "failed to connect to")) {
    return ErrorCode::kNetwork;
  }
  return ErrorCode::kInternal;
}

}  // namespace

ClassifiedError classify_git_error(const GitFailure& failure, const CallbackFindings& findings,
                                   const FailureContext& context) {
  const security::Redactor& redactor = context.redactor;
  // First: the refusal is what happened, whatever libgit2 made of the failed connect.
  if (!findings.policy_denied.empty()) {
    return {JobError{ErrorCode::kPolicyDenied, redactor.redact(findings.policy_denied)}};
  }
  if (findings.auth_without_credential) {
    return {JobError{ErrorCode::kAuthFailed,
                     "the remote requires authentication and the job names no credential"}};
  }
  if (!findings.host_not_allowed.empty()) {
    return {
        JobError{ErrorCode::kAuthFailed,
                 redactor.redact(fmt::format("credential '{}' is not allowed for host '{}'",
                                             context.credential_name, findings.host_not_allowed))}};
  }
  if (findings.auth_exhausted) {
    return {JobError{ErrorCode::kAuthFailed,
                     fmt::format("the remote rejected credential '{}'", context.credential_name)}};
  }
  if (!findings.host_key_problem.empty()) {
    return {JobError{ErrorCode::kAuthFailed, redactor.redact(findings.host_key_problem)}};
  }
  if (!findings.limit_exceeded.empty()) {
    return {JobError{ErrorCode::kDiskFull, redactor.redact(findings.limit_exceeded)}};
  }
  const std::string_view raw =
      failure.message.empty() ? std::string_view("unknown error") : failure.message;
  ErrorCode code = code_for(failure, context.ssh_remote);
  // The policy stream words every failed connect alike (no port-scanner oracle), so what the
  // text cannot say comes from the stream: an ssh server refusing connections is throttling.
  if (findings.connection_refused && context.ssh_remote) code = ErrorCode::kRateLimited;
  if (code == ErrorCode::kConflict && failure.code == GitReturnCode::kLocked) {
    // Stale locks are removed before each run, so this one is held by something outside
    // mgitd (e.g. an operator's git) and will go away: not recorded, a redelivery runs again.
    return {JobError{code, redactor.redact(fmt::format("{} failed: a git lock file is held: {}",
                                                       context.action, raw))},
            true};
  }
  if (code == ErrorCode::kDiskFull && contains(basics::to_lower(raw), "too many objects")) {
    // libgit2 says only "too many objects"; the operator needs the setting's name.
    return {JobError{code, fmt::format("{} failed: the pack has more objects than "
                                       "max_pack_objects allows",
                                       context.action)}};
  }
  return {JobError{code, redactor.redact(fmt::format("{} failed: {}", context.action, raw))}};
}

GitFailure last_git_failure(int rc) {
  const int os_error = errno;
  const git_error* error = git_error_last();
  GitFailure failure;
  failure.code = return_code(rc);
  failure.os_error = os_error;
  if (error != nullptr) {
    failure.error_class = error_class(error->klass);
    if (error->message != nullptr) failure.message = error->message;
  }
  return failure;
}

}  // namespace mgit::git
