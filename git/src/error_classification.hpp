#pragma once

#include <string>
#include <string_view>

#include "mgit/jobs/error.hpp"
#include "mgit/security/redaction.hpp"

namespace mgit::git {

/// libgit2's return code (`git_error_code`), reduced to the values classification tells apart.
enum class GitReturnCode {
  kOther,
  kAuth,         ///< GIT_EAUTH
  kCertificate,  ///< GIT_ECERTIFICATE
  kEof,          ///< GIT_EEOF
  kLocked,       ///< GIT_ELOCKED
  kConflict,     ///< GIT_ECONFLICT
  kExists,       ///< GIT_EEXISTS
  kUnmerged,     ///< GIT_EUNMERGED
};

/// libgit2's error class (`git_error_t` of `git_error_last()`), reduced likewise.
enum class GitErrorClass { kOther, kOs, kNet, kSsl, kSsh, kHttp };

/// A failed libgit2 call as plain values, so classification is testable without a server.
struct GitFailure {
  GitReturnCode code = GitReturnCode::kOther;
  GitErrorClass error_class = GitErrorClass::kOther;
  std::string message;  ///< `git_error_last()`'s text; empty when libgit2 set none
  int os_error = 0;     ///< errno right after the call; only read for `GitErrorClass::kOs`
};

/// What the remote callbacks saw before libgit2 gave up. It explains an authentication
/// failure better than libgit2's text, which only says the callback returned an error.
struct CallbackFindings {
  /// The network policy refused a connection or a credential (`policy_denied`): why.
  std::string policy_denied;
  bool auth_without_credential = false;  ///< the server asked, the job names no credential
  std::string host_not_allowed;          ///< the credential's `hosts` does not list this host
  bool auth_exhausted = false;      ///< credential rejected twice, or of a kind the server refuses
  std::string host_key_problem;     ///< the ssh host key could not be verified
  std::string limit_exceeded;       ///< a size limit of the executor stopped the transfer (why)
  bool connection_refused = false;  ///< every address of an allowed host refused the connect
};

/// What a failure happened during and whose secrets its message must not show.
struct FailureContext {
  std::string_view action;           ///< "fetch", "checkout", …: the message starts with it
  std::string_view credential_name;  ///< the job's credential, named in auth messages
  const security::Redactor& redactor;
  /// The job's remote is ssh: a refused connection (or one closed before the ssh banner, as
  /// sshd's MaxStartups does) is throttling there, not a broken remote.
  bool ssh_remote = false;
};

struct ClassifiedError {
  jobs::JobError error;
  /// A git lock file held by a process outside mgitd: a `conflict` that goes away, so it is
  /// never recorded on the target and a redelivery runs again.
  bool lock_held = false;
};

/// Maps a failed libgit2 call to the job's error, in the order of docs/git-executor.md
/// ("Error classification"); the callbacks' findings come first. Callers handle a stop
/// (deadline, cancellation) seen by a callback before this. Every message is redacted.
ClassifiedError classify_git_error(const GitFailure& failure, const CallbackFindings& findings,
                                   const FailureContext& context);

/// Reads `git_error_last()` and `errno` for a libgit2 call that returned `rc`. Call it right
/// after the failing call, before anything else can change either.
GitFailure last_git_failure(int rc);

}  // namespace mgit::git
