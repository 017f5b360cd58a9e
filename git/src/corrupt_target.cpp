#include "corrupt_target.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "libgit2_handles.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::JobError;

// Leaves room for the time and a counter in a 255-byte directory entry.
constexpr std::size_t kMaxNameBytes = 200;
constexpr int kMaxNameTries = 100;

bool exists_no_follow(const fs::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

}  // namespace

Layout layout_of_unreadable(const fs::path& path, Layout requested) {
  if (exists_no_follow(path / ".git")) return Layout::kWorkTree;
  if (!exists_no_follow(path / "HEAD") && !exists_no_follow(path / "objects") &&
      !exists_no_follow(path / "config")) {
    return requested;
  }
  const Layout unknown = requested == Layout::kMirror ? Layout::kMirror : Layout::kBare;
  git_config* raw_config = nullptr;
  if (git_config_open_ondisk(&raw_config, (path / "config").c_str()) != 0) return unknown;
  const ConfigPtr config(raw_config);
  int mirror = 0;
  const int rc = git_config_get_bool(&mirror, config.get(), "remote.origin.mirror");
  if (rc == GIT_ENOTFOUND) return Layout::kBare;
  if (rc != 0) return unknown;
  return mirror != 0 ? Layout::kMirror : Layout::kBare;
}

tl::expected<std::string, JobError> quarantine_target(const fs::path& workspace,
                                                      std::string_view target) {
  const fs::path relative_dir = fs::path(".mgitd") / "quarantine";
  std::error_code ec;
  fs::create_directories(workspace / relative_dir, ec);
  if (ec) {
    return tl::make_unexpected(JobError{
        ErrorCode::kInternal, fmt::format("cannot create .mgitd/quarantine: {}", ec.message())});
  }
  std::string base(target.substr(0, kMaxNameBytes));
  for (char& c : base) {
    if (c == '/') c = '+';
  }
  base += fmt::format("-{}", std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  const fs::path from = workspace / target;
  for (int attempt = 1; attempt <= kMaxNameTries; ++attempt) {
    const fs::path name =
        attempt == 1 ? fs::path(base) : fs::path(fmt::format("{}-{}", base, attempt));
    const fs::path to = workspace / relative_dir / name;
    // Never onto an existing entry: rename(2) would replace an empty directory silently.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return (relative_dir / name).string();
    }
    if (errno != EEXIST) {
      return tl::make_unexpected(JobError{
          ErrorCode::kInternal,
          fmt::format("cannot move corrupt target '{}' aside: {}", target, std::strerror(errno))});
    }
  }
  return tl::make_unexpected(JobError{
      ErrorCode::kInternal,
      fmt::format("cannot move corrupt target '{}' aside: no free name in .mgitd/quarantine",
                  target)});
}

}  // namespace mgit::git
