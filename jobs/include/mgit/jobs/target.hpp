#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/jobs/error.hpp"

namespace mgit::jobs {

/// Checks a job's `target` (or the default derived from the key) as a workspace-relative
/// path: no absolute path, no `..`, no empty or `.` segments, no control characters.
/// Symlinked parents are checked at execution time, on the filesystem.
tl::expected<std::string, JobError> validate_target(std::string_view target);

/// Default target for a repository key: host + path, e.g. `git.example.com/org/app`.
std::string default_target(std::string_view repository_key);

}  // namespace mgit::jobs
