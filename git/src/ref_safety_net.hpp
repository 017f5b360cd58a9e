#pragma once

#include <git2.h>

#include <chrono>
#include <map>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/jobs/result.hpp"
#include "mirror_refspecs.hpp"
#include "ref_backup_names.hpp"

namespace mgit::git {

/// A ref as the remote advertised it at connect (`git_remote_ls`).
struct AdvertisedRef {
  std::string name;
  git_oid oid{};
};

/// The advertised refs of a connected remote, `HEAD` and peeled `^{}` entries left out. A
/// failure is the job's: an empty list would make a mirror prune every ref.
tl::expected<std::vector<AdvertisedRef>, int> advertised_refs(git_remote* remote);

/// What one job's fetch may do to the target's refs besides updating them.
struct SafetyNetPolicy {
  bool backups = true;                  ///< the daemon's `ref_backup` and the job's option
  std::vector<std::string> namespaces;  ///< remote ref prefixes that are backed up
  BackupRetention retention;
  /// Mirror: every local ref outside `refs/mgitd/` the remote no longer advertises goes.
  bool prune_all = false;
  /// Otherwise: the local refs in the mappings' destinations the remote no longer advertises.
  bool prune = false;
};

/// A libgit2 call that failed, for the caller to classify (libgit2's last error is unread).
struct GitStepFailure {
  int rc = -1;
  const char* action = "";
};

/// mgitd's side of a fetch: backups before refs move, its own prune, `forced` and
/// `backup_ref` in the result, retention. Used on the job's thread between
/// `git_remote_download` and after `git_remote_update_tips`; `repo` outlives it.
///
/// Order, so a worker killed at any point loses no old tip: `prepare` (after the download,
/// the new objects are local) writes every backup the update and the prune will need; only
/// then do refs move (`prune`, `git_remote_update_tips`, `finish`; the prune first, so a ref
/// renamed upstream from `a` to `a/b` can be written where `a` was). A job killed after `prepare`
/// leaves backups of refs that did not move yet; the next job finds the newest backup of
/// the ref already at the old tip and reuses it instead of writing another.
class RefSafetyNet {
 public:
  RefSafetyNet(git_repository* repo, SafetyNetPolicy policy, std::vector<RefMapping> mappings,
               std::chrono::system_clock::time_point now);

  /// Reads the local refs and backs up each one the update will move non-fast-forward or
  /// the prune will delete, when its remote name is in the backed-up namespaces.
  tl::expected<void, GitStepFailure> prepare(const std::vector<AdvertisedRef>& advertised);
  /// After `prepare`, before `git_remote_update_tips`: deletes the refs to prune (their
  /// backups are written).
  tl::expected<void, GitStepFailure> prune();
  /// After `git_remote_update_tips`: marks forced updates in `updates` (backing up one
  /// `prepare` could not foresee, e.g. a tag libgit2 followed) and appends the pruned refs
  /// (new = empty, forced).
  tl::expected<void, GitStepFailure> finish(std::vector<jobs::RefUpdate>& updates);
  /// Removes the backups retention no longer keeps, never one this job made or reused.
  tl::expected<void, GitStepFailure> expire();

 private:
  [[nodiscard]] std::string remote_name(const std::string& local) const;
  [[nodiscard]] bool backed_up(const std::string& local) const;
  [[nodiscard]] bool forced(const git_oid& old_oid, const git_oid& new_oid) const;
  tl::expected<std::string, GitStepFailure> backup(const std::string& local, const git_oid& old);
  [[nodiscard]] tl::expected<std::vector<BackupName>, GitStepFailure> list_backups(
      const std::string& glob) const;

  git_repository* repo_;
  SafetyNetPolicy policy_;
  std::vector<RefMapping> mappings_;
  std::chrono::system_clock::time_point now_;
  std::map<std::string, std::string> backups_;  ///< local ref → backup made or reused
  std::map<std::string, git_oid> to_prune_;     ///< local ref → its tip before the job
  std::vector<jobs::RefUpdate> pruned_;         ///< deleted by `prune`, for `finish`
};

}  // namespace mgit::git
