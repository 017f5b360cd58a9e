#pragma once

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error_classification.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/security/credentials.hpp"
#include "policy_stream.hpp"

namespace mgit::git {

/// Everything libgit2's remote callbacks see and report. Lives on the executing thread's
/// stack for one job; the callbacks run on that thread, inside libgit2 calls.
struct Transfer {
  const execution::ExecutionControl* control = nullptr;
  const security::Credential* credential = nullptr;  ///< null when the job names none
  /// The job's repository URL: libgit2 gives the certificate callback the host but not the
  /// port, and a host key is checked for both.
  std::string_view url;
  std::uint64_t max_received_bytes = 0;  ///< 0: unlimited
  /// Where the stream connected: a credential is bound to that endpoint, not to the URL
  /// libgit2 names (the job's even after a redirect, before Debian's deb12u2). Null: no credential
  /// is given.
  const ConnectLog* connections = nullptr;
  Endpoint job_endpoint;            ///< the job URL's host and (default) port
  std::optional<int> job_url_port;  ///< the port the job URL names, if any
  int auth_attempts = 0;
  /// The credential went out as a header on the first request (preemptive_auth.hpp): a 401
  /// then means the server rejected it, and the callback refuses instead of trying again.
  bool credential_presented = false;
  bool stopped = false;          ///< a callback saw `control->should_stop()` and aborted libgit2
  execution::Progress progress;  ///< what libgit2 reported so far, for `control->report`
  CallbackFindings findings;
  std::vector<jobs::RefUpdate> updates;
};

/// Callbacks for connect and fetch: credentials (bound to the credential's hosts, at most two
/// tries), ssh host key verification against the credential's known_hosts, the deadline,
/// cancellation and `max_received_bytes` checked on every progress report, and the refs the
/// fetch updated.
/// `transfer` must outlive every libgit2 call given the result.
git_remote_callbacks make_callbacks(Transfer& transfer);

}  // namespace mgit::git
