#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/execution/executor.hpp"
#include "mgit/jobs/error.hpp"

namespace mgit::git {

/// The outcome of one job a target served; `error` unset means it succeeded.
struct ServedJob {
  std::string job_id;
  /// The repository the job named: a job id alone is chosen by whoever writes the job, so a
  /// replay needs both to match. Empty in entries written before it was recorded.
  std::string repository_key;
  std::optional<jobs::JobError> error;
  std::string head_ref;
  std::string head_oid;
};

/// What mgitd remembers about one target, kept next to the workspace so every replica
/// sharing the volume sees it.
struct TargetRecord {
  std::string target;
  std::string repository_key;     ///< the repository that first created the target
  std::vector<ServedJob> served;  ///< oldest first, at most `TargetStore::kMaxServed`

  /// The entry a redelivery of job `job_id` for `repository_key` gets back: same id and same
  /// repository. An older entry without a repository key counts only if it succeeded (only
  /// the bound repository ever succeeds on a target); its failure could be a foreign job's.
  [[nodiscard]] const ServedJob* find(std::string_view job_id,
                                      std::string_view repository_key) const;
  /// Appends (replacing an earlier entry with the same id and repository) and drops the
  /// oldest beyond the cap.
  void add(ServedJob job);
};

/// Holds a target's cross-process lock (`flock` on its lock file) until destroyed: closing
/// the descriptor releases the lock. Move-only. Default-constructed: holds nothing.
class TargetLock {
 public:
  TargetLock() = default;
  explicit TargetLock(basics::FileDescriptor fd) : fd_(std::move(fd)) {}

 private:
  basics::FileDescriptor fd_;
};

/// Per-target metadata under `<workspace>/.mgitd/targets/<sha256(target)>.{json,lock,creating}`.
/// Stateless apart from the paths: thread-safe; callers serialize access to one target with
/// `lock` and hold it for every other call about that target.
class TargetStore {
 public:
  static constexpr std::size_t kMaxServed = 256;

  explicit TargetStore(const std::filesystem::path& workspace);

  /// Nothing when the target has no record yet. A corrupt record (not JSON, wrong schema or
  /// fields) is renamed to `<file>.corrupt-<unix-seconds>`, logged, and answered with an
  /// empty record (no repository key, nothing served) so the target is not stuck; only I/O
  /// failures are errors. Messages name files relative to the workspace.
  [[nodiscard]] tl::expected<std::optional<TargetRecord>, jobs::JobError> load(
      std::string_view target) const;

  /// How much a `save` must survive (docs/git-executor.md, "What is durable").
  enum class Durability {
    /// The temp file and its directory are fsync'd around the rename: the record survives
    /// a crash of the machine. For a new binding and a clone's entry.
    kCrashSafe,
    /// Temp file swapped in, no fsync: the record survives a crash of the process (the page
    /// cache keeps it), and a crash of the machine may lose it; losing it costs at most a
    /// redelivery that runs again.
    kProcessSafe,
  };

  /// Replaces the record atomically (a temp file renamed or exchanged into place; fsync'd as
  /// `durability` asks).
  [[nodiscard]] tl::expected<void, jobs::JobError> save(
      const TargetRecord& record, Durability durability = Durability::kCrashSafe) const;

  /// Blocks until the target's lock is held, polling so that `control` can end the wait:
  /// `timeout` when the deadline passes, `internal` when cancelled. A lock file may be
  /// removed (`forget`) while others wait on it, so a lock is only returned once the locked
  /// file is still the one at the path; otherwise it is taken again on the current file.
  [[nodiscard]] tl::expected<TargetLock, jobs::JobError> lock(
      std::string_view target, const execution::ExecutionControl& control) const;

  /// Removes the target's record, creation marker and lock file (in that order): for a
  /// target that does not exist and is bound to nothing, none of them is worth keeping.
  /// `held` is the caller's lock on this target; release it right after.
  [[nodiscard]] tl::expected<void, jobs::JobError> forget(std::string_view target,
                                                          const TargetLock& held) const;

  /// Marks the target as being created, before anything is written into it: `<…>.creating`
  /// holds how many of the target's trailing path components the creation made (written
  /// and fsync'd atomically). A marker still there later means the creation was killed
  /// half-way and what it left must be removed before the target is used.
  [[nodiscard]] tl::expected<void, jobs::JobError> mark_creating(std::string_view target,
                                                                 std::size_t created) const;
  /// The count `mark_creating` wrote; nothing when the target is not marked. An unreadable
  /// count reads as 0 (the safe answer: nothing above the target is removed).
  [[nodiscard]] tl::expected<std::optional<std::size_t>, jobs::JobError> creating(
      std::string_view target) const;
  /// Removes the marker, durably (the directory is fsync'd).
  [[nodiscard]] tl::expected<void, jobs::JobError> clear_creating(std::string_view target) const;

  /// The directory holding records and lock files.
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }

 private:
  [[nodiscard]] std::filesystem::path file_stem(std::string_view target) const;

  std::filesystem::path directory_;
};

}  // namespace mgit::git
