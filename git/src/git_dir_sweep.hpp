#pragma once

#include <cstddef>
#include <filesystem>

namespace mgit::git {

/// What `sweep_git_dir` removed.
struct SweptFiles {
  std::size_t locks = 0;        ///< `*.lock` files
  std::size_t temporaries = 0;  ///< libgit2's temporary files and orphaned pack indexes
};

/// Removes what a process killed inside libgit2 1.5 leaves in a git dir: `*.lock` files in the
/// git dir's root (`index.lock`, `HEAD.lock`, `config.lock`, `packed-refs.lock`, …), under
/// `refs/` and `logs/` (reflogs are appended under a lock), and in `objects/pack/`; libgit2's
/// temporaries `objects/tmp_object_git2_*` (a loose object being written) and
/// `objects/pack/pack_git2_*` (a pack being received, and its index's lock); and a
/// `objects/pack/pack-*.idx` whose `.pack` is missing (killed between the indexer renaming
/// the index and the pack into place). Walks are bounded and never follow symlinks.
/// Only while holding the target's flock: then no other mgitd is inside the repository, the
/// files are left by a process killed mid-write, and a lock file would make libgit2 refuse
/// the target (`GIT_ELOCKED`) forever.
SweptFiles sweep_git_dir(const std::filesystem::path& git_dir);

}  // namespace mgit::git
