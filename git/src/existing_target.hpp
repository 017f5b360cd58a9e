#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "libgit2_handles.hpp"
#include "mgit/jobs/error.hpp"

namespace mgit::git {

/// How a target's repository is laid out; each has its own refspec (docs/git-executor.md).
enum class Layout { kWorkTree, kBare, kMirror };

/// Opens an existing target and checks it is laid out as mgitd lays targets out: git dir
/// `<target>/.git/` with work tree `<target>/`, or bare at `<target>/`, not a linked
/// worktree. Anything else (`core.worktree`, a `gitdir:` file, a repository planted by
/// another target's content) could point a forced checkout outside the target → `conflict`.
tl::expected<RepositoryPtr, jobs::JobError> open_target(const std::filesystem::path& path,
                                                        std::string_view target);

/// An existing target opened for an update, or what makes it corrupt.
struct InspectedTarget {
  RepositoryPtr repo;      ///< null when libgit2 cannot open it
  std::string corruption;  ///< why the target cannot be updated as it is; empty when sound
};

/// Like `open_target`, for a target bound to the job's repository, telling a corrupt target
/// apart: libgit2 cannot open it, HEAD or a ref cannot be read, or a ref names an object the
/// object database does not have (a removed or truncated pack, a stray ref file). A layout
/// mgitd did not create stays `conflict`. Each ref costs one object lookup in a pack index.
tl::expected<InspectedTarget, jobs::JobError> inspect_target(const std::filesystem::path& path,
                                                             std::string_view target);

/// The layout of an opened target: a bare repository with `remote.origin.mirror=true` is a
/// mirror.
Layout layout_of(git_repository* repo);

/// The repository key an existing target was cloned from, read from `remote.origin.url`;
/// `conflict` when there is none to adopt.
tl::expected<std::string, jobs::JobError> origin_key(git_repository* repo, std::string_view target);

/// Whether a bare repository was created as a mirror (`remote.origin.mirror=true`).
bool is_mirror(git_repository* repo);

}  // namespace mgit::git
