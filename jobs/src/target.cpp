// Targets: validation of a job's workspace-relative path and the default derived from a key.
#include "mgit/jobs/target.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mgit/basics/ascii.hpp"
#include "mgit/jobs/error.hpp"
#include "path_segments.hpp"

namespace mgit::jobs {
namespace {

constexpr std::size_t kMaxTargetBytes = 1024;
constexpr std::size_t kMaxTargetSegmentBytes = 255;  // NAME_MAX on Linux filesystems
constexpr std::string_view kNoPath = {};

tl::unexpected<JobError> invalid_target(std::string_view why) {
  return tl::unexpected(JobError{ErrorCode::kInvalidJob, "target: " + std::string(why)});
}

}  // namespace

tl::expected<std::string, JobError> validate_target(std::string_view target) {
  if (target.empty()) return invalid_target("must not be empty");
  if (target.size() > kMaxTargetBytes) return invalid_target("longer than 1024 bytes");
  for (char c : target) {
    if (basics::is_ascii_control(c)) {
      return invalid_target("must not contain control characters");
    }
  }
  if (target.front() == '/') return invalid_target("must be relative to the workspace");
  for (const std::string_view segment : split_segments(target)) {
    if (const auto why = refused_segment(segment)) {
      return invalid_target("must not contain " + std::string(*why));
    }
    // A target inside (or named as) a repository's git dir would let a job write hooks and
    // config that git later executes; case-insensitive filesystems make `.GIT` the same.
    if (basics::to_lower(segment) == ".git")
      return invalid_target("'.git' segments are not allowed");
    if (segment.size() > kMaxTargetSegmentBytes) {
      return invalid_target("path segment longer than 255 bytes");
    }
  }
  return std::string(target);
}

std::string default_target(std::string_view repository_key) {
  auto rest = repository_key;
  if (const auto separator = rest.find("://"); separator != std::string_view::npos) {
    rest = rest.substr(separator + 3);
  }
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? kNoPath : rest.substr(slash);
  // ':' (port, IPv6) and brackets make awkward directory names: `[::1]:8443` -> `__1_8443`.
  std::string out;
  for (char c : authority) {
    if (c == '[' || c == ']') continue;
    out += c == ':' ? '_' : c;
  }
  out += path;
  return out;
}

}  // namespace mgit::jobs
