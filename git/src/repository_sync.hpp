#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

#include "existing_target.hpp"
#include "libgit2_handles.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/git/git_executor.hpp"
#include "mgit/jobs/error.hpp"
#include "mgit/jobs/job.hpp"
#include "mgit/jobs/result.hpp"
#include "mgit/observability/job_context.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/security/redaction.hpp"
#include "network_access.hpp"
#include "policy_stream.hpp"
#include "remote_callbacks.hpp"

namespace mgit::git {

/// The executor's size limits for one job; 0 = unlimited (GitExecutorSettings).
struct SyncLimits {
  std::uint64_t max_received_bytes = 0;
  std::uint64_t max_checkout_bytes = 0;
};

/// How the job's connections are made: the policy the stream enforces and libgit2's
/// redirect and proxy options.
struct SyncNetwork {
  ConnectPolicy policy;
  JobEndpoint job;
  std::string git_proxy;  ///< empty: no proxy
};

/// One job's libgit2 work on its target directory: create a repository and fetch into it,
/// or fetch into an existing one, then check out (work tree) or point HEAD (bare).
/// Runs on the calling worker thread; the caller holds the target's lock, has checked the
/// target's path and binding, and keeps every argument alive for the object's lifetime.
class RepositorySync {
 public:
  RepositorySync(const jobs::Job& job, std::filesystem::path path,
                 const execution::ExecutionControl& control, const security::Credential* credential,
                 const security::Redactor& redactor, const observability::JobContext& ctx,
                 SyncLimits limits, SyncNetwork network, RefBackupSettings backups);
  // libgit2's callbacks hold the address of `transfer_`: a copy would leave them pointing at
  // the original.
  RepositorySync(const RepositorySync&) = delete;
  RepositorySync& operator=(const RepositorySync&) = delete;

  /// Initializes a new repository at the target (its directory exists and is empty).
  tl::expected<jobs::ExecutionReport, jobs::JobError> create(Layout layout);
  /// Fetches into the existing target `repo` (opened and checked by `inspect_target`), which
  /// keeps its own layout (a mirror stays one); `kMirror` requested of a target that is not
  /// one → `conflict`.
  tl::expected<jobs::ExecutionReport, jobs::JobError> update(RepositoryPtr repo, Layout requested,
                                                             bool checkout_ref);
  /// Whether the failure came from a git lock file held by someone else.
  [[nodiscard]] bool lock_held() const { return lock_held_; }

 private:
  tl::expected<void, jobs::JobError> check(int rc, std::string_view action);
  jobs::JobError classify(int rc, std::string_view action);
  tl::expected<std::string, jobs::JobError> fetch(git_remote* remote, Layout layout);
  // ref_safety_fetch.cpp: download, back up, move refs, prune, expire backups.
  tl::expected<void, jobs::JobError> download_and_update(git_remote* remote, Layout layout,
                                                         const git_fetch_options& options);
  tl::expected<void, jobs::JobError> checkout(git_repository* repo,
                                              const std::string& default_branch);
  tl::expected<void, jobs::JobError> check_checkout_size(git_repository* repo, git_object* commit);
  tl::expected<void, jobs::JobError> point_head(git_repository* repo,
                                                const std::string& default_branch);
  tl::expected<RemotePtr, jobs::JobError> in_memory_remote(git_repository* repo, Layout layout);
  tl::expected<void, jobs::JobError> configure(
      git_repository* repo, std::initializer_list<std::pair<std::string, std::string>> values);
  tl::expected<jobs::ExecutionReport, jobs::JobError> finish(git_repository* repo, Layout layout,
                                                             bool checkout_ref,
                                                             const std::string& default_branch);

  const jobs::Job& job_;
  std::filesystem::path path_;
  const execution::ExecutionControl& control_;
  const security::Redactor& redactor_;
  const observability::JobContext& ctx_;
  SyncLimits limits_;
  SyncNetwork network_;
  RefBackupSettings backups_;
  ConnectLog connections_;  ///< what the stream did, for credentials and classification
  Transfer transfer_;
  /// `Authorization: Basic …` for the first request, when preemptive_auth_header allows it.
  std::optional<security::Secret> auth_header_;
  bool lock_held_ = false;
  jobs::ExecutionReport report_;
  std::string detached_ref_;  ///< the ref a detached checkout came from
};

}  // namespace mgit::git
