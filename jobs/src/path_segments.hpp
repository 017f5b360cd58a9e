#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace mgit::jobs {

// Repository paths and targets are both '/'-separated paths that end up in a key or on disk,
// where an empty, `.` or `..` segment would name another place: one rule serves both.

/// `path` split at every '/', empty segments included: `a//b/` gives "a", "", "b", "".
std::vector<std::string_view> split_segments(std::string_view path);

/// What makes `segment` unacceptable in any path a job gives, worded to follow "must not
/// contain": `empty segments` or `'.' or '..' segments`; nullopt when it is acceptable.
std::optional<std::string_view> refused_segment(std::string_view segment);

}  // namespace mgit::jobs
