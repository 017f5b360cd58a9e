#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/execution/executor.hpp"
#include "mgit/git/target_store.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/security/network_policy.hpp"

namespace mgit::git {

/// `follow_redirects`: which HTTP redirects a job's connections may follow.
enum class FollowRedirects {
  kNone,      ///< none that leaves the job URL's host:port (a path on it is fine)
  kSameHost,  ///< any port of the job URL's host (libgit2's GIT_REMOTE_REDIRECT_NONE)
};

/// The force-push safety net (docs/git-executor.md, "Force-push safety net").
struct RefBackupSettings {
  bool enabled = true;  ///< `ref_backup`; a job's `options.ref_backup: false` also turns it off
  /// Remote ref prefixes whose forced updates and deletions are backed up.
  std::vector<std::string> namespaces{"refs/heads/", "refs/tags/"};
  int keep = 10;          ///< newest backups kept per ref; 0 = no count limit
  int max_age_days = 90;  ///< backups older than this are removed; 0 = no age limit
};

struct GitExecutorSettings {
  std::filesystem::path workspace;
  /// Must outlive the executor; null means no job may name a credential.
  const security::CredentialSource* credentials = nullptr;
  /// Creations and fetches are refused with `disk_full` when the workspace's free space is
  /// below this percentage.
  int min_free_disk_percent = 10;
  /// Per job: a fetch that has received more than this many bytes is aborted with
  /// `disk_full`. 0 = unlimited.
  std::uint64_t max_received_bytes = 0;
  /// A checkout whose tree's blobs add up to more than this many bytes is refused with
  /// `disk_full` before anything is written. 0 = unlimited (the free space is still checked).
  std::uint64_t max_checkout_bytes = 0;
  /// libgit2's `GIT_OPT_SET_PACK_MAX_OBJECTS`: a received pack with more objects is refused
  /// (`disk_full`). Process-wide, set when the executor is constructed and restored when it
  /// is destroyed; 0 leaves libgit2's default (no practical limit).
  std::size_t max_pack_objects = 0;
  /// What a job's connections may reach (docs/git-executor.md, "Network policy"); the
  /// default opens no loopback, private or metadata address.
  security::NetworkPolicy network_policy{};
  /// Whether `http://` job URLs run at all; never with a credential.
  bool allow_plain_http = false;
  FollowRedirects follow_redirects = FollowRedirects::kNone;
  /// `http://host[:port]` every http(s) connection goes through; empty: none. The proxy
  /// from the environment or git config is never used.
  std::string git_proxy{};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// SO_RCVTIMEO/SO_SNDTIMEO of every connection: a read or write blocked this long fails.
  std::chrono::milliseconds socket_timeout{std::chrono::seconds(300)};
  /// PEM certificates trusted for https remotes beside the system's CAs (`git_ca_file`);
  /// empty: the system's only. Process-wide like `max_pack_objects`; the constructor throws
  /// when the file cannot be loaded.
  std::filesystem::path ca_file{};
  RefBackupSettings ref_backup{};
};

/// Empty when `url` may be `git_proxy` (`http(s)://host[:port]`, no user, no path); else
/// what is wrong with it, without echoing it.
std::string git_proxy_problem(std::string_view url);

/// Runs jobs with libgit2 against `<workspace>/<target>`. See docs/git-executor.md for what
/// each operation does to the target and how libgit2 errors map to error codes.
///
/// Per job: take the target's file lock, answer a job id the target already served from its
/// record, remove what a killed creation left, refuse a target bound to another repository,
/// run (re-cloning a corrupt target), record the outcome — or, when the target does not exist
/// and is bound to nothing, remove its record and lock file.
/// Thread-safe across different targets; calls for one target must not overlap within the
/// process (the scheduler guarantees it; the file lock covers other processes).
/// A stalled remote blocks until libgit2 itself gives up: libgit2 1.5 has no server timeout
/// and `ExecutionControl` is only checked from its progress and credential callbacks.
class GitExecutor final : public execution::Executor {
 public:
  explicit GitExecutor(GitExecutorSettings settings);
  ~GitExecutor() override;
  GitExecutor(const GitExecutor&) = delete;
  GitExecutor& operator=(const GitExecutor&) = delete;

  tl::expected<jobs::ExecutionReport, jobs::JobError> execute(
      const jobs::Job& job, const observability::JobContext& ctx,
      const execution::ExecutionControl& control) override;

 private:
  class Libgit2Runtime;

  GitExecutorSettings settings_;
  std::unique_ptr<Libgit2Runtime> runtime_;
  TargetStore store_;
};

}  // namespace mgit::git
