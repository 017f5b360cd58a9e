#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "existing_target.hpp"
#include "mgit/jobs/error.hpp"

namespace mgit::git {

/// The layout a target libgit2 cannot open was most likely created with, so its re-clone
/// keeps it: a `.git` entry means a work tree; a git dir at the target (`HEAD`, `objects/`
/// or `config`) is a mirror when its config still says so, bare when it says otherwise, and
/// whichever of the two the job asks for when the config cannot be read. Anything else:
/// `requested`.
Layout layout_of_unreadable(const std::filesystem::path& path, Layout requested);

/// Moves a corrupt target's directory aside, out of every job's way but kept for inspection:
/// to `<workspace>/.mgitd/quarantine/<target with '/' as '+'>-<unix-seconds>` (with `-2`,
/// `-3`, … when taken; the name is shortened to fit a directory entry). Returns that path
/// relative to the workspace. `internal` when it cannot be moved (e.g. the target is a mount
/// point or on another file system than the workspace).
tl::expected<std::string, jobs::JobError> quarantine_target(const std::filesystem::path& workspace,
                                                            std::string_view target);

}  // namespace mgit::git
