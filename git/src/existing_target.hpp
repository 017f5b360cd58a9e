#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "libgit2_handles.hpp"
#include "mgit/jobs/error.hpp"

namespace mgit::git {

/// Opens an existing target and checks it is laid out as mgitd lays targets out: git dir
/// `<target>/.git/` with work tree `<target>/`, or bare at `<target>/`, not a linked
/// worktree. Anything else (`core.worktree`, a `gitdir:` file, a repository planted by
/// another target's content) could point a forced checkout outside the target → `conflict`.
tl::expected<RepositoryPtr, jobs::JobError> open_target(const std::filesystem::path& path,
                                                        std::string_view target);

/// The repository key an existing target was cloned from, read from `remote.origin.url`;
/// `conflict` when there is none to adopt.
tl::expected<std::string, jobs::JobError> origin_key(git_repository* repo, std::string_view target);

/// Whether a bare repository was created as a mirror (`remote.origin.mirror=true`).
bool is_mirror(git_repository* repo);

}  // namespace mgit::git
