#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "mgit/jobs/error.hpp"

namespace mgit::git {

/// Re-checks `target` as a workspace-relative path (the parser did too; this is the last line
/// before the filesystem): relative, no empty/`.`/`..`/`.git` segment, no control character,
/// not under mgitd's own `.mgitd/` → `invalid_job`.
tl::expected<void, jobs::JobError> check_target_name(std::string_view target);

/// Whether `<workspace>/<target>` exists as a non-empty directory (an empty one counts as
/// absent: a clone may fill it). Refuses a target any of whose existing components is a
/// symlink (`invalid_job`: it could lead out of the workspace), a non-directory
/// (`conflict`), or, above the target, a git repository (`conflict`).
tl::expected<bool, jobs::JobError> target_exists(const std::filesystem::path& workspace,
                                                 std::string_view target);

/// `disk_full` when the workspace's free space is below `min_percent`.
tl::expected<void, jobs::JobError> check_free_disk(const std::filesystem::path& workspace,
                                                   int min_percent);

/// Creates the missing directories of a target below the workspace (mode 0750) and, unless
/// `keep()` is called, undoes that when destroyed: the target directory is removed
/// recursively, its created parents only while empty, and a target that existed empty is
/// emptied again. Single-threaded; one per creation attempt.
class CreatedDirectories {
 public:
  CreatedDirectories() = default;
  CreatedDirectories(const CreatedDirectories&) = delete;
  CreatedDirectories& operator=(const CreatedDirectories&) = delete;
  ~CreatedDirectories() { undo(); }

  tl::expected<void, jobs::JobError> create(const std::filesystem::path& workspace,
                                            std::string_view target);
  /// Takes over what an earlier, interrupted creation made: the last `created` components of
  /// the target's path (0: the target existed, empty). The caller has checked the path has
  /// no symlinked component.
  void adopt(const std::filesystem::path& workspace, std::string_view target, std::size_t created);
  /// How many of the target's trailing path components `create` made (the target included).
  [[nodiscard]] std::size_t created() const { return created_.size(); }
  /// The creation succeeded: leave everything in place.
  void keep();
  /// Undoes the creation now; whether nothing of it is left (a parent another target still
  /// uses staying is fine). Afterwards the object holds nothing.
  bool undo();

 private:
  std::vector<std::filesystem::path> created_;
  std::filesystem::path leaf_;
  std::filesystem::path clear_contents_of_;
};

}  // namespace mgit::git
