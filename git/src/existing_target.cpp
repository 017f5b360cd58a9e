#include "existing_target.hpp"

#include <fmt/format.h>

#include <system_error>

#include "mgit/jobs/repository_key.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::JobError;

}  // namespace

tl::expected<RepositoryPtr, JobError> open_target(const fs::path& path, std::string_view target) {
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    return tl::make_unexpected(
        JobError{ErrorCode::kConflict,
                 fmt::format("target '{}' exists but is not a git repository", target)});
  }
  RepositoryPtr repo(raw_repo);
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  const std::string dir = real.string() + "/";
  const bool bare = git_repository_is_bare(repo.get()) == 1;
  const char* workdir = git_repository_workdir(repo.get());
  const char* gitdir = git_repository_path(repo.get());
  const char* commondir = git_repository_commondir(repo.get());
  const bool workdir_ok = bare ? workdir == nullptr : workdir != nullptr && workdir == dir;
  const bool gitdir_ok = gitdir != nullptr && gitdir == (bare ? dir : dir + ".git/") &&
                         commondir != nullptr && std::string_view(commondir) == gitdir;
  if (ec || !workdir_ok || !gitdir_ok) {
    return tl::make_unexpected(
        JobError{ErrorCode::kConflict,
                 fmt::format("target '{}' is not a repository mgitd created", target)});
  }
  return repo;
}

// The config is read directly: `git_remote_lookup` leaks in libgit2 1.5 (see
// repository_sync.cpp).
tl::expected<std::string, JobError> origin_key(git_repository* repo, std::string_view target) {
  const auto unknown = [&] {
    return tl::make_unexpected(
        JobError{ErrorCode::kConflict,
                 fmt::format("target '{}' has no record and no usable origin to adopt", target)});
  };
  git_config* raw_config = nullptr;
  if (git_repository_config_snapshot(&raw_config, repo) != 0) return unknown();
  ConfigPtr config(raw_config);
  Buffer url;
  if (git_config_get_string_buf(&url.buf, config.get(), "remote.origin.url") != 0) {
    return unknown();
  }
  auto key = jobs::normalize_repository_url(url.str());
  if (!key) return unknown();
  return *key;
}

bool is_mirror(git_repository* repo) {
  git_config* raw_config = nullptr;
  int mirror = 0;
  if (git_repository_config_snapshot(&raw_config, repo) == 0) {
    ConfigPtr config(raw_config);
    if (git_config_get_bool(&mirror, config.get(), "remote.origin.mirror") != 0) mirror = 0;
  }
  return mirror != 0;
}

}  // namespace mgit::git
