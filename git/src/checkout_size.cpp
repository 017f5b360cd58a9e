#include "checkout_size.hpp"

#include <sys/statvfs.h>

#include "libgit2_handles.hpp"

namespace mgit::git {
namespace {

bool is_file_mode(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
         mode == GIT_FILEMODE_LINK;
}

/// Adds the size of blob `id` to `sum`; returns libgit2's code.
int add_blob_size(git_odb* odb, const git_oid* id, std::uint64_t& sum) {
  size_t length = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  const int rc = git_odb_read_header(&length, &type, odb, id);
  if (rc == 0) sum += length;
  return rc;
}

struct TreeWalk {
  git_odb* odb = nullptr;
  std::uint64_t stop_above = 0;
  std::uint64_t sum = 0;
  int error = 0;
  bool over = false;
};

int on_tree_entry(const char* /*root*/, const git_tree_entry* entry, void* payload) {
  auto& walk = *static_cast<TreeWalk*>(payload);
  if (!is_file_mode(git_tree_entry_filemode(entry))) return 0;
  walk.error = add_blob_size(walk.odb, git_tree_entry_id(entry), walk.sum);
  if (walk.error < 0) return -1;
  if (walk.sum > walk.stop_above) {
    walk.over = true;
    return -1;  // stops the walk: the answer is known
  }
  return 0;
}

}  // namespace

tl::expected<CheckoutBytes, int> checkout_bytes(git_repository* repo, git_tree* from, git_tree* to,
                                                std::optional<std::uint64_t> tree_limit,
                                                std::uint64_t written_limit) {
  CheckoutBytes bytes;
  git_odb* raw_odb = nullptr;
  if (const int rc = git_repository_odb(&raw_odb, repo); rc < 0) return tl::make_unexpected(rc);
  const OdbPtr odb(raw_odb);

  if (tree_limit) {
    TreeWalk walk{odb.get(), *tree_limit, 0, 0, false};
    const int rc = git_tree_walk(to, GIT_TREEWALK_PRE, &on_tree_entry, &walk);
    if (walk.error < 0) return tl::make_unexpected(walk.error);
    if (rc < 0 && !walk.over) return tl::make_unexpected(rc);
    bytes.tree = walk.sum;
  }

  // A diff of the trees skips identical subtrees, so a small update of a large work tree
  // costs little.
  git_diff* raw_diff = nullptr;
  if (const int rc = git_diff_tree_to_tree(&raw_diff, repo, from, to, nullptr); rc < 0) {
    return tl::make_unexpected(rc);
  }
  const DiffPtr diff(raw_diff);
  const std::size_t deltas = git_diff_num_deltas(diff.get());
  for (std::size_t i = 0; i < deltas && bytes.written <= written_limit; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    if (delta->status != GIT_DELTA_ADDED && delta->status != GIT_DELTA_MODIFIED &&
        delta->status != GIT_DELTA_TYPECHANGE) {
      continue;
    }
    if (!is_file_mode(static_cast<git_filemode_t>(delta->new_file.mode))) continue;
    if (const int rc = add_blob_size(odb.get(), &delta->new_file.id, bytes.written); rc < 0) {
      return tl::make_unexpected(rc);
    }
  }
  return bytes;
}

std::optional<std::uint64_t> free_bytes(const std::filesystem::path& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

}  // namespace mgit::git
