#include "existing_target.hpp"

#include <fmt/format.h>

#include <string>
#include <system_error>
#include <unordered_set>

#include "mgit/jobs/repository_key.hpp"

namespace mgit::git {
namespace {

namespace fs = std::filesystem;
using jobs::ErrorCode;
using jobs::JobError;

// Bounds the walk through `refs/` for unreadable loose refs, like the lock file sweep's.
constexpr std::size_t kMaxLooseRefScan = 100000;

/// libgit2's repository at exactly `path`; nothing when it cannot open one there.
RepositoryPtr open_repository(const fs::path& path) {
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    return nullptr;
  }
  return RepositoryPtr(raw_repo);
}

/// libgit2's last error message, for log lines.
std::string last_error_text() {
  const git_error* error = git_error_last();
  return error != nullptr && error->message != nullptr ? error->message : "unknown error";
}

/// `conflict` unless `repo` is laid out as mgitd creates targets (see `open_target`).
tl::expected<void, JobError> check_layout(git_repository* repo, const fs::path& path,
                                          std::string_view target) {
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  const std::string dir = real.string() + "/";
  const bool bare = git_repository_is_bare(repo) == 1;
  const char* workdir = git_repository_workdir(repo);
  const char* gitdir = git_repository_path(repo);
  const char* commondir = git_repository_commondir(repo);
  const bool workdir_ok = bare ? workdir == nullptr : workdir != nullptr && workdir == dir;
  const bool gitdir_ok = gitdir != nullptr && gitdir == (bare ? dir : dir + ".git/") &&
                         commondir != nullptr && std::string_view(commondir) == gitdir;
  if (ec || !workdir_ok || !gitdir_ok) {
    return tl::make_unexpected(
        JobError{ErrorCode::kConflict,
                 fmt::format("target '{}' is not a repository mgitd created", target)});
  }
  return {};
}

/// A loose ref file under `refs/` that libgit2 cannot parse: its iterator skips those
/// silently (so they are not in `listed`), but a fetch or checkout touching the ref fails.
/// Empty when there is none. Names git would not accept as refs (an editor's backup file)
/// are not refs and are ignored.
std::string find_unreadable_loose_ref(git_repository* repo,
                                      const std::unordered_set<std::string>& listed) {
  const fs::path git_dir = git_repository_path(repo);
  std::error_code ec;
  std::size_t visited = 0;
  for (auto it = fs::recursive_directory_iterator(git_dir / "refs", ec);
       !ec && it != fs::recursive_directory_iterator() && ++visited <= kMaxLooseRefScan;
       it.increment(ec)) {
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != fs::file_type::regular) continue;
    const std::string name = it->path().lexically_relative(git_dir).generic_string();
    if (listed.contains(name)) continue;
    int valid = 0;
    if (git_reference_name_is_valid(&valid, name.c_str()) != 0 || valid == 0) continue;
    git_reference* raw_ref = nullptr;
    const int rc = git_reference_lookup(&raw_ref, repo, name.c_str());
    const ReferencePtr ref(raw_ref);
    if (rc != 0 && rc != GIT_ENOTFOUND) return name + " cannot be read: " + last_error_text();
  }
  return {};
}

/// Why the refs of `repo` cannot be trusted: HEAD or a ref that cannot be read, or a ref
/// naming an object that is not in the object database. Empty when every ref resolves.
std::string find_corruption(git_repository* repo) {
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, repo) != 0) {
    return "its object database cannot be opened: " + last_error_text();
  }
  const OdbPtr odb(raw_odb);
  const auto missing = [&](const git_reference* ref) -> std::string {
    if (git_reference_type(ref) != GIT_REFERENCE_DIRECT) return {};
    const git_oid* oid = git_reference_target(ref);
    // Also false for an object in a pack that is truncated or does not match its index:
    // libgit2 opens the pack and checks it against the index when it finds the object.
    if (oid != nullptr && git_odb_exists(odb.get(), oid) == 1) return {};
    return fmt::format("{} names {}, which is not in the object database", git_reference_name(ref),
                       oid_hex(oid));
  };

  git_reference* raw_head = nullptr;
  if (const int rc = git_reference_lookup(&raw_head, repo, "HEAD"); rc != 0) {
    return "HEAD cannot be read: " + last_error_text();
  }
  const ReferencePtr head(raw_head);
  if (std::string problem = missing(head.get()); !problem.empty()) return problem;

  git_reference_iterator* raw_iterator = nullptr;
  if (git_reference_iterator_new(&raw_iterator, repo) != 0) {
    return "its refs cannot be read: " + last_error_text();
  }
  const ReferenceIteratorPtr iterator(raw_iterator);
  std::unordered_set<std::string> listed;
  while (true) {
    git_reference* raw_ref = nullptr;
    const int rc = git_reference_next(&raw_ref, iterator.get());
    if (rc == GIT_ITEROVER) break;
    if (rc != 0) return "its refs cannot be read: " + last_error_text();
    const ReferencePtr ref(raw_ref);
    if (std::string problem = missing(ref.get()); !problem.empty()) return problem;
    listed.emplace(git_reference_name(ref.get()));
  }
  return find_unreadable_loose_ref(repo, listed);
}

}  // namespace

tl::expected<RepositoryPtr, JobError> open_target(const fs::path& path, std::string_view target) {
  RepositoryPtr repo = open_repository(path);
  if (!repo) {
    return tl::make_unexpected(
        JobError{ErrorCode::kConflict,
                 fmt::format("target '{}' exists but is not a git repository", target)});
  }
  if (auto ok = check_layout(repo.get(), path, target); !ok) return tl::make_unexpected(ok.error());
  return repo;
}

tl::expected<InspectedTarget, JobError> inspect_target(const fs::path& path,
                                                       std::string_view target) {
  InspectedTarget inspected;
  inspected.repo = open_repository(path);
  if (!inspected.repo) {
    inspected.corruption = "libgit2 cannot open it: " + last_error_text();
    return inspected;
  }
  if (auto ok = check_layout(inspected.repo.get(), path, target); !ok) {
    return tl::make_unexpected(ok.error());
  }
  inspected.corruption = find_corruption(inspected.repo.get());
  return inspected;
}

Layout layout_of(git_repository* repo) {
  if (git_repository_is_bare(repo) != 1) return Layout::kWorkTree;
  return is_mirror(repo) ? Layout::kMirror : Layout::kBare;
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
