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

  [[nodiscard]] const ServedJob* find(std::string_view job_id) const;
  /// Appends (replacing an earlier entry with the same id) and drops the oldest beyond the cap.
  void add(ServedJob job);
};

/// Holds a target's cross-process lock (`flock` on its lock file) until destroyed: closing
/// the descriptor releases the lock. Move-only.
class TargetLock {
 public:
  TargetLock() = default;
  explicit TargetLock(basics::FileDescriptor fd) : fd_(std::move(fd)) {}

 private:
  basics::FileDescriptor fd_;
};

/// Per-target metadata under `<workspace>/.mgitd/targets/<sha256(target)>.{json,lock}`.
/// Stateless apart from the paths: thread-safe; callers serialize access to one target with
/// `lock`.
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

  /// Replaces the record atomically (temp file, fsync, rename, fsync of the directory).
  [[nodiscard]] tl::expected<void, jobs::JobError> save(const TargetRecord& record) const;

  /// Blocks until the target's lock is held, polling so that `control` can end the wait:
  /// `timeout` when the deadline passes, `internal` when cancelled.
  [[nodiscard]] tl::expected<TargetLock, jobs::JobError> lock(
      std::string_view target, const execution::ExecutionControl& control) const;

  /// The directory holding records and lock files.
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }

 private:
  [[nodiscard]] std::filesystem::path file_stem(std::string_view target) const;

  std::filesystem::path directory_;
};

}  // namespace mgit::git
