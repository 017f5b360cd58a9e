#include "target_directory.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <system_error>

#include "mgit/basics/ascii.hpp"
#include "mgit/observability/log.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::JobError;

constexpr std::string_view kStateDir = ".mgitd";

/// Whether `dir` is a git repository: a work tree (`.git` of any kind) or a bare one.
bool is_repository_dir(const fs::path& dir) {
  struct stat info {};
  if (::lstat((dir / ".git").c_str(), &info) == 0) return true;
  return ::lstat((dir / "HEAD").c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::lstat((dir / "objects").c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

tl::expected<void, JobError> check_target_name(std::string_view target) {
  const auto invalid = [&](std::string_view why) {
    return tl::make_unexpected(
        JobError{ErrorCode::kInvalidJob, fmt::format("target is not valid: {}", why)});
  };
  if (target.empty()) return invalid("empty");
  if (target.front() == '/') return invalid("absolute path");
  std::size_t begin = 0;
  bool first = true;
  while (begin <= target.size()) {
    const std::size_t end = std::min(target.find('/', begin), target.size());
    const std::string_view segment = target.substr(begin, end - begin);
    if (segment.empty() || segment == "." || segment == "..") {
      return invalid("empty, '.' or '..' segment");
    }
    if (first && segment == kStateDir) return invalid("reserved for mgitd's own state");
    // A `.git` segment would address another target's repository internals directly.
    if (basics::to_lower(segment) == ".git") return invalid("'.git' segment");
    first = false;
    begin = end + 1;
  }
  for (const char c : target) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return invalid("control character");
  }
  return {};
}

// A target inside another repository would be made of files that repository's remote
// controls (a planted `HEAD`/`config` with `core.worktree` turns it into a repository
// checking out anywhere).
tl::expected<bool, JobError> target_exists(const fs::path& workspace, std::string_view target) {
  fs::path current = workspace;
  const fs::path relative(target);
  fs::path ancestor;
  auto remaining = static_cast<std::size_t>(std::distance(relative.begin(), relative.end()));
  for (const auto& part : relative) {
    current /= part;
    ancestor /= part;
    --remaining;
    struct stat info {};
    if (::lstat(current.c_str(), &info) != 0) {
      if (errno == ENOENT) return false;
      return tl::make_unexpected(
          JobError{ErrorCode::kInternal,
                   fmt::format("cannot inspect target '{}': {}", target, std::strerror(errno))});
    }
    if (S_ISLNK(info.st_mode)) {
      return tl::make_unexpected(JobError{
          ErrorCode::kInvalidJob, fmt::format("target '{}' has a symlinked component", target)});
    }
    if (!S_ISDIR(info.st_mode)) {
      return tl::make_unexpected(JobError{
          ErrorCode::kConflict, fmt::format("target '{}' exists and is not a directory", target)});
    }
    if (remaining == 0) {
      std::error_code ec;
      // An empty directory counts as absent: a clone may fill it.
      return !fs::is_empty(current, ec) || ec;
    }
    if (is_repository_dir(current)) {
      return tl::make_unexpected(JobError{
          ErrorCode::kConflict,
          fmt::format("target '{}' is inside another repository '{}'", target, ancestor.string())});
    }
  }
  return false;
}

tl::expected<void, JobError> check_free_disk(const fs::path& workspace, int min_percent) {
  struct statvfs info {};
  if (::statvfs(workspace.c_str(), &info) != 0 || info.f_blocks == 0) {
    return tl::make_unexpected(
        JobError{ErrorCode::kInternal, "cannot read the workspace's free disk space"});
  }
  const double free_percent =
      100.0 * static_cast<double>(info.f_bavail) / static_cast<double>(info.f_blocks);
  if (free_percent < static_cast<double>(min_percent)) {
    return tl::make_unexpected(
        JobError{ErrorCode::kDiskFull,
                 fmt::format("workspace has {:.1f}% free disk, below min_free_disk_percent {}",
                             free_percent, min_percent)});
  }
  return {};
}

bool CreatedDirectories::undo() {
  bool clean = true;
  std::error_code ec;
  // Deepest first, so a parent is empty by the time it comes up.
  std::for_each(created_.rbegin(), created_.rend(), [&](const fs::path& dir) {
    if (dir == leaf_) {
      fs::remove_all(dir, ec);
      if (ec) {
        clean = false;
        observability::log(observability::LogLevel::kWarn, "cannot remove a failed target",
                           {{"path", dir.string()}, {"error", ec.message()}});
      }
      return;
    }
    // Only while empty: a parent is shared with targets other jobs may be creating now
    // under their own locks. A parent that is not empty stays, which is harmless.
    fs::remove(dir, ec);
  });
  if (!clear_contents_of_.empty()) {
    // Never throws: this runs in a destructor.
    for (auto it = fs::directory_iterator(clear_contents_of_, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code remove_ec;
      fs::remove_all(it->path(), remove_ec);
      if (remove_ec) clean = false;
    }
    if (ec && ec != std::errc::no_such_file_or_directory) clean = false;
  }
  keep();
  return clean;
}

void CreatedDirectories::adopt(const fs::path& workspace, std::string_view target,
                               std::size_t created) {
  undo();
  std::vector<fs::path> prefixes;
  fs::path current = workspace;
  for (const auto& part : fs::path(target)) prefixes.push_back(current /= part);
  leaf_ = current;
  created = std::min(created, prefixes.size());
  created_.assign(prefixes.end() - static_cast<std::ptrdiff_t>(created), prefixes.end());
  if (created == 0) clear_contents_of_ = leaf_;
}

tl::expected<void, JobError> CreatedDirectories::create(const fs::path& workspace,
                                                        std::string_view target) {
  fs::path current = workspace;
  for (const auto& part : fs::path(target)) {
    current /= part;
    if (::mkdir(current.c_str(), 0750) == 0) {
      created_.push_back(current);
      continue;
    }
    const int err = errno;
    if (err == ENOSPC || err == EDQUOT) {
      return tl::make_unexpected(
          JobError{ErrorCode::kDiskFull,
                   fmt::format("cannot create target '{}': {}", target, std::strerror(err))});
    }
    struct stat info {};
    if (err != EEXIST || ::lstat(current.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return tl::make_unexpected(JobError{
          ErrorCode::kInvalidJob,
          fmt::format("cannot create target '{}': a component is not a plain directory", target)});
    }
  }
  leaf_ = current;
  // Created nothing but the leaf existed empty: on failure put it back to empty.
  if (created_.empty() || created_.back() != current) clear_contents_of_ = current;
  return {};
}

void CreatedDirectories::keep() {
  created_.clear();
  clear_contents_of_.clear();
}

}  // namespace mgit::git
